"""Scaled dot-product attention of one head, stage by stage: Q, K, V, Q K^T, / sqrt(d_k), + mask, softmax, x V."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from viz_app.figures.attention import attention_heatmap
from viz_app.figures.common import (
    Grid,
    Scale,
    base_layout,
    category_axis,
    heatmap_figure,
    heatmap_traces,
    label_room,
    matrix_height,
    symmetric_scale,
)

MASK_SCALE = Scale([[0.0, "#f0f0f0"], [1.0, "#f0f0f0"]], -1.0, 1.0, ".0f")


def dimension_labels(count: int, prefix: str = "d") -> list[str]:
    """['d0', 'd1', ...] for the columns of a vector per token."""
    return [f"{prefix}{i}" for i in range(count)]


def vectors_heatmap(
    vectors: np.ndarray, token_labels: Sequence[str], *, title: str, value_name: str, height: int | None = None
) -> go.Figure:
    """Per-token vectors [T, n] (Q, K, V or a head's output): tokens on rows, dimensions on columns, signed scale."""
    if vectors.ndim != 2:
        raise ValueError(f"expected [T, n] vectors, got shape {vectors.shape}")
    return heatmap_figure(
        vectors,
        token_labels,
        dimension_labels(vectors.shape[1]),
        title=title,
        scale=symmetric_scale(vectors),
        row_name="token",
        col_name="dimension",
        value_name=value_name,
        row_title="token",
        col_title="dimension",
        height=height or matrix_height(len(token_labels), minimum=220, per_row=14, maximum=700),
    )


def qkv_figure(
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    query_labels: Sequence[str],
    key_labels: Sequence[str],
    *,
    title: str,
) -> go.Figure:
    """Q [T_q, d_k], K and V [T_k, d_k] side by side on one diverging scale, tokens on rows, dimensions on columns."""
    if q.ndim != 2 or k.shape != v.shape or q.shape[1] != k.shape[1]:
        raise ValueError(f"expected Q [T_q, d_k], K and V [T_k, d_k]; got {q.shape}, {k.shape}, {v.shape}")
    scale = symmetric_scale(np.concatenate([q.ravel(), k.ravel(), v.ravel()]))
    grid = Grid(1, 3, h_gap=0.09)
    dims = dimension_labels(q.shape[1])
    data: list[Any] = []
    layout: dict[str, Any] = {}
    annotations = []
    for col, (name, matrix, labels) in enumerate((("Q", q, query_labels), ("K", k, key_labels), ("V", v, key_labels))):
        suffix = grid.axis_suffix(0, col)
        data.extend(
            heatmap_traces(
                matrix,
                labels,
                dims,
                scale=scale,
                row_name="token",
                col_name="dimension",
                value_name=name,
                axes=suffix,
                coloraxis="coloraxis",
            )
        )
        layout.update(
            grid.axes(
                0,
                col,
                category_axis(tickangle=-60, tickfont={"size": 9}, automargin=False),
                category_axis(reversed_=True, tickfont={"size": 9}, automargin=False),
            )
        )
        annotations.append(grid.panel_title(0, col, f"{name}  ({matrix.shape[0]} × {matrix.shape[1]})"))
    rows = max(len(query_labels), len(key_labels))
    bottom = label_room(dims, 9, angle=60) + 6
    fig = go.Figure(
        data=data,
        layout=base_layout(
            title,
            matrix_height(rows, minimum=280, per_row=14, maximum=700) + 30,
            coloraxis={
                "colorscale": scale.colorscale,
                "cmin": scale.zmin,
                "cmax": scale.zmax,
                "colorbar": {"title": {"text": "value"}, "thickness": 12},
            },
            annotations=annotations,
            plot_bgcolor="rgba(0,0,0,0)",
            **layout,
        ),
    )
    fig.layout.margin.update(l=label_room([*query_labels, *key_labels], 9) + 6, b=bottom)
    return fig


def scores_heatmap(
    scores: np.ndarray,
    query_labels: Sequence[str],
    key_labels: Sequence[str],
    *,
    title: str,
    value_name: str = "score",
) -> go.Figure:
    """Scores [T_q, T_k] (raw, scaled or masked) on a diverging scale centred on 0; -inf cells are grey."""
    return heatmap_figure(
        scores,
        query_labels,
        key_labels,
        title=title,
        scale=symmetric_scale(scores),
        value_name=value_name,
        row_title="query",
        col_title="key",
    )


def mask_heatmap(
    allowed: np.ndarray, query_labels: Sequence[str], key_labels: Sequence[str], *, title: str
) -> go.Figure:
    """The additive mask [T_q, T_k]: 0 where a key may be attended (light), -inf where it may not (grey)."""
    allowed = allowed.astype(bool)
    values = np.where(allowed, 0.0, -np.inf)
    fig = heatmap_figure(
        values,
        query_labels,
        key_labels,
        title=title,
        scale=MASK_SCALE,
        allowed=allowed,
        value_name="added to the score",
        row_title="query",
        col_title="key",
    )
    # The mask has only two values, 0 and -inf (grey, in the legend): a colour bar would suggest a range.
    fig.update_traces(showscale=False, selector={"type": "heatmap"})
    return fig


def weights_heatmap(
    weights: np.ndarray,
    query_labels: Sequence[str],
    key_labels: Sequence[str],
    *,
    title: str,
    allowed: np.ndarray | None = None,
) -> go.Figure:
    """Softmax output [T_q, T_k] on the fixed 0..1 scale; masked cells (weight exactly 0) grey."""
    return attention_heatmap(weights, query_labels, key_labels, title=title, allowed=allowed)
