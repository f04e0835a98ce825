"""Small Streamlit building blocks the pages share: safe text, token chips, a chart with its explanation."""

from __future__ import annotations

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


def chart(fig: go.Figure, explanation: str, key: str | None = None) -> None:
    """A plotly figure (its title is in the figure) followed by a short plain explanation."""
    st.plotly_chart(fig, width="stretch", config=PLOTLY_CONFIG, key=key)
    st.caption(explanation)


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
