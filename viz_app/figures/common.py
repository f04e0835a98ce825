"""Pieces every figure shares: label escaping, colour scales, heatmaps with a masked-cell layer, grid layouts."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import plotly.graph_objects as go

WEIGHT_SCALE = "Viridis"  # attention weights, always on the fixed range 0..1
DIVERGING_SCALE = "RdBu_r"  # signed values (scores, embeddings), centred on 0: blue negative, red positive
MASKED_COLOUR = "#9a9a9a"  # cells a mask removed (-inf before the softmax)
HIGHLIGHT_COLOUR = "#ff7f0e"
BASE_COLOUR = "#4c78a8"
MASKED_LABEL = "masked (−inf)"
_HTML_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})


def escape_label(text: str) -> str:
    """Make text safe for plotly, which reads a few HTML tags in labels: '<b>' is shown, not applied."""
    return str(text).translate(_HTML_ESCAPES)


def escape_labels(labels: Sequence[str]) -> list[str]:
    return [escape_label(label) for label in labels]


@dataclass(frozen=True)
class Scale:
    """A colour scale and its range: colorscale name, zmin, zmax, and how hover prints a value."""

    colorscale: Any
    zmin: float
    zmax: float
    hover_format: str = ".6g"


WEIGHTS = Scale(WEIGHT_SCALE, 0.0, 1.0, ".6f")


def symmetric_scale(values: np.ndarray, floor: float = 1e-6) -> Scale:
    """Diverging scale centred on 0 that covers every finite value of the array."""
    finite = values[np.isfinite(values)]
    bound = float(np.abs(finite).max()) if finite.size else 1.0
    bound = max(bound, floor)
    return Scale(DIVERGING_SCALE, -bound, bound)


def masked_cells(values: np.ndarray, allowed: np.ndarray | None) -> np.ndarray:
    """bool [R, C]: True where a cell is masked, from `allowed` when given, else where the value is -inf."""
    if allowed is not None:
        if allowed.shape != values.shape:
            raise ValueError(f"mask shape {allowed.shape} does not match values {values.shape}")
        return ~allowed.astype(bool)
    return np.isneginf(values)


def heatmap_traces(
    values: np.ndarray,
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    *,
    scale: Scale,
    allowed: np.ndarray | None = None,
    row_name: str = "query",
    col_name: str = "key",
    value_name: str = "weight",
    axes: str = "",
    coloraxis: str | None = None,
    prefix: str = "",
) -> list[go.Heatmap]:
    """The traces of one matrix [R, C]: a grey layer for masked cells (if any), then the values on top.

    Masked cells are NaN in the value layer, so the grey layer shows through with hover text 'masked (−inf)'.
    axes: '' for the first subplot, '2', '3', ... for the others. Labels are escaped here.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2:
        raise ValueError(f"a heatmap needs a 2-D array, got shape {values.shape}")
    if values.shape != (len(row_labels), len(col_labels)):
        raise ValueError(f"values {values.shape} do not fit {len(row_labels)} row and {len(col_labels)} column labels")
    masked = masked_cells(values, allowed)
    x, y = escape_labels(col_labels), escape_labels(row_labels)
    where = {"xaxis": f"x{axes}", "yaxis": f"y{axes}"}
    traces: list[go.Heatmap] = []
    if masked.any():
        traces.append(
            go.Heatmap(
                z=np.where(masked, 0.0, np.nan),
                x=x,
                y=y,
                colorscale=[[0.0, MASKED_COLOUR], [1.0, MASKED_COLOUR]],
                showscale=False,
                hoverongaps=False,
                hovertemplate=f"{prefix}{row_name} %{{y}}<br>{col_name} %{{x}}<br>{MASKED_LABEL}<extra></extra>",
                name=MASKED_LABEL,
                **where,
            )
        )
    colour: dict[str, Any] = (
        {"coloraxis": coloraxis}
        if coloraxis
        else {
            "colorscale": scale.colorscale,
            "zmin": scale.zmin,
            "zmax": scale.zmax,
            "colorbar": {"title": {"text": value_name}, "thickness": 14},
        }
    )
    traces.append(
        go.Heatmap(
            z=np.where(masked | ~np.isfinite(values), np.nan, values),
            x=x,
            y=y,
            hoverongaps=False,
            hovertemplate=(
                f"{prefix}{row_name} %{{y}}<br>{col_name} %{{x}}<br>"
                f"{value_name} %{{z:{scale.hover_format}}}<extra></extra>"
            ),
            name=value_name,
            **colour,
            **where,
        )
    )
    return traces


def masked_legend_entry() -> go.Scatter:
    """A legend item explaining the grey cells."""
    return go.Scatter(
        x=[None],
        y=[None],
        mode="markers",
        marker={"symbol": "square", "size": 12, "color": MASKED_COLOUR},
        name=MASKED_LABEL,
        showlegend=True,
        hoverinfo="skip",
    )


def category_axis(
    title: str | None = None, reversed_: bool = False, automargin: bool = True, **extra: Any
) -> dict[str, Any]:
    """A categorical axis (labels are never read as numbers or dates); reversed puts row 0 at the top.

    automargin=False: the figure sets its margins itself (see label_room), which spares plotly.js a second layout
    pass per axis when it draws; worth it on pages with many heatmaps.
    """
    axis: dict[str, Any] = {"type": "category", "automargin": automargin, "showgrid": False, **extra}
    if title:
        axis["title"] = {"text": title}
    if reversed_:
        axis["autorange"] = "reversed"
    return axis


def label_room(labels: Sequence[str], font_size: float = 12.0, angle: float = 0.0) -> int:
    """Pixels tick labels take away from the plot, measured across their axis (an estimate, slightly generous).

    angle 0: labels beside a y axis (their width). Otherwise labels under an x axis rotated by `angle` degrees
    (their height once rotated; 90 gives the full width).
    """
    chars = max((len(str(label)) for label in labels), default=0)
    width = chars * font_size * 0.6 + 8
    if angle == 0:
        return math.ceil(width)
    radians = math.radians(abs(angle))
    return math.ceil(width * math.sin(radians) + font_size * math.cos(radians) + 8)


AXIS_TITLE_ROOM = 26


def base_layout(title: str, height: int, *, legend_rows: int = 0, **extra: Any) -> dict[str, Any]:
    """Title at the top left; a horizontal legend (if any) between the title and the plot, never over the title.

    legend_rows: how many lines the legend may take, to reserve room for it in the top margin.
    """
    top = 50 + 24 * legend_rows
    return {
        "title": {
            "text": escape_label(title),
            "x": 0.0,
            "xanchor": "left",
            "yref": "container",
            "y": 1.0,
            "yanchor": "top",
            "pad": {"t": 12},
        },
        "height": height + 24 * legend_rows,
        "margin": {"l": 10, "r": 10, "t": top, "b": 10},
        "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "left", "x": 0.0},
        **extra,
    }


def matrix_height(rows: int, minimum: int = 260, per_row: int = 16, maximum: int = 720) -> int:
    return int(min(max(minimum, 120 + per_row * rows), maximum))


def heatmap_figure(
    values: np.ndarray,
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    *,
    title: str,
    scale: Scale,
    allowed: np.ndarray | None = None,
    row_name: str = "query",
    col_name: str = "key",
    value_name: str = "weight",
    row_title: str | None = None,
    col_title: str | None = None,
    height: int | None = None,
    show_col_labels: bool = True,
) -> go.Figure:
    """One matrix [R, C] as a heatmap: rows top to bottom, columns left to right, masked cells grey."""
    traces = heatmap_traces(
        values,
        row_labels,
        col_labels,
        scale=scale,
        allowed=allowed,
        row_name=row_name,
        col_name=col_name,
        value_name=value_name,
    )
    has_mask = len(traces) == 2
    data: list[Any] = [*traces, masked_legend_entry()] if has_mask else traces
    bottom = (label_room(col_labels, angle=60) if show_col_labels else 6) + (AXIS_TITLE_ROOM if col_title else 0)
    layout = base_layout(
        title,
        (height or matrix_height(len(row_labels))) + bottom // 2,
        legend_rows=1 if has_mask else 0,
        xaxis=category_axis(col_title, side="bottom", showticklabels=show_col_labels, tickangle=-60, automargin=False),
        yaxis=category_axis(row_title, reversed_=True, automargin=False),
        plot_bgcolor="rgba(0,0,0,0)",
    )
    layout["margin"].update(l=label_room(row_labels) + (AXIS_TITLE_ROOM if row_title else 0) + 6, b=bottom + 6)
    return go.Figure(data=data, layout=layout)


@dataclass(frozen=True)
class Grid:
    """Positions of rows x cols subplots in paper coordinates, built by hand (much faster than make_subplots)."""

    rows: int
    cols: int
    h_gap: float = 0.02
    v_gap: float = 0.06

    def axis_suffix(self, row: int, col: int) -> str:
        index = row * self.cols + col + 1
        return "" if index == 1 else str(index)

    def x_domain(self, col: int) -> list[float]:
        width = (1.0 - self.h_gap * (self.cols - 1)) / self.cols
        start = col * (width + self.h_gap)
        return [max(0.0, start), min(1.0, start + width)]  # clamped: float sums can land a hair past 1

    def y_domain(self, row: int) -> list[float]:
        height = (1.0 - self.v_gap * (self.rows - 1)) / self.rows
        top = 1.0 - row * (height + self.v_gap)
        return [max(0.0, top - height), min(1.0, top)]

    def axes(self, row: int, col: int, x_extra: dict[str, Any], y_extra: dict[str, Any]) -> dict[str, Any]:
        """The layout entries xaxisN / yaxisN of one panel."""
        suffix = self.axis_suffix(row, col)
        return {
            f"xaxis{suffix}": {**x_extra, "domain": self.x_domain(col), "anchor": f"y{suffix}"},
            f"yaxis{suffix}": {**y_extra, "domain": self.y_domain(row), "anchor": f"x{suffix}"},
        }

    def panel_title(self, row: int, col: int, text: str) -> dict[str, Any]:
        """An annotation centred above one panel."""
        x0, x1 = self.x_domain(col)
        return {
            "text": escape_label(text),
            "x": (x0 + x1) / 2,
            "y": self.y_domain(row)[1],
            "xref": "paper",
            "yref": "paper",
            "xanchor": "center",
            "yanchor": "bottom",
            "showarrow": False,
            "font": {"size": 12},
        }

    def row_title(self, row: int, text: str) -> dict[str, Any]:
        """An annotation left of a row of panels."""
        y0, y1 = self.y_domain(row)
        return {
            "text": escape_label(text),
            "x": 0.0,
            "y": (y0 + y1) / 2,
            "xref": "paper",
            "yref": "paper",
            "xanchor": "right",
            "yanchor": "middle",
            "showarrow": False,
            "textangle": -90,
            "xshift": -6,
            "font": {"size": 12},
        }


def frame_rows(fig: go.Figure, first: int, last: int) -> None:
    """Draw a highlight frame across the whole width of a heatmap around its rows first..last (inclusive)."""
    fig.add_shape(
        type="rect",
        xref="paper",
        yref="y",
        x0=0,
        x1=1,
        y0=first - 0.5,
        y1=last + 0.5,
        line={"color": HIGHLIGHT_COLOUR, "width": 3},
        fillcolor="rgba(0,0,0,0)",
    )
