"""Vectors per token (Q, K, V, a head's output, the residual stream): tokens on rows, dimensions on columns.

The stages of scaled dot-product attention for every head of a layer are drawn by figures.stage_frames."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from viz_app.figures.common import heatmap_figure, symmetric_scale

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
