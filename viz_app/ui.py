"""Small Streamlit building blocks the pages share: safe text, token chips, a chart with its explanation."""

from __future__ import annotations

import re
import string
from collections.abc import Sequence

import plotly.graph_objects as go
import streamlit as st

_MARKDOWN_SPECIAL = set(string.punctuation)
PLOTLY_CONFIG = {"displaylogo": False, "modeBarButtonsToRemove": ["select2d", "lasso2d"]}


def escape_markdown(text: str) -> str:
    """Text that st.markdown (and widget labels) shows literally: every ASCII punctuation mark backslash-escaped,
    line breaks folded into spaces. Raw HTML is never enabled anywhere in the app."""
    flat = " ".join(str(text).split())
    return "".join(f"\\{char}" if char in _MARKDOWN_SPECIAL else char for char in flat)


SCROLL_BOX_PX = 760  # a chart taller and wider than the column scrolls inside a box this tall
WIDE_PX = 900  # wider than this, a chart may not fit the main column at 1280 px
_KEY_PATTERN = re.compile(r"[A-Za-z0-9_-]+")


def chart(fig: go.Figure, explanation: str, key: str | None = None) -> None:
    """A plotly figure (its title is in the figure) followed by a short plain explanation.

    The chart fills its column. A figure that sets layout.width (our figures set it to what their labels need)
    is never drawn narrower than that: in a narrower column it scrolls sideways inside its own box (and, when it
    is also very tall, up and down in a box SCROLL_BOX_PX high), so no label is thinned out, squeezed or cut.
    The box is sized by a constant style rule naming only the chart's key and its width; no user text is in it.
    """
    min_width = int(fig.layout.width or 0)
    if key is None or not min_width or not _KEY_PATTERN.fullmatch(key):
        st.plotly_chart(fig, width="stretch", config=PLOTLY_CONFIG, key=key)
        st.caption(explanation)
        return
    box = f"chart-box-{key}"
    st.html(
        f"<style>.st-key-{box} {{ overflow-x: auto; }} "
        f'.st-key-{box} [data-testid="stElementContainer"] {{ min-width: {min_width}px; }}</style>'
    )
    tall = (fig.layout.height or 0) > SCROLL_BOX_PX and min_width > WIDE_PX
    with st.container(key=box, height=SCROLL_BOX_PX if tall else "content", border=False):
        st.plotly_chart(fig, width="stretch", config=PLOTLY_CONFIG, key=key)
    st.caption(explanation)


HALF_COLUMN_PX = 400  # half the main column (820 px) at 1280 px with the sidebar open


def charts_side_by_side(*charts: tuple[go.Figure, str, str]) -> None:
    """(figure, explanation, key) charts in equal columns when each fits half the main column at 1280 px,
    otherwise one below the other (a long sentence's matrices need the full width)."""
    if all((fig.layout.width or 0) <= HALF_COLUMN_PX for fig, _, _ in charts):
        for column, (fig, explanation, key) in zip(st.columns(len(charts)), charts, strict=True):
            with column:
                chart(fig, explanation, key=key)
    else:
        for fig, explanation, key in charts:
            chart(fig, explanation, key=key)


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
