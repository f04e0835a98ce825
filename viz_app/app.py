"""Attention Explorer: `streamlit run viz_app/app.py`. Page setup, navigation and the shared sidebar."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from viz_app import resources, sidebar  # noqa: E402

VIEWS = Path(__file__).resolve().parent / "views"

st.set_page_config(page_title="Attention Explorer", page_icon="🔍", layout="wide")
resources.configure_torch()

navigation = st.navigation(
    [
        st.Page(VIEWS / "translate.py", title="Translate", icon=":material/translate:", default=True),
        st.Page(VIEWS / "embeddings.py", title="Embeddings", icon=":material/scatter_plot:"),
        st.Page(VIEWS / "positional.py", title="Positional encoding", icon=":material/waves:"),
        st.Page(VIEWS / "attention.py", title="Attention", icon=":material/grid_on:"),
        st.Page(VIEWS / "decoding.py", title="Decoding step by step", icon=":material/skip_next:"),
    ]
)
sidebar.render()
navigation.run()
