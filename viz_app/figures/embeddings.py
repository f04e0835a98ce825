"""Token embeddings: vectors per token, norms, cosine similarity, a 2-D map of the vocabulary, neighbours."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import plotly.graph_objects as go

from viz_app.figures.common import (
    AXIS_TITLE_ROOM,
    BASE_COLOUR,
    HIGHLIGHT_COLOUR,
    TICK_FONT_PX,
    Scale,
    base_layout,
    category_axis,
    dimension_labels,
    escape_label,
    escape_labels,
    heatmap_figure,
    label_room,
    label_ticks,
    symmetric_scale,
    text_px,
)

COSINE = Scale("RdBu_r", -1.0, 1.0, ".4f")
EMBEDDING_PLOT_PX = 320  # the d_model columns of an embedding heatmap share this width (they carry no labels)
BAR_GROUP_PX = 30  # room per token in the grouped bar chart: three bars and a gap


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
        show_col_labels=False,
        plot_width=EMBEDDING_PLOT_PX,
    )


def norms_chart(
    token_labels: Sequence[str], before: np.ndarray, after: np.ndarray, positional: np.ndarray, *, title: str
) -> go.Figure:
    """Grouped bars per token: length of the token embedding, of its positional row, and of their sum. Each [T].

    Every token is labelled (upright); BAR_GROUP_PX per token sets the narrowest the figure may be drawn.
    """
    lengths = {len(token_labels), before.shape[0], after.shape[0], positional.shape[0]}
    if len(lengths) != 1:
        raise ValueError("one norm per token is needed in every series")
    labels = escape_labels(token_labels)
    series = (
        ("token embedding", before, BASE_COLOUR),
        ("positional row", positional, "#9a9a9a"),
        ("sum fed to layer 0", after, HIGHLIGHT_COLOUR),
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
    bottom = label_room(token_labels, TICK_FONT_PX, angle=90) + AXIS_TITLE_ROOM + 6
    left = 70
    layout = base_layout(
        title,
        300 + bottom,
        legend_rows=1,
        width=max(480, left + BAR_GROUP_PX * len(labels) + 20),
        barmode="group",
        xaxis=category_axis("token", tickangle=-90, automargin=False, **label_ticks(labels)),
        yaxis={"title": {"text": "Euclidean length (L2 norm)"}, "rangemode": "tozero", "automargin": False},
    )
    layout["margin"].update(l=left, b=bottom, r=20)
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


PROJECTION_WIDTH_PX, PROJECTION_HEIGHT_PX = 640, 560
PROJECTION_MARGIN = {"l": 60, "r": 20, "t": 98, "b": 50}  # t: the title and a two-row legend
LABEL_FONT_PX = 11
LABEL_HEIGHT_PX = 16


@dataclass(frozen=True)
class PlacedLabel:
    """A text label moved off its point: offset (dx, dy) in pixels from the point (dy down), its box size."""

    dx: float
    dy: float
    width: float
    height: float


def boxes_overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    """True when two boxes (x0, y0, x1, y1) share more than their edges."""
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def place_labels(
    points: np.ndarray, widths: Sequence[float], height: float, area: tuple[float, float]
) -> list[PlacedLabel]:
    """Greedy placement of one text box per point [N, 2] (pixels, y down) so that no two boxes overlap, no box
    covers a labelled point, and every box stays inside the plot area (width, height).

    Each label tries positions around its point, nearest first, on rings of growing radius; the first free one
    wins. A label that finds no free place within the rings is put at the last one tried (rare; the test of the
    page checks that it does not happen for a sentence at the length limit).
    """
    placed: list[PlacedLabel] = []
    boxes: list[tuple[float, float, float, float]] = []
    marks = [(x - 5.0, y - 5.0, x + 5.0, y + 5.0) for x, y in points]
    angles = np.deg2rad([270, 90, 0, 180, 315, 225, 45, 135, 292.5, 247.5, 22.5, 157.5, 337.5, 202.5, 67.5, 112.5])
    for (x, y), width in zip(points, widths, strict=True):
        choice: PlacedLabel | None = None
        for radius in range(14, 400, 12):
            for angle in angles:
                dx, dy = radius * float(np.cos(angle)), radius * float(np.sin(angle))
                box = (x + dx - width / 2, y + dy - height / 2, x + dx + width / 2, y + dy + height / 2)
                if box[0] < 0 or box[1] < 0 or box[2] > area[0] or box[3] > area[1]:
                    continue
                if any(boxes_overlap(box, other) for other in boxes) or any(boxes_overlap(box, m) for m in marks):
                    continue
                choice = PlacedLabel(dx, dy, width, height)
                break
            if choice is not None:
                break
        if choice is None:
            choice = PlacedLabel(0.0, -14.0, width, height)
        placed.append(choice)
        x0, y0 = x + choice.dx - width / 2, y + choice.dy - height / 2
        boxes.append((x0, y0, x0 + width, y0 + height))
    return placed


def padded_range(values: np.ndarray, share: float = 0.04) -> list[float]:
    low, high = float(np.min(values)), float(np.max(values))
    pad = (high - low) * share or 1.0
    return [low - pad, high + pad]


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

    A token the sentence holds more than once sits at one point (same id, same row of the table) and is named
    once, with every position in its hover. Names are annotations placed so that none covers another
    (place_labels, on the figure's own fixed ranges and size), joined to their point by a thin line.
    chosen_id and neighbour_ids: one token and its nearest neighbours, drawn on top.
    explained: the share of the table's variance each axis keeps (the PCA's explained variance ratio).
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
    x_range, y_range = padded_range(coords[:, 0]), padded_range(coords[:, 1])
    annotations: list[dict[str, Any]] = []
    if highlight_ids:
        positions: dict[int, list[int]] = {}
        for position, token_id in enumerate(highlight_ids):
            positions.setdefault(int(token_id), []).append(position)
        unique = list(positions)
        names = [highlight_labels[positions[i][0]].split(":", 1)[-1] for i in unique]
        ids = np.asarray(unique, dtype=int)
        data.append(
            go.Scatter(
                x=coords[ids, 0],
                y=coords[ids, 1],
                mode="markers",
                marker={"size": 10, "color": HIGHLIGHT_COLOUR, "line": {"width": 1, "color": "#333333"}},
                text=[escape_label(name) for name in names],
                customdata=[[i, ", ".join(str(p) for p in positions[i])] for i in unique],
                hovertemplate="%{text}<br>id %{customdata[0]}<br>position(s) %{customdata[1]}"
                "<extra>in the sentence</extra>",
                name="tokens of the sentence",
            )
        )
        area = (
            PROJECTION_WIDTH_PX - PROJECTION_MARGIN["l"] - PROJECTION_MARGIN["r"],
            PROJECTION_HEIGHT_PX - PROJECTION_MARGIN["t"] - PROJECTION_MARGIN["b"],
        )
        pixels = np.stack(
            [
                (coords[ids, 0] - x_range[0]) / (x_range[1] - x_range[0]) * area[0],
                (y_range[1] - coords[ids, 1]) / (y_range[1] - y_range[0]) * area[1],
            ],
            axis=1,
        )
        widths = [text_px(name, LABEL_FONT_PX) + 6 for name in names]
        for token_id, name, spot in zip(
            unique, names, place_labels(pixels, widths, LABEL_HEIGHT_PX, area), strict=True
        ):
            annotations.append(
                {
                    "x": float(coords[token_id, 0]),
                    "y": float(coords[token_id, 1]),
                    "xref": "x",
                    "yref": "y",
                    "text": escape_label(name),
                    "ax": spot.dx,
                    "ay": spot.dy,
                    "axref": "pixel",
                    "ayref": "pixel",
                    "showarrow": True,
                    "arrowhead": 0,
                    "arrowwidth": 1,
                    "arrowcolor": "#888888",
                    "standoff": 5,
                    "xanchor": "center",
                    "yanchor": "middle",
                    "font": {"size": LABEL_FONT_PX},
                }
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
        f"{order} principal component" + (f" ({share:.1%} of the variance)" if i < len(explained) else "")
        for i, (order, share) in enumerate(zip(("first", "second"), [*explained, 0.0, 0.0][:2], strict=True))
    ]
    layout = base_layout(
        title,
        PROJECTION_HEIGHT_PX - 50 - 48,
        legend_rows=2,
        width=PROJECTION_WIDTH_PX,
        xaxis={"title": {"text": axis_names[0]}, "zeroline": False, "range": x_range, "automargin": False},
        yaxis={"title": {"text": axis_names[1]}, "zeroline": False, "range": y_range, "automargin": False},
        annotations=annotations,
    )
    title_lines = layout["margin"]["t"] - (50 + 48)  # extra room base_layout kept for a wrapped title
    layout["margin"].update({**PROJECTION_MARGIN, "t": PROJECTION_MARGIN["t"] + title_lines})
    layout["height"] = PROJECTION_HEIGHT_PX + title_lines
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
    left = label_room(tokens, TICK_FONT_PX) + 10
    layout = base_layout(
        title,
        max(260, 90 + 24 * len(tokens)),
        width=left + 300,
        xaxis={"title": {"text": "cosine similarity"}, "range": [min(0.0, float(similarities.min(initial=0.0))), 1.0]},
        yaxis=category_axis(reversed_=True, automargin=False, **label_ticks(labels)),
        showlegend=False,
    )
    layout["margin"].update(l=left, b=50)
    return go.Figure(data=data, layout=layout)
