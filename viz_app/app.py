"""Attention Explorer: `streamlit run viz_app/app.py`. Page setup, navigation and the shared sidebar."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# Everything the pages use is imported here, before any page runs. Streamlit runs every session's script in its
# own thread, so when many sessions open a freshly started server at once, one page could build a plotly figure
# while another thread is still importing pandas; plotly looks pandas and numpy up in sys.modules without importing
# them, finds the half-made module and fails ("partially initialized module 'pandas' has no attribute 'Series'").
# A plain import instead waits for an import in progress in another thread, so after these lines each of these
# modules is complete. Touching plotly's trace classes loads the submodules plotly otherwise imports lazily.
import numpy  # noqa: E402
import pandas  # noqa: E402
import plotly.graph_objects as go  # noqa: E402
import plotly.io  # noqa: E402
import streamlit as st  # noqa: E402

import viz_app.figures  # noqa: E402
from viz_app import analysis, clicks, context, links, pages, resources, sidebar, ui  # noqa: E402

PRELOADED = (numpy, pandas, plotly.io, go.Bar, go.Figure, go.Heatmap, go.Scatter, analysis, clicks, context, links, ui)
# every figure module, imported here before any session's thread runs a page (see the comment above)
PRELOADED_FIGURES = tuple(
    importlib.import_module(f"viz_app.figures.{module.name}")
    for module in pkgutil.iter_modules(viz_app.figures.__path__)
)

VIEWS = Path(__file__).resolve().parent / "views"

st.set_page_config(page_title="Attention Explorer", page_icon="🔍", layout="wide")
resources.configure_torch()

navigation = st.navigation(
    [
        st.Page(
            VIEWS / f"{page.name}.py",
            title=page.title,
            icon=page.icon,
            url_path=page.name,
            default=page == pages.DEFAULT,
        )
        for page in pages.PAGES
    ]
)
links.restore(st.query_params, st.session_state)
sidebar.render()
try:
    navigation.run()
finally:  # also when a page stops early (st.stop): the URL then holds what this run settled on
    links.write(st.query_params, st.session_state)
    st.session_state[links.SETTLED_FLAG] = True
