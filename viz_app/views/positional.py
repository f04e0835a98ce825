"""Positional encoding: the sinusoidal table, its dimensions as waves, and how positions relate to each other."""

from __future__ import annotations

import streamlit as st

from viz_app import context, resources, ui
from viz_app.analysis import dot_similarity
from viz_app.figures.positional import (
    dimension_curves,
    position_similarity_heatmap,
    positional_table_heatmap,
    wavelength,
)

st.title("Positional encoding")
info = context.model_or_stop()
st.markdown(
    "Attention compares tokens without knowing their order, so the model adds a fixed vector to each token "
    "that depends only on its position. Each pair of dimensions is a sine and a cosine of the position, and "
    "each pair runs at its own speed: from a few positions per cycle to tens of thousands."
)
st.latex(
    r"PE_{(pos,\,2i)} = \sin\!\left(\frac{pos}{10000^{2i/d_{model}}}\right) \qquad "
    r"PE_{(pos,\,2i+1)} = \cos\!\left(\frac{pos}{10000^{2i/d_{model}}}\right)"
)
st.caption(
    f"Here d_model = {info.d_model} and positions run from 0 to {info.max_len - 1}. Nothing in this table is "
    "learned: it is computed from the formula and added to the scaled token embeddings."
)

trace = context.trace_or_notice(info)
marked = len(trace.source.ids) if trace is not None else 0

table = resources.positional_table(info.max_len, info.d_model)
defaults = sorted({0, 1, 2 * (info.d_model // 32), 2 * (info.d_model // 16), info.d_model // 4, info.d_model // 2})
with st.sidebar:
    st.subheader("Positional options")
    dims = st.multiselect(
        "Dimensions to plot",
        list(range(info.d_model)),
        default=[d for d in defaults if d < info.d_model],
        format_func=lambda d: f"{d} ({'sin' if d % 2 == 0 else 'cos'}, wavelength {wavelength(d, info.d_model):,.0f})",
        key="pe_dims",
        persist_state="session",
    )
    shown = st.slider(
        "Positions in the similarity map",
        8,
        info.max_len,
        min(64, info.max_len),
        key="pe_positions",
        persist_state="session",
    )

ui.chart(
    positional_table_heatmap(
        table, marked, title=f"The full sinusoidal table: {info.max_len} positions × {info.d_model} dimensions"
    ),
    "Each row is the vector added at one position, each column one dimension. Columns on the left change fast "
    "from row to row, columns on the right change so slowly they look constant; the orange box marks the rows "
    "this sentence uses.",
    key="pe_table",
)
ui.chart(
    dimension_curves(table, dims, title="Chosen dimensions over position", marked=marked),
    "Each curve is one column of the table. Low dimensions repeat every few positions and high ones take "
    "thousands, so together they give every position a distinct pattern, like the hands of a clock.",
    key="pe_curves",
)
ui.chart(
    position_similarity_heatmap(
        dot_similarity(table[:shown]), title=f"Dot product between positional rows (first {shown} positions)"
    ),
    f"Cell (p, q) is PE(p) · PE(q). The diagonal is d_model/2 = {info.d_model // 2} everywhere and the value "
    "generally falls as positions move apart. The stripes run parallel to the diagonal because the dot product "
    "depends only on the distance between two positions, not on where they are.",
    key="pe_similarity",
)
