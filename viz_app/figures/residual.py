"""The residual stream: norms along a stack, one position's vectors sub-layer by sub-layer, the ReLU's zeros, and
what each decoder layer would predict."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from viz_app.figures.common import (
    BASE_COLOUR,
    CELL_PX,
    DIVERGING_SCALE,
    HIGHLIGHT_COLOUR,
    TICK_FONT_PX,
    WEIGHT_SCALE,
    base_layout,
    category_axis,
    colorbar_room,
    escape_label,
    escape_labels,
    label_room,
    label_ticks,
)

STREAM_COLOUR = "#7f7f7f"
CELL_TEXT_MAX_COLUMNS = 16  # beyond this many positions a cell is too narrow to print its share inside it
FITS_COLUMN_PX = 760  # a chart narrower than this fits the main column at 1280 px without a width of its own


def position_columns(columns: list[str], rows: list[str], bar_title: str, *, rows_down: bool = True) -> dict[str, Any]:
    """Layout for a heatmap whose columns are positions (escaped labels): every label drawn upright on its own
    CELL_PX column, and, when the positions need more than the main column, a layout.width (ui.chart then lets
    the chart scroll sideways rather than squeeze the labels). rows_down: the first row at the top."""
    left = label_room(rows, TICK_FONT_PX) + 10
    bottom = label_room(columns, TICK_FONT_PX, angle=90) + 10
    width = left + CELL_PX * len(columns) + colorbar_room(bar_title)
    layout: dict[str, Any] = {
        "xaxis": category_axis(tickangle=-90, automargin=False, **label_ticks(columns)),
        "yaxis": category_axis(reversed_=rows_down, automargin=False, **label_ticks(rows)),
        "margin_l": left,
        "margin_b": bottom,
    }
    if width > FITS_COLUMN_PX:
        layout["width"] = width
    return layout


def stack_norms_chart(
    names: Sequence[str], stream_in: np.ndarray, addition: np.ndarray, stream_out: np.ndarray, *, title: str
) -> go.Figure:
    """Per sub-layer (in order through the stack, [N] each): the norm of the stream arriving, of what the sub-layer
    adds, and of the stream leaving, as grouped bars."""
    if not len(names) == stream_in.shape[0] == addition.shape[0] == stream_out.shape[0]:
        raise ValueError("one value of each kind per sub-layer is needed")
    labels = escape_labels(names)
    series = (
        ("‖stream arriving‖", stream_in, STREAM_COLOUR),
        ("‖what the sub-layer adds‖", addition, HIGHLIGHT_COLOUR),
        ("‖stream leaving‖", stream_out, BASE_COLOUR),
    )
    data = [
        go.Bar(x=labels, y=values, name=name, marker_color=colour, hovertemplate="%{x}<br>%{y:.3f}<extra></extra>")
        for name, values, colour in series
    ]
    layout = base_layout(
        title,
        360,
        legend_rows=1,
        barmode="group",
        xaxis=category_axis(tickangle=-30),
        yaxis={"title": {"text": "L2 norm"}, "rangemode": "tozero"},
    )
    return go.Figure(data=data, layout=layout)


def vectors_heatmap(rows: Sequence[str], vectors: np.ndarray, *, title: str) -> go.Figure:
    """Vectors [R, d] one per row (labelled by `rows`), every dimension a column, on one diverging scale centred
    on 0 so rows can be compared."""
    if vectors.ndim != 2 or vectors.shape[0] != len(rows):
        raise ValueError(f"expected one vector per row label, got {vectors.shape} for {len(rows)} labels")
    bound = float(np.abs(vectors).max()) if vectors.size else 1.0
    labels = escape_labels(rows)
    data = [
        go.Heatmap(
            z=vectors,
            x=list(range(vectors.shape[1])),
            y=labels,
            colorscale=DIVERGING_SCALE,
            zmin=-max(bound, 1e-6),
            zmax=max(bound, 1e-6),
            colorbar={"title": {"text": "value"}},
            hovertemplate="%{y}<br>dimension %{x}<br>value %{z:.4f}<extra></extra>",
        )
    ]
    layout = base_layout(
        title,
        max(220, 90 + 30 * len(rows)),
        xaxis={"title": {"text": "dimension of the vector"}},
        yaxis=category_axis(reversed_=True),
    )
    return go.Figure(data=data, layout=layout)


def relu_share_heatmap(shares: np.ndarray, positions: Sequence[str], *, title: str, side: str) -> go.Figure:
    """The share of feed-forward units at 0 after the ReLU [L, T], layers as rows, positions as columns, on 0..1.
    Every position is labelled; up to CELL_TEXT_MAX_COLUMNS positions, each cell also prints its share."""
    if shares.ndim != 2 or shares.shape[1] != len(positions):
        raise ValueError(f"expected [L, {len(positions)}] shares, got {shares.shape}")
    layers = [f"{side} layer {layer}" for layer in range(shares.shape[0])]
    columns = escape_labels(positions)
    cell_text = len(columns) <= CELL_TEXT_MAX_COLUMNS
    data = [
        go.Heatmap(
            z=shares,
            x=columns,
            y=layers,
            colorscale=WEIGHT_SCALE,
            zmin=0.0,
            zmax=1.0,
            text=[[f"{value:.0%}" for value in row] for row in shares] if cell_text else None,
            texttemplate="%{text}" if cell_text else None,
            colorbar={"title": {"text": "share off"}},
            hovertemplate="%{y}<br>position %{x}<br>%{z:.1%} of the units at 0<extra></extra>",
        )
    ]
    return _positions_figure(data, title, columns, layers, "share off")


def _positions_figure(
    data: list[go.Heatmap], title: str, columns: list[str], rows: list[str], bar: str, *, rows_down: bool = True
) -> go.Figure:
    """A heatmap figure of rows x positions laid out by position_columns."""
    placed = position_columns(columns, rows, bar, rows_down=rows_down)
    bottom, left = placed.pop("margin_b"), placed.pop("margin_l")
    width = placed.pop("width", None)
    layout = base_layout(title, 60 + 34 * len(rows) + bottom, width=width, **placed)
    fig = go.Figure(data=data, layout=layout)
    fig.layout.margin.update(l=left, b=bottom)
    return fig


def layer_predictions_heatmap(
    tokens: Sequence[Sequence[str]], probabilities: np.ndarray, chosen: str, *, title: str
) -> go.Figure:
    """Each decoder layer's k likeliest next tokens at one step: rows are layers (tokens [L][k], probabilities
    [L, k]), columns ranks; a cell shows the token and its probability, coloured on 0..1. Cells holding `chosen`
    (the token the model finally output) are marked with ◀."""
    if probabilities.ndim != 2 or len(tokens) != probabilities.shape[0]:
        raise ValueError("one row of tokens per layer is needed")
    n_layers, k = probabilities.shape
    rows = [f"decoder layer {layer}" for layer in range(n_layers)]
    ranks = [f"rank {r}" for r in range(k)]
    text = [
        [
            f"{escape_label(token)}{' ◀' if token == chosen else ''}<br>{p:.1%}"
            for token, p in zip(tokens[layer], probabilities[layer], strict=True)
        ]
        for layer in range(n_layers)
    ]
    data = [
        go.Heatmap(
            z=probabilities,
            x=ranks,
            y=rows,
            text=text,
            texttemplate="%{text}",
            colorscale=WEIGHT_SCALE,
            zmin=0.0,
            zmax=1.0,
            colorbar={"title": {"text": "probability"}},
            hovertemplate="%{y}, %{x}<br>%{text}<extra></extra>",
        )
    ]
    layout = base_layout(title, 140 + 56 * n_layers, xaxis=category_axis(side="top"), yaxis=category_axis())
    return go.Figure(data=data, layout=layout)


def chosen_token_heatmap(probabilities: np.ndarray, steps: Sequence[str], *, title: str) -> go.Figure:
    """The probability each decoder layer [L] gives the token the model output at each step [T]: [L, T] on 0..1,
    steps labelled by the token output there."""
    if probabilities.ndim != 2 or probabilities.shape[1] != len(steps):
        raise ValueError(f"expected [L, {len(steps)}] probabilities, got {probabilities.shape}")
    rows = [f"decoder layer {layer}" for layer in range(probabilities.shape[0])]
    columns = escape_labels(steps)
    data = [
        go.Heatmap(
            z=probabilities,
            x=columns,
            y=rows,
            colorscale=WEIGHT_SCALE,
            zmin=0.0,
            zmax=1.0,
            colorbar={"title": {"text": "probability"}},
            hovertemplate="%{y}<br>%{x}<br>probability %{z:.4f}<extra></extra>",
        )
    ]
    return _positions_figure(data, title, columns, rows, "probability", rows_down=False)
