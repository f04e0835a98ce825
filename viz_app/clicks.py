"""The callbacks of the pages' widgets that answer a click, and the session-state keys they set.

A page script runs afresh on every rerun, so a function defined in it holds that run's globals: the sentence's trace,
its figures and arrays. Streamlit keeps a clickable chart's widget metadata, callback included, after the chart has
changed (the chart's id follows its figure), so a callback defined in a page would keep every earlier sentence's trace
alive for as long as the session lasts (issue 13; tests/test_app_memory.py). The callbacks live here instead, where
they hold only this module. ui.selectable_chart refuses a callback defined in a page script.
"""

from __future__ import annotations

import streamlit as st

from model.nn.names import HeadRef
from viz_app import ui

# The Attention page: its choices (links.LINKED carries them in the URL), its clickable grid and its sections
LAYER_KEY, HEAD_KEY, QUERY_KEY, KEY_KEY = "att_layer", "att_head", "att_query", "att_key"
OVERVIEW_CHART = "att_layers"
LAYER_VIEW, OVERVIEW, STAGE_VIEW = "att_layer_view", "att_overview", "att_stage_view"
# The head lab: the head looked at, and its importance heatmaps (one per attention kind)
INSPECT_KEY = "lab_inspect"
IMPORTANCE_KEY = "lab_importance_{kind}"


def rerun(fragments: tuple[str, ...]) -> None:
    """Widget callback: rerun only the sections (st.fragment keys) that depend on the widget, never the whole page."""
    st.rerun(list(fragments))


def head_clicked() -> None:
    """The Attention page's layers x heads grid was clicked: its point's customdata is [layer, head]; choose that
    head, and rerun the sections that show it."""
    point = ui.clicked_customdata(st.session_state.get(OVERVIEW_CHART))
    if point is None:
        return  # a click beside the targets (or a second click that cleared the selection) changes nothing
    layer, head = int(point[0]), int(point[1])
    layer_changed = layer != st.session_state.get(LAYER_KEY)
    st.session_state[LAYER_KEY], st.session_state[HEAD_KEY] = layer, head
    rerun((LAYER_VIEW, OVERVIEW, STAGE_VIEW) if layer_changed else (OVERVIEW, STAGE_VIEW))


def importance_clicked(kind: str) -> None:
    """A head lab importance heatmap (of attention `kind`) was clicked: its point's customdata is [layer, head];
    look at that head."""
    point = ui.clicked_customdata(st.session_state.get(IMPORTANCE_KEY.format(kind=kind)))
    if point is not None:
        st.session_state[INSPECT_KEY] = HeadRef(kind, int(point[0]), int(point[1]))
