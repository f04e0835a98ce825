"""Attention weights: one head, every head of a layer, every layer and head, and the mean over heads."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from viz_app.figures.common import (
    WEIGHTS,
    Grid,
    base_layout,
    category_axis,
    heatmap_figure,
    heatmap_traces,
    masked_legend_entry,
)


def _check_stack(weights: np.ndarray, ndim: int, row_labels: Sequence[str], col_labels: Sequence[str]) -> None:
    if weights.ndim != ndim:
        raise ValueError(f"expected a {ndim}-D array of attention weights, got shape {weights.shape}")
    if weights.shape[-2:] != (len(row_labels), len(col_labels)):
        raise ValueError(f"weights {weights.shape} do not fit {len(row_labels)} query and {len(col_labels)} key labels")


def attention_heatmap(
    weights: np.ndarray,
    query_labels: Sequence[str],
    key_labels: Sequence[str],
    *,
    title: str,
    allowed: np.ndarray | None = None,
    height: int | None = None,
) -> go.Figure:
    """One head's weights [T_q, T_k] on the fixed 0..1 scale; queries on rows, keys on columns."""
    _check_stack(weights, 2, query_labels, key_labels)
    return heatmap_figure(
        weights,
        query_labels,
        key_labels,
        title=title,
        scale=WEIGHTS,
        allowed=allowed,
        row_title="query",
        col_title="key",
        height=height,
    )


def _weights_coloraxis() -> dict[str, Any]:
    return {
        "colorscale": WEIGHTS.colorscale,
        "cmin": WEIGHTS.zmin,
        "cmax": WEIGHTS.zmax,
        "colorbar": {"title": {"text": "weight"}, "thickness": 12},
    }


def head_grid(
    weights: np.ndarray,
    query_labels: Sequence[str],
    key_labels: Sequence[str],
    *,
    title: str,
    allowed: np.ndarray | None = None,
    cols: int = 4,
    panel_height: int = 230,
    show_labels: bool | None = None,
) -> go.Figure:
    """Every head of one layer, weights [H, T_q, T_k], as panels sharing one 0..1 colour scale.

    Tick labels appear on the outer panels when there are at most 24 tokens; hover always names the cell.
    """
    _check_stack(weights, 3, query_labels, key_labels)
    heads = weights.shape[0]
    cols = max(1, min(cols, heads))
    rows = -(-heads // cols)
    grid = Grid(rows, cols, h_gap=0.03, v_gap=0.12 / rows if rows > 1 else 0.0)
    if show_labels is None:
        show_labels = max(len(query_labels), len(key_labels)) <= 24
    data: list[Any] = []
    layout: dict[str, Any] = {}
    annotations = []
    has_mask = False
    for head in range(heads):
        row, col = divmod(head, cols)
        traces = heatmap_traces(
            weights[head],
            query_labels,
            key_labels,
            scale=WEIGHTS,
            allowed=allowed,
            axes=grid.axis_suffix(row, col),
            coloraxis="coloraxis",
            prefix=f"head {head}<br>",
        )
        has_mask = has_mask or len(traces) == 2
        data.extend(traces)
        layout.update(
            grid.axes(
                row,
                col,
                category_axis(showticklabels=show_labels and row == rows - 1, tickangle=-60, tickfont={"size": 9}),
                category_axis(reversed_=True, showticklabels=show_labels and col == 0, tickfont={"size": 9}),
            )
        )
        annotations.append(grid.panel_title(row, col, f"head {head}"))
    if has_mask:
        data.append(masked_legend_entry())
    extra_bottom = 90 if show_labels else 10
    fig = go.Figure(
        data=data,
        layout=base_layout(
            title,
            rows * panel_height + 70 + extra_bottom,
            coloraxis=_weights_coloraxis(),
            annotations=annotations,
            plot_bgcolor="rgba(0,0,0,0)",
            **layout,
        ),
    )
    return fig


def layer_head_grid(
    weights: np.ndarray,
    query_labels: Sequence[str],
    key_labels: Sequence[str],
    *,
    title: str,
    allowed: np.ndarray | None = None,
    panel_height: int = 120,
    selected: tuple[int, int] | None = None,
) -> go.Figure:
    """Small multiples of every layer (rows) and head (columns), weights [L, H, T_q, T_k], one 0..1 scale.

    selected: (layer, head) to outline, e.g. the head shown stage by stage.
    """
    _check_stack(weights, 4, query_labels, key_labels)
    layers, heads = weights.shape[:2]
    grid = Grid(layers, heads, h_gap=0.012, v_gap=0.05 if layers > 1 else 0.0)
    data: list[Any] = []
    layout: dict[str, Any] = {}
    annotations = []
    shapes = []
    has_mask = False
    hidden = category_axis(showticklabels=False, ticks="")
    for layer in range(layers):
        for head in range(heads):
            suffix = grid.axis_suffix(layer, head)
            traces = heatmap_traces(
                weights[layer, head],
                query_labels,
                key_labels,
                scale=WEIGHTS,
                allowed=allowed,
                axes=suffix,
                coloraxis="coloraxis",
                prefix=f"layer {layer}, head {head}<br>",
            )
            has_mask = has_mask or len(traces) == 2
            data.extend(traces)
            layout.update(grid.axes(layer, head, hidden, {**hidden, "autorange": "reversed"}))
            if layer == 0:
                annotations.append(grid.panel_title(0, head, f"head {head}"))
        annotations.append(grid.row_title(layer, f"layer {layer}"))
    if selected is not None and 0 <= selected[0] < layers and 0 <= selected[1] < heads:
        x0, x1 = grid.x_domain(selected[1])
        y0, y1 = grid.y_domain(selected[0])
        shapes.append(
            {
                "type": "rect",
                "xref": "paper",
                "yref": "paper",
                "x0": x0 - 0.003,
                "x1": x1 + 0.003,
                "y0": y0 - 0.01,
                "y1": y1 + 0.01,
                "line": {"color": "#ff7f0e", "width": 3},
            }
        )
    if has_mask:
        data.append(masked_legend_entry())
    layout_all = base_layout(
        title,
        layers * panel_height + 90,
        coloraxis=_weights_coloraxis(),
        annotations=annotations,
        shapes=shapes,
        plot_bgcolor="rgba(0,0,0,0)",
        **layout,
    )
    layout_all["margin"] = {"l": 30, "r": 10, "t": 80, "b": 10}
    return go.Figure(data=data, layout=layout_all)


def mean_over_heads(weights: np.ndarray) -> np.ndarray:
    """[H, T_q, T_k] -> [T_q, T_k], the plain average of the heads (still a distribution per row)."""
    if weights.ndim != 3:
        raise ValueError(f"expected [H, T_q, T_k], got shape {weights.shape}")
    return weights.mean(axis=0)


def mean_heatmap(
    weights: np.ndarray,
    query_labels: Sequence[str],
    key_labels: Sequence[str],
    *,
    title: str,
    allowed: np.ndarray | None = None,
) -> go.Figure:
    """The mean over heads of one layer, weights [H, T_q, T_k], on the same 0..1 scale."""
    _check_stack(weights, 3, query_labels, key_labels)
    return attention_heatmap(mean_over_heads(weights), query_labels, key_labels, title=title, allowed=allowed)
