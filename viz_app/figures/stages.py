"""Scaled dot-product attention of one head, stage by stage: Q, K, V, Q K^T, / sqrt(d_k), + mask, softmax, x V."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from viz_app.figures.attention import attention_heatmap
from viz_app.figures.common import (
    CELL_PX,
    TITLE_ROOM_PX,
    Highlight,
    Scale,
    base_layout,
    category_axis,
    cell_size,
    colorbar_room,
    cross_shapes,
    escape_labels,
    heatmap_figure,
    heatmap_traces,
    label_room,
    label_ticks,
    panel_title_annotation,
    symmetric_scale,
)

MASK_SCALE = Scale([[0.0, "#f0f0f0"], [1.0, "#f0f0f0"]], -1.0, 1.0, ".0f")
DIMENSION_PX = 10  # one column per vector dimension; every DIMENSION_TICK_STEP-th dimension is labelled
DIMENSION_TICK_STEP = 4


def dimension_labels(count: int, prefix: str = "d") -> list[str]:
    """['d0', 'd1', ...] for the columns of a vector per token."""
    return [f"{prefix}{i}" for i in range(count)]


def vectors_heatmap(
    vectors: np.ndarray,
    token_labels: Sequence[str],
    *,
    title: str,
    value_name: str,
    height: int | None = None,
    highlight_row: int | None = None,
) -> go.Figure:
    """Per-token vectors [T, n] (Q, K, V or a head's output): tokens on rows, dimensions on columns, signed scale.

    Every token is labelled (one CELL_PX row each) and every fourth dimension; height overrides the plot's height.
    highlight_row: a token's row to outline (None: none).
    """
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
        height=height,
        plot_width=max(160, DIMENSION_PX * vectors.shape[1]),
        col_tick_step=DIMENSION_TICK_STEP,
        highlight_row=highlight_row,
    )


def qkv_figure(
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    query_labels: Sequence[str],
    key_labels: Sequence[str],
    *,
    title: str,
    highlight: Highlight = None,
) -> go.Figure:
    """Q [T_q, d_k], K and V [T_k, d_k] side by side on one diverging scale, tokens on rows, dimensions on columns.

    Laid out in pixels: each panel keeps room for its own token labels on its left, one CELL_PX row per token
    and DIMENSION_PX per dimension (every fourth labelled); layout.width is the narrowest it may be drawn.
    highlight: (query row, key row): the query's row of Q and the key's rows of K and V are outlined.
    """
    if q.ndim != 2 or k.shape != v.shape or q.shape[1] != k.shape[1]:
        raise ValueError(f"expected Q [T_q, d_k], K and V [T_k, d_k]; got {q.shape}, {k.shape}, {v.shape}")
    scale = symmetric_scale(np.concatenate([q.ravel(), k.ravel(), v.ravel()]))
    dims = dimension_labels(q.shape[1])
    panels = (("Q", q, query_labels), ("K", k, key_labels), ("V", v, key_labels))
    rows = max(len(query_labels), len(key_labels))
    plot_h = round(rows * cell_size(rows, minimum=CELL_PX, span=260))
    panel_w = max(120, DIMENSION_PX * q.shape[1])
    rooms = [label_room(labels, 11) + 6 for _, _, labels in panels]
    left, gap, right = rooms[0], 16, colorbar_room("value")
    width = left + 3 * panel_w + sum(room + gap for room in rooms[1:]) + right
    plot_w = width - left - right  # the paper area: every pixel position below is a share of it
    data: list[Any] = []
    layout: dict[str, Any] = {}
    annotations = []
    shapes: list[dict[str, Any]] = []
    query, key = highlight or (None, None)
    x = 0.0
    for col, (name, matrix, labels) in enumerate(panels):
        if col:
            x += gap + rooms[col]
        suffix = "" if col == 0 else str(col + 1)
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
        domain = [x / plot_w, min(1.0, (x + panel_w) / plot_w)]
        layout[f"xaxis{suffix}"] = {
            **category_axis(tickangle=-90, automargin=False, **label_ticks(dims, DIMENSION_TICK_STEP)),
            "domain": domain,
            "anchor": f"y{suffix}",
        }
        layout[f"yaxis{suffix}"] = {
            **category_axis(reversed_=True, automargin=False, **label_ticks(escape_labels(labels))),
            "domain": [0.0, 1.0],
            "anchor": f"x{suffix}",
        }
        annotations.append(panel_title_annotation(f"{name}  ({matrix.shape[0]} × {matrix.shape[1]})", domain, 1.0))
        row = query if col == 0 else key
        shapes += cross_shapes(row, None, len(labels), len(dims), xref=f"x{suffix}", yref=f"y{suffix}")
        x += panel_w
    bottom = label_room(dims[::DIMENSION_TICK_STEP], 11, angle=90) + 6
    fig = go.Figure(
        data=data,
        layout=base_layout(
            title,
            TITLE_ROOM_PX + 24 + plot_h + bottom,
            width=width,
            coloraxis={
                "colorscale": scale.colorscale,
                "cmin": scale.zmin,
                "cmax": scale.zmax,
                "colorbar": {
                    "title": {"text": "value"},
                    "thickness": 12,
                    "lenmode": "pixels",
                    "len": min(plot_h, 320),
                    "y": 1.0,
                    "yanchor": "top",
                },
            },
            annotations=annotations,
            shapes=shapes,
            plot_bgcolor="rgba(0,0,0,0)",
            **layout,
        ),
    )
    fig.layout.margin.update(l=left, r=right, b=bottom, t=fig.layout.margin.t + 24)
    return fig


def scores_heatmap(
    scores: np.ndarray,
    query_labels: Sequence[str],
    key_labels: Sequence[str],
    *,
    title: str,
    value_name: str = "score",
    highlight: Highlight = None,
) -> go.Figure:
    """Scores [T_q, T_k] (raw, scaled or masked) on a diverging scale centred on 0; -inf cells are grey.
    highlight: (query row, key column) to outline, either may be None."""
    row, col = highlight or (None, None)
    return heatmap_figure(
        scores,
        query_labels,
        key_labels,
        title=title,
        scale=symmetric_scale(scores),
        value_name=value_name,
        row_title="query",
        col_title="key",
        highlight_row=row,
        highlight_col=col,
    )


def mask_heatmap(
    allowed: np.ndarray,
    query_labels: Sequence[str],
    key_labels: Sequence[str],
    *,
    title: str,
    highlight: Highlight = None,
) -> go.Figure:
    """The additive mask [T_q, T_k]: 0 where a key may be attended (light), -inf where it may not (grey).
    highlight: (query row, key column) to outline, either may be None."""
    row, col = highlight or (None, None)
    allowed = allowed.astype(bool)
    values = np.where(allowed, 0.0, -np.inf).astype(np.float32)  # two exact values: float32 sends half the bytes
    # The mask has only two values, 0 and -inf (grey, in the legend): a colour bar would suggest a range.
    return heatmap_figure(
        values,
        query_labels,
        key_labels,
        title=title,
        scale=MASK_SCALE,
        allowed=allowed,
        value_name="added to the score",
        row_title="query",
        col_title="key",
        show_scale=False,
        highlight_row=row,
        highlight_col=col,
    )


def weights_heatmap(
    weights: np.ndarray,
    query_labels: Sequence[str],
    key_labels: Sequence[str],
    *,
    title: str,
    allowed: np.ndarray | None = None,
    highlight: Highlight = None,
) -> go.Figure:
    """Softmax output [T_q, T_k] on the fixed 0..1 scale; masked cells (weight exactly 0) grey; highlight:
    (query row, key column) to outline."""
    return attention_heatmap(weights, query_labels, key_labels, title=title, allowed=allowed, highlight=highlight)
