"""Small Streamlit building blocks the pages share: safe text, token chips, a chart with its explanation."""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Sequence
from typing import Any

import plotly.graph_objects as go
import streamlit as st

from viz_app import exports
from viz_app.chart_cache import Ready, as_ready
from viz_app.sidebar import MODEL_KEY

_MARKDOWN_SPECIAL = set(string.punctuation)
PNG_SCALE = 2  # the toolbar's PNG at twice the chart's size on screen: sharp on a projector
# The toolbar (modebar) of every chart keeps plotly's "Download plot as a png"; chart() names the file per chart.
PLOTLY_CONFIG: dict[str, Any] = {
    "displaylogo": False,
    "modeBarButtonsToRemove": ["select2d", "lasso2d"],
    "toImageButtonOptions": {"format": "png", "filename": "attention-explorer", "scale": PNG_SCALE},
}


def escape_markdown(text: str) -> str:
    """Text that st.markdown (and widget labels) shows literally: every ASCII punctuation mark backslash-escaped,
    line breaks folded into spaces. Raw HTML is never enabled anywhere in the app."""
    flat = " ".join(str(text).split())
    return "".join(f"\\{char}" if char in _MARKDOWN_SPECIAL else char for char in flat)


def plotly_chart(chart: Ready, config: dict[str, Any], key: str | None, **selection: Any) -> None:
    """st.plotly_chart filling its column: the one place the app hands a figure to the browser.

    Streamlit draws a new chart twice: first as it arrives, then, once it has measured the column and rebuilt the
    figure from a JSON copy, through Plotly.react. Three things make that second pass cheap, all set when the figure
    was made ready (chart_cache.ready): the figure is sent without layout.width (chart() turns its smallest width
    into the column's minimum), with layout.datarevision, a digest of its data, so that plotly.js does not take the
    copied arrays for new ones, and without a template or Streamlit's theme (figures/common.py house_style gives the
    look instead): Streamlit's theme travels as a template object that the copy renews, and plotly.js redraws a
    whole figure whose template changed (bench/figure_draw.py: the Attention page's three charts 13.2 ms against
    104.3 ms).
    """
    st.plotly_chart(chart.figure, width="stretch", config=config, key=key, theme=None, **selection)


SCROLL_BOX_PX = 760  # a chart taller and wider than the column scrolls inside a box this tall
WIDE_PX = 900  # wider than this, a chart may not fit the main column at 1280 px
_KEY_PATTERN = re.compile(r"[A-Za-z0-9_-]+")


def download_stem(fig: go.Figure, name: str | None = None) -> str:
    """The file name (without suffix) of a chart's PNG and CSV: the model, then `name` or the chart's title."""
    title = name or exports.safe_text(fig.layout.title.text or "").lstrip("'") or "chart"
    return exports.file_name(st.session_state.get(MODEL_KEY, ""), title[:80], suffix="csv").removesuffix(".csv")


def chart_config(stem: str) -> dict[str, Any]:
    """PLOTLY_CONFIG with the toolbar's PNG named `stem`.png."""
    return {**PLOTLY_CONFIG, "toImageButtonOptions": {**PLOTLY_CONFIG["toImageButtonOptions"], "filename": stem}}


def csv_button(fig: go.Figure, stem: str, key: str | None) -> None:
    """A button that downloads the chart's numbers as `stem`.csv (exports.figure_csv), when it draws any.

    The CSV is written only when the button is clicked (a callable `data`, run by Streamlit on its own thread),
    and the click does not rerun the page (on_click="ignore").
    """
    if not exports.has_data(fig):
        return

    def data() -> str:
        return exports.figure_csv(fig) or ""

    st.download_button(
        "Numbers as CSV",
        data=data,
        file_name=f"{stem}.csv",
        mime="text/csv",
        key=None if key is None else f"{key}_csv",
        on_click="ignore",
        type="tertiary",
        icon=":material/download:",
        help="The chart's numbers with their row and column labels, one block per panel, for a spreadsheet.",
    )


def chart(
    fig: go.Figure | Ready, explanation: str, key: str | None = None, *, download_name: str | None = None
) -> None:
    """A plotly figure (its title is in the figure) followed by a short plain explanation and a CSV button.

    fig: a figure built for this call (made ready here, in place), or a Ready one, e.g. shared by
    chart_cache.shared_figure, which is only read. Downloads: the toolbar's camera saves a PNG at PNG_SCALE times
    the size on screen, the button under the explanation the chart's numbers as CSV; both are named by
    download_stem (the model, then `download_name` or the chart's title).

    The chart fills its column. A figure that sets layout.width (our figures set it to what their labels need)
    is never drawn narrower than that: in a narrower column it scrolls sideways inside its own box (and, when it
    is also very tall, up and down in a box SCROLL_BOX_PX high), so no label is thinned out, squeezed or cut.
    The box is sized by a constant style rule naming only the chart's key and its width; no user text is in it.
    """
    prepared = as_ready(fig)
    figure, min_width = prepared.figure, prepared.min_width
    stem = download_stem(figure, download_name)
    config = chart_config(stem)
    if key is None or not min_width or not _KEY_PATTERN.fullmatch(key):
        plotly_chart(prepared, config, key)
        st.caption(explanation)
        csv_button(figure, stem, key)
        return
    box = f"chart-box-{key}"
    st.html(
        f"<style>.st-key-{box} {{ overflow-x: auto; }} "
        f'.st-key-{box} [data-testid="stElementContainer"] {{ min-width: {min_width}px; }}</style>'
    )
    tall = (figure.layout.height or 0) > SCROLL_BOX_PX and min_width > WIDE_PX
    with st.container(key=box, height=SCROLL_BOX_PX if tall else "content", border=False):
        plotly_chart(prepared, config, key)
    st.caption(explanation)
    csv_button(figure, stem, key)


HALF_COLUMN_PX = 400  # half the main column (820 px) at 1280 px with the sidebar open


def charts_side_by_side(*charts: tuple[go.Figure | Ready, str, str]) -> None:
    """(figure, explanation, key) charts in equal columns when each fits half the main column at 1280 px,
    otherwise one below the other (a long sentence's matrices need the full width)."""
    prepared = [(as_ready(fig), explanation, key) for fig, explanation, key in charts]
    if all(ready.min_width <= HALF_COLUMN_PX for ready, _, _ in prepared):
        for column, (ready, explanation, key) in zip(st.columns(len(prepared)), prepared, strict=True):
            with column:
                chart(ready, explanation, key=key)
    else:
        for ready, explanation, key in prepared:
            chart(ready, explanation, key=key)


def chip_text(token: str, token_id: int, special: bool) -> str:
    """'▁dog · 523' for a chip; special tokens get a marker. Escaped for markdown."""
    marker = "◆ " if special else ""
    return f"{marker}{escape_markdown(token)} · {token_id}"


def token_chips(
    label: str,
    ids: Sequence[int],
    tokens: Sequence[str],
    special: Sequence[bool],
    *,
    key: str,
    highlight: int | None = None,
    help_text: str | None = None,
) -> int | None:
    """Tokens as chips 'token · id' (◆ marks special tokens); clicking one selects it. Returns its position.

    highlight: a position selected when the chips first appear (e.g. the newest token).
    """
    if not ids:
        st.caption(f"{label}: (none)")
        return None
    options = list(range(len(ids)))
    if highlight is not None and key in st.session_state and st.session_state[key] not in (*options, None):
        del st.session_state[key]
    return st.pills(
        label,
        options,
        format_func=lambda i: chip_text(tokens[i], ids[i], special[i]),
        selection_mode="single",
        default=highlight,
        key=key,
        help=help_text,
    )


SPECIAL_HELP = "◆ marks a special token: <s> starts a sequence, </s> ends it, <unk> stands for anything unknown."


def selectable_chart(fig: go.Figure | Ready, explanation: str, *, key: str, on_select: Callable[[], None]) -> None:
    """A plotly figure that answers a click on one of its scatter points (see figures.common.click_targets),
    followed by its explanation. `on_select` runs before the next rerun; it finds the click with
    clicked_customdata(st.session_state[key]). Meant for figures that fit their column (no layout.width). Downloads
    as `chart`'s: PNG from the toolbar, CSV from the button under the explanation."""
    if defined_in_page(on_select):
        raise ValueError(
            "a clickable chart's callback must come from an imported module (viz_app.clicks), not a page script: "
            "Streamlit keeps it after the chart changes, and with it every value of the page run that defined it"
        )
    prepared = as_ready(fig)
    stem = download_stem(prepared.figure)
    config = chart_config(stem)
    plotly_chart(prepared, config, key, on_select=on_select, selection_mode="points")
    st.caption(explanation)
    csv_button(prepared.figure, stem, key)


def defined_in_page(callback: Callable[..., Any]) -> bool:
    """Whether a callback (or the function a functools.partial wraps) was defined in a page script, which Streamlit
    runs as __main__ afresh on every rerun (see viz_app.clicks)."""
    function = getattr(callback, "func", callback)
    return getattr(function, "__module__", None) == "__main__"


def clicked_customdata(selection: Any) -> list[Any] | None:
    """The customdata of the first point in a plotly chart's selection state (the value st.plotly_chart keeps in
    st.session_state under its key), or None when nothing is selected or the point carries none."""
    try:
        points = selection["selection"]["points"]
    except (KeyError, TypeError, AttributeError):
        return None
    if not points:
        return None
    data = points[0].get("customdata") if hasattr(points[0], "get") else None
    return list(data) if isinstance(data, (list, tuple)) else None
