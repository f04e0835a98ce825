"""The sinusoidal positional encoding: the table, chosen dimensions over position, and position similarity."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from viz_app.figures.common import (
    CELL_PX,
    HIGHLIGHT_COLOUR,
    Scale,
    base_layout,
    frame_rows,
    heatmap_figure,
    symmetric_scale,
)

PE_SCALE = Scale("RdBu_r", -1.0, 1.0, ".6f")
ROUND_STEPS = sorted({b * 10**e for b in (1, 2, 4, 5, 8) for e in range(5)} | {2**k for k in range(17)})
TABLE_PLOT_PX = 560  # the whole table (every position, every dimension) fits this square


def tick_step(count: int, span_px: float, spacing_px: float = CELL_PX) -> int:
    """Label every n-th of `count` positions over `span_px` pixels so labels stand at least spacing_px apart;
    n is a round number (1, 2, 4, 5, 8, 10, 16, 20, 25, 32, 50, 64, ...)."""
    needed = spacing_px * count / max(span_px, 1.0)
    return next(step for step in ROUND_STEPS if step >= needed) if needed <= ROUND_STEPS[-1] else math.ceil(needed)


def wavelength(dimension: int, d_model: int) -> float:
    """Positions per full cycle of one dimension: 2*pi * 10000^(2i / d_model), where 2i is the even index."""
    even = dimension - dimension % 2
    return float(2.0 * np.pi * 10000.0 ** (even / d_model))


def positional_table_heatmap(table: np.ndarray, marked: int, *, title: str, label: str = "this sentence") -> go.Figure:
    """The whole table [P, d] on -1..1; a band marks the first `marked` positions (the sentence's)."""
    if table.ndim != 2:
        raise ValueError(f"expected [positions, d_model], got shape {table.shape}")
    positions, dims = table.shape
    fig = heatmap_figure(
        table,
        [str(p) for p in range(positions)],
        [str(d) for d in range(dims)],
        title=title,
        scale=PE_SCALE,
        row_name="position",
        col_name="dimension",
        value_name="PE",
        row_title="position",
        col_title="dimension",
        height=TABLE_PLOT_PX,
        plot_width=TABLE_PLOT_PX,
        row_tick_step=tick_step(positions, TABLE_PLOT_PX),
        col_tick_step=tick_step(dims, TABLE_PLOT_PX, 24),
    )
    fig.update_xaxes(tickangle=0)
    if marked > 0:
        frame_rows(fig, 0, min(marked, positions) - 1)
        fig.add_annotation(
            x=1.0,
            xref="paper",
            y=min(marked, positions) - 0.5,
            yref="y",
            text=f"{label}: positions 0–{min(marked, positions) - 1}",
            showarrow=False,
            xanchor="right",
            yanchor="top",
            font={"color": HIGHLIGHT_COLOUR},
            bgcolor="rgba(255,255,255,0.75)",
        )
    return fig


def dimension_curves(table: np.ndarray, dimensions: Sequence[int], *, title: str, marked: int = 0) -> go.Figure:
    """Lines of the chosen columns of the table [P, d] over position; the legend gives each wavelength.

    With `marked` > 0 the view opens on the sentence's own positions 0..marked-1 (shaded); every position of the
    table is drawn, so zooming out (double click) shows all P of them.
    """
    positions, d_model = table.shape
    x = np.arange(positions)
    data = []
    for dim in dimensions:
        if not 0 <= dim < d_model:
            raise ValueError(f"dimension {dim} is outside 0..{d_model - 1}")
        kind = "sin" if dim % 2 == 0 else "cos"
        name = f"dim {dim} ({kind}, wavelength {wavelength(dim, d_model):,.1f})"
        data.append(
            go.Scatter(
                x=x,
                y=table[:, dim],
                mode="lines+markers" if 0 < marked <= 64 else "lines",
                marker={"size": 4},
                name=name,
                hovertemplate=f"dim {dim}<br>position %{{x}}<br>PE %{{y:.6f}}<extra></extra>",
            )
        )
    shown = min(max(marked, 2), positions) if marked > 0 else positions
    legend_rows = (len(dimensions) + 1) // 2
    layout = base_layout(
        title,
        420,
        width=560,
        xaxis={"title": {"text": "position"}, "range": [-0.5, shown - 0.5]},
        yaxis={"title": {"text": "value"}, "range": [-1.1, 1.1]},
    )
    layout["legend"] = {"orientation": "h", "yanchor": "top", "y": -0.18, "xanchor": "left", "x": 0.0}
    layout["height"] += 22 * legend_rows
    fig = go.Figure(data=data, layout=layout)
    if marked > 0:
        fig.add_vrect(x0=-0.5, x1=marked - 0.5, fillcolor=HIGHLIGHT_COLOUR, opacity=0.12, line_width=0)
    return fig


def position_similarity_heatmap(similarity: np.ndarray, *, title: str) -> go.Figure:
    """Dot products between positional rows [P, P], on a scale centred on 0."""
    positions = similarity.shape[0]
    labels = [str(p) for p in range(positions)]
    fig = heatmap_figure(
        similarity,
        labels,
        labels,
        title=title,
        scale=symmetric_scale(similarity),
        row_name="position",
        col_name="position",
        value_name="dot product",
        row_title="position",
        col_title="position",
        height=TABLE_PLOT_PX,
        plot_width=TABLE_PLOT_PX,
        row_tick_step=tick_step(positions, TABLE_PLOT_PX),
        col_tick_step=tick_step(positions, TABLE_PLOT_PX, 24),
    )
    fig.update_xaxes(tickangle=0)
    return fig
