"""Greedy decoding step by step: next-token probabilities, the new cross-attention row, and the timeline."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from viz_app.figures.common import (
    BASE_COLOUR,
    HIGHLIGHT_COLOUR,
    WEIGHTS,
    base_layout,
    category_axis,
    escape_labels,
    frame_rows,
    heatmap_figure,
)


def topk_chart(tokens: Sequence[str], probabilities: np.ndarray, chosen: int, *, title: str) -> go.Figure:
    """Horizontal bars for the k most likely next tokens [k], on 0..1; bar `chosen` (the argmax) highlighted."""
    if len(tokens) != probabilities.shape[0]:
        raise ValueError("one probability per token is needed")
    labels = escape_labels(tokens)
    colours = [HIGHLIGHT_COLOUR if i == chosen else BASE_COLOUR for i in range(len(tokens))]
    data = [
        go.Bar(
            x=probabilities,
            y=labels,
            orientation="h",
            marker_color=colours,
            text=[f"{p:.1%}" for p in probabilities],
            textposition="outside",
            cliponaxis=False,
            hovertemplate="%{y}<br>probability %{x:.6f}<extra></extra>",
        )
    ]
    layout = base_layout(
        title,
        max(240, 100 + 30 * len(tokens)),
        xaxis={"title": {"text": "probability"}, "range": [0.0, 1.0]},
        yaxis=category_axis(reversed_=True),
        showlegend=False,
    )
    layout["margin"]["r"] = 50
    return go.Figure(data=data, layout=layout)


def cross_rows_heatmap(
    rows: np.ndarray, source_labels: Sequence[str], *, title: str, selected_head: int | None = None
) -> go.Figure:
    """The new cross-attention row of every head of one layer at one step, [H, S], on 0..1."""
    heads = rows.shape[0]
    fig = heatmap_figure(
        rows,
        [f"head {h}" for h in range(heads)],
        source_labels,
        title=title,
        scale=WEIGHTS,
        row_name="",
        col_name="source token",
        value_name="weight",
        row_title="head",
        col_title="source token (key)",
        height=max(220, 150 + 26 * heads),
    )
    if selected_head is not None and 0 <= selected_head < heads:
        frame_rows(fig, selected_head, selected_head)
    return fig


def timeline_chart(
    chosen_tokens: Sequence[str], chosen_probs: np.ndarray, current: int, *, title: str, eos: Sequence[bool] = ()
) -> go.Figure:
    """One horizontal bar per decoding step, top to bottom: the token chosen and its probability [n].

    The current step is orange, later steps grey, an end-token step outlined in red.
    """
    count = len(chosen_tokens)
    if chosen_probs.shape[0] != count:
        raise ValueError("one probability per step is needed")
    labels = [f"{i}:{token}" for i, token in zip(range(count), escape_labels(chosen_tokens), strict=True)]
    colours = [HIGHLIGHT_COLOUR if i == current else ("#9a9a9a" if i > current else BASE_COLOUR) for i in range(count)]
    line = ["#d62728" if (eos and eos[i]) else "rgba(0,0,0,0)" for i in range(count)]
    data = [
        go.Bar(
            x=chosen_probs,
            y=labels,
            orientation="h",
            marker={"color": colours, "line": {"color": line, "width": 2}},
            hovertemplate="step %{y}<br>probability %{x:.6f}<extra></extra>",
        )
    ]
    layout = base_layout(
        title,
        max(260, 110 + 22 * count),
        xaxis={"title": {"text": "probability of the choice"}, "range": [0.0, 1.0]},
        yaxis=category_axis(reversed_=True),
        showlegend=False,
    )
    return go.Figure(data=data, layout=layout)


def source_focus_heatmap(
    weights: np.ndarray, output_labels: Sequence[str], source_labels: Sequence[str], *, title: str
) -> go.Figure:
    """Averaged cross-attention [T, S]: one row per generated token, one column per source token, on 0..1."""
    return heatmap_figure(
        weights,
        output_labels,
        source_labels,
        title=title,
        scale=WEIGHTS,
        row_name="output",
        col_name="source",
        value_name="mean weight",
        row_title="generated token",
        col_title="source token",
    )
