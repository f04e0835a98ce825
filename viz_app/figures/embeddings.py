"""Token embeddings: vectors per token, norms, cosine similarity, a 2-D map of the vocabulary, neighbours."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from viz_app.figures.common import (
    BASE_COLOUR,
    HIGHLIGHT_COLOUR,
    Scale,
    base_layout,
    category_axis,
    escape_labels,
    heatmap_figure,
    matrix_height,
    symmetric_scale,
)
from viz_app.figures.stages import dimension_labels

COSINE = Scale("RdBu_r", -1.0, 1.0, ".4f")


def embedding_heatmap(
    vectors: np.ndarray,
    token_labels: Sequence[str],
    *,
    title: str,
    value_name: str = "value",
    scale: Scale | None = None,
) -> go.Figure:
    """Vectors [T, d]: tokens on rows, model dimensions on columns, on a diverging scale centred on 0.

    Pass one shared `scale` to compare several of these figures cell by cell.
    """
    if vectors.ndim != 2:
        raise ValueError(f"expected [T, d], got shape {vectors.shape}")
    return heatmap_figure(
        vectors,
        token_labels,
        dimension_labels(vectors.shape[1]),
        title=title,
        scale=scale or symmetric_scale(vectors),
        row_name="token",
        col_name="dimension",
        value_name=value_name,
        row_title="token",
        col_title="dimension",
        height=matrix_height(len(token_labels), minimum=240, per_row=16, maximum=700),
        show_col_labels=False,
    )


def norms_chart(
    token_labels: Sequence[str], before: np.ndarray, after: np.ndarray, positional: np.ndarray, *, title: str
) -> go.Figure:
    """Grouped bars per token: length of the token embedding, of its positional row, and of their sum. Each [T]."""
    lengths = {len(token_labels), before.shape[0], after.shape[0], positional.shape[0]}
    if len(lengths) != 1:
        raise ValueError("one norm per token is needed in every series")
    labels = escape_labels(token_labels)
    series = (
        ("token embedding", before, BASE_COLOUR),
        ("positional row", positional, "#9a9a9a"),
        ("sum fed to layer 1", after, HIGHLIGHT_COLOUR),
    )
    data = [
        go.Bar(
            x=labels,
            y=values,
            name=name,
            marker_color=colour,
            hovertemplate=f"%{{x}}<br>{name}: length %{{y:.4f}}<extra></extra>",
        )
        for name, values, colour in series
    ]
    layout = base_layout(
        title,
        380,
        legend_rows=1,
        barmode="group",
        xaxis=category_axis("token", tickangle=-60),
        yaxis={"title": {"text": "Euclidean length (L2 norm)"}, "rangemode": "tozero"},
    )
    return go.Figure(data=data, layout=layout)


def cosine_heatmap(similarity: np.ndarray, token_labels: Sequence[str], *, title: str) -> go.Figure:
    """Cosine similarity [T, T] between the sentence's tokens on the fixed scale -1..1."""
    return heatmap_figure(
        similarity,
        token_labels,
        token_labels,
        title=title,
        scale=COSINE,
        row_name="token",
        col_name="token",
        value_name="cosine",
        row_title="token",
        col_title="token",
    )


def projection_scatter(
    coords: np.ndarray,
    vocabulary: Sequence[str],
    highlight_ids: Sequence[int],
    highlight_labels: Sequence[str],
    *,
    title: str,
    chosen_id: int | None = None,
    neighbour_ids: Sequence[int] = (),
    explained: Sequence[float] = (),
) -> go.Figure:
    """Every vocabulary entry at its 2-D coordinates [V, 2], the sentence's tokens highlighted and named.

    chosen_id and neighbour_ids: one token and its nearest neighbours, drawn on top.
    """
    if coords.ndim != 2 or coords.shape[1] != 2 or coords.shape[0] != len(vocabulary):
        raise ValueError(f"coords must be [V, 2] with one row per vocabulary entry, got {coords.shape}")
    if len(highlight_ids) != len(highlight_labels):
        raise ValueError("one label per highlighted id is needed")
    words = escape_labels(vocabulary)
    data: list[go.Scatter] = [
        go.Scatter(
            x=coords[:, 0],
            y=coords[:, 1],
            mode="markers",
            marker={"size": 4, "color": BASE_COLOUR, "opacity": 0.35},
            text=words,
            customdata=np.arange(len(vocabulary)),
            hovertemplate="%{text}<br>id %{customdata}<extra>vocabulary</extra>",
            name="whole vocabulary",
        )
    ]
    if neighbour_ids:
        ids = np.asarray(neighbour_ids, dtype=int)
        data.append(
            go.Scatter(
                x=coords[ids, 0],
                y=coords[ids, 1],
                mode="markers",
                marker={"size": 10, "color": "#2ca02c", "symbol": "diamond"},
                text=[words[i] for i in ids],
                customdata=ids,
                hovertemplate="%{text}<br>id %{customdata}<extra>neighbour</extra>",
                name="nearest neighbours",
            )
        )
    if highlight_ids:
        ids = np.asarray(highlight_ids, dtype=int)
        data.append(
            go.Scatter(
                x=coords[ids, 0],
                y=coords[ids, 1],
                mode="markers+text",
                marker={"size": 10, "color": HIGHLIGHT_COLOUR, "line": {"width": 1, "color": "#333333"}},
                text=escape_labels(highlight_labels),
                textposition="top center",
                customdata=ids,
                hovertemplate="%{text}<br>id %{customdata}<extra>in the sentence</extra>",
                name="tokens of the sentence",
            )
        )
    if chosen_id is not None:
        data.append(
            go.Scatter(
                x=[coords[chosen_id, 0]],
                y=[coords[chosen_id, 1]],
                mode="markers",
                marker={"size": 18, "color": "rgba(0,0,0,0)", "line": {"width": 3, "color": "#d62728"}},
                text=[words[chosen_id]],
                hovertemplate="%{text}<extra>chosen token</extra>",
                name="chosen token",
            )
        )
    axis_names = [
        f"component {i + 1}" + (f" ({share:.1%} of variance)" if i < len(explained) else "")
        for i, share in enumerate([*explained, *([0.0] * (2 - len(explained)))][:2])
    ]
    layout = base_layout(
        title,
        540,
        legend_rows=2,
        xaxis={"title": {"text": axis_names[0]}, "zeroline": False},
        yaxis={"title": {"text": axis_names[1]}, "zeroline": False},
    )
    return go.Figure(data=data, layout=layout)


def neighbours_chart(tokens: Sequence[str], similarities: np.ndarray, *, title: str) -> go.Figure:
    """Horizontal bars: the nearest vocabulary entries to one token and their cosine similarity [k]."""
    if len(tokens) != similarities.shape[0]:
        raise ValueError("one similarity per token is needed")
    labels = escape_labels(tokens)
    data = [
        go.Bar(
            x=similarities,
            y=labels,
            orientation="h",
            marker_color=BASE_COLOUR,
            hovertemplate="%{y}<br>cosine %{x:.4f}<extra></extra>",
        )
    ]
    layout = base_layout(
        title,
        max(260, 90 + 24 * len(tokens)),
        xaxis={"title": {"text": "cosine similarity"}, "range": [min(0.0, float(similarities.min(initial=0.0))), 1.0]},
        yaxis=category_axis(reversed_=True),
        showlegend=False,
    )
    return go.Figure(data=data, layout=layout)
