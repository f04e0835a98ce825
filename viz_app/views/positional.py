"""Positional encoding: the sinusoidal table, its dimensions as waves, and how positions relate to each other."""

from __future__ import annotations

import streamlit as st

from viz_app import context, resources, ui
from viz_app.analysis import dot_similarity
from viz_app.chart_cache import shared_figure
from viz_app.figures.positional import (
    dimension_curves,
    position_similarity_heatmap,
    positional_table_heatmap,
    wavelength,
)

st.title("Positional encoding")
info = context.model_or_stop()
fastest, slowest = wavelength(0, info.d_model), wavelength(info.d_model - 1, info.d_model)
st.markdown(
    "Attention by itself does not know the order of the tokens, so the model adds to each token a fixed vector "
    "that depends only on its position (counted from 0). Even dimensions 2i hold a sine of the position, odd "
    "dimensions 2i + 1 a cosine at the same speed, and each pair runs at its own speed: the wavelengths grow "
    f"geometrically from 2π ≈ {fastest:.2f} positions per cycle (dimensions 0 and 1) to about {slowest:,.0f} "
    f"(dimensions {info.d_model - 2} and {info.d_model - 1})."
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
    shared_figure(
        positional_table_heatmap,
        table,
        marked,
        title=f"The full sinusoidal table: {info.max_len} positions × {info.d_model} dimensions",
    ),
    "Each row is the vector added at one position, each column one dimension (both counted from 0). Columns on "
    "the left change fast from row to row, columns on the right change so slowly they look constant; the orange "
    "box marks the rows this sentence uses.",
    key="pe_table",
)
curves_title = (
    f"Chosen dimensions over this sentence's positions 0–{marked - 1}" if marked else "Chosen dimensions over position"
)
ui.chart(
    shared_figure(dimension_curves, table, dims, title=curves_title, marked=marked),
    "Each curve is one column of the table. Low dimensions repeat every few positions and high ones take "
    "thousands, so together they give every position a distinct pattern, like the hands of a clock. "
    + (
        f"The view opens on the positions this sentence uses; double-click the chart to see all {info.max_len}."
        if marked
        else ""
    ),
    key="pe_curves",
)
ui.chart(
    shared_figure(
        position_similarity_heatmap,
        dot_similarity(table[:shown]),
        title=f"Dot product between positional rows (first {shown} positions)",
    ),
    f"Cell (p, q) is PE(p) · PE(q). The diagonal is d_model/2 = {info.d_model // 2} everywhere and the value "
    "generally falls as positions move apart. The stripes run parallel to the diagonal because the dot product "
    "is a sum of cos(ω·(p − q)) over the sine and cosine pairs: it depends only on the distance between two "
    "positions, not on where they are.",
    key="pe_similarity",
)
