"""Pieces every figure shares: label escaping, colour scales, heatmaps with a masked-cell layer, grid layouts."""

from __future__ import annotations

import math
import unicodedata
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
# Text on the app's charts, legible on both of Streamlit's backgrounds (WCAG contrast 4.30 on white, 4.39 on the
# dark theme's #0e1117): charts draw on a transparent paper, so one colour must serve both themes (see house_style).
TEXT_COLOUR = "#757a85"
FONT_FAMILY = '"Source Sans", sans-serif'  # Streamlit's own text font, which the page has loaded
FAINT_LINE = "rgba(128, 128, 128, 0.3)"  # grid lines and ticks, visible on both backgrounds without competing
LIGHT_HOVER: dict[str, Any] = {"bgcolor": "#ffffff", "bordercolor": "#555555", "font": {"color": "#111111"}}
Highlight = tuple[int | None, int | None] | None  # (query row, key column) a user chose; None: nothing chosen
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


def plot_values(values: Any) -> np.ndarray:
    """values as the float array a figure sends: float32 data stays float32 (plotly sends an array as its raw bytes,
    so this halves them and keeps every digit), anything wider becomes float64."""
    array = np.asarray(values)
    dtype = np.float32 if np.result_type(array.dtype, np.float32) == np.float32 else np.float64
    return array.astype(dtype, copy=False)


def masked_layer_z(masked: np.ndarray, dtype: Any = np.float32) -> np.ndarray:
    """The z of a grey masked layer: 0 where a cell is masked, NaN (no cell, no hover) elsewhere."""
    return np.where(masked, 0.0, np.nan).astype(dtype)


def masked_cells(values: np.ndarray, allowed: np.ndarray | None) -> np.ndarray:
    """bool [R, C]: True where a cell is masked, from `allowed` when given, else where the value is -inf."""
    if allowed is not None:
        if allowed.shape != values.shape:
            raise ValueError(f"mask shape {allowed.shape} does not match values {values.shape}")
        return ~allowed.astype(bool)
    return np.isneginf(values)


def value_layer_z(values: np.ndarray, allowed: np.ndarray | None = None) -> np.ndarray:
    """The z of a heatmap's value layer [R, C]: the values (as plot_values sends them), NaN where a cell is masked
    (by `allowed`, or -inf) or not finite, so the grey masked layer under it shows through."""
    values = plot_values(values)
    return np.where(masked_cells(values, allowed) | ~np.isfinite(values), np.nan, values).astype(values.dtype)


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
    values = plot_values(values)
    if values.ndim != 2:
        raise ValueError(f"a heatmap needs a 2-D array, got shape {values.shape}")
    if values.shape != (len(row_labels), len(col_labels)):
        raise ValueError(f"values {values.shape} do not fit {len(row_labels)} row and {len(col_labels)} column labels")
    where = {"x": escape_labels(col_labels), "y": escape_labels(row_labels), "xaxis": f"x{axes}", "yaxis": f"y{axes}"}
    return layer_pair(
        values,
        allowed,
        where=where,
        names=f"{prefix}{row_name} %{{y}}<br>{col_name} %{{x}}",
        scale=scale,
        value_name=value_name,
        coloraxis=coloraxis,
        colorbar={"title": {"text": value_name}, "thickness": 14},
    )


def layer_pair(
    values: np.ndarray,
    allowed: np.ndarray | None,
    *,
    where: dict[str, Any],
    names: str,
    scale: Scale,
    value_name: str,
    coloraxis: str | None,
    colorbar: dict[str, Any] | None,
) -> list[go.Heatmap]:
    """A matrix [R, C] as a grey layer for its masked cells (if any) under its values (NaN where masked), both
    placed by `where` (x / y, or x0 / dx / y0 / dy, and the axes) and hovered as `names` then the weight or
    'masked (−inf)'. Without a coloraxis the values get the scale's colours and `colorbar`, or no colour bar."""
    values = plot_values(values)
    masked = masked_cells(values, allowed)
    traces: list[go.Heatmap] = []
    if masked.any():
        traces.append(
            go.Heatmap(
                z=masked_layer_z(masked),
                colorscale=[[0.0, MASKED_COLOUR], [1.0, MASKED_COLOUR]],
                showscale=False,
                hoverongaps=False,
                hovertemplate=f"{names}<br>{MASKED_LABEL}<extra></extra>",
                name=MASKED_LABEL,
                **where,
            )
        )
    colour: dict[str, Any] = {"coloraxis": coloraxis}
    if not coloraxis:
        bar = {"colorbar": colorbar} if colorbar else {"showscale": False}
        colour = {"colorscale": scale.colorscale, "zmin": scale.zmin, "zmax": scale.zmax, **bar}
    traces.append(
        go.Heatmap(
            z=value_layer_z(values, allowed),
            hoverongaps=False,
            hovertemplate=f"{names}<br>{value_name} %{{z:{scale.hover_format}}}<extra></extra>",
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


TICK_FONT_PX = 11  # token labels beside and under heatmaps
CELL_PX = 18  # one heatmap cell per token: an 11 px label is about 14 px tall, so neighbours never touch
MAX_CELL_PX = 40  # short sentences get larger cells, up to this
MIN_PLOT_PX = 220  # the plot area of a heatmap is at least this tall
TITLE_FONT_PX = 17
TITLE_LINE_PX = 22
TITLE_ROOM_PX = 50  # the top margin base_layout keeps for a one-line title (part of the height it is given)
AXIS_TITLE_ROOM = 26


DIMENSION_TICK_STEP = 4  # vectors per token label every fourth of their dimensions


def dimension_labels(count: int, prefix: str = "d") -> list[str]:
    """['d0', 'd1', ...] for the columns of a vector per token."""
    return [f"{prefix}{i}" for i in range(count)]


def text_px(text: str, font_size: float = TICK_FONT_PX) -> float:
    """Estimated width in pixels of one line of text (generous): wide East Asian characters count double."""
    units = sum(1.0 if unicodedata.east_asian_width(char) in "WF" else 0.62 for char in str(text))
    return units * font_size


def label_room(labels: Sequence[str], font_size: float = 12.0, angle: float = 0.0) -> int:
    """Pixels tick labels take away from the plot, measured across their axis (an estimate, slightly generous).

    angle 0: labels beside a y axis (their width). Otherwise labels under an x axis rotated by `angle` degrees
    (their height once rotated; 90 gives the full width).
    """
    width = max((text_px(label, font_size) for label in labels), default=0.0) + 8
    if angle == 0:
        return math.ceil(width)
    radians = math.radians(abs(angle))
    return math.ceil(width * math.sin(radians) + font_size * math.cos(radians) + 8)


def colorbar_room(title: str) -> int:
    """Pixels a vertical colour bar takes right of the plot: bar, tick numbers and its title above it."""
    return math.ceil(max(64.0, text_px(title, 12) + 16)) + 20


def wrap_title(title: str, width: int, font_size: float = TITLE_FONT_PX) -> list[str]:
    """The title cut into lines (at spaces) that fit `width` pixels; a single word longer than that stays whole."""
    room = max(width - 24, 80)
    lines: list[str] = []
    for word in str(title).split(" "):
        if lines and text_px(lines[-1] + " " + word, font_size) <= room:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines or [""]


def base_layout(
    title: str, height: int, *, legend_rows: int = 0, width: int | None = None, **extra: Any
) -> dict[str, Any]:
    """Title at the top left; a horizontal legend (if any) between the title and the plot, never over the title.

    legend_rows: how many lines the legend may take, to reserve room for it in the top margin.
    width: the narrowest the figure will be drawn (pixels, see viz_app.ui.chart); the title is wrapped to fit it
    and the figure grows by the extra title lines. None: the title stays on one line, as before.
    """
    lines = wrap_title(title, width) if width else [str(title)]
    extra_lines = len(lines) - 1
    top = TITLE_ROOM_PX + 24 * legend_rows + TITLE_LINE_PX * extra_lines
    layout: dict[str, Any] = {
        "title": {
            "text": "<br>".join(escape_label(line) for line in lines),
            "x": 0.0,
            "xanchor": "left",
            "yref": "container",
            "y": 1.0,
            "yanchor": "top",
            # plotly centres a title of several lines on its anchor line: push it down by half the extra lines
            "pad": {"t": 12 + math.ceil(TITLE_LINE_PX * extra_lines / 2)},
            "font": {"size": TITLE_FONT_PX},
        },
        "height": height + 24 * legend_rows + TITLE_LINE_PX * extra_lines,
        "margin": {"l": 10, "r": 10, "t": top, "b": 10},
        "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "left", "x": 0.0},
        **extra,
    }
    if width:
        layout["width"] = int(width)
    return layout


def matrix_height(rows: int, minimum: int = 260, per_row: int = 16, maximum: int = 720) -> int:
    return int(min(max(minimum, 120 + per_row * rows), maximum))


def cell_size(count: int, minimum: float = CELL_PX, span: float = MIN_PLOT_PX, maximum: float = MAX_CELL_PX) -> float:
    """Pixels per cell along an axis of `count` cells: at least `minimum` (room for a label), larger for short
    sentences so the plot is at least `span` long, never above `maximum`."""
    return max(minimum, min(maximum, span / max(count, 1)))


# Our figures size their margins to their labels, so plotly's default check for tick labels past the chart's edge
# ("hide past div") never hides one; but it measures every label in the page: the Attention page's head grid drew in
# 255 ms with it and 106 ms without (bench/figure_draw.py). Every axis with token labels skips it.
KEEP_LABELS: dict[str, Any] = {"ticklabeloverflow": "allow"}


def label_ticks(labels: Sequence[str], step: int = 1, font_size: float = TICK_FONT_PX) -> dict[str, Any]:
    """Axis entries that draw every `step`-th label (all of them by default) and never let plotly thin them out.

    The labels must be the axis' categories as the traces hold them (escaped); they are returned unchanged.
    """
    chosen = list(labels)[:: max(1, step)]
    return {"tickmode": "array", "tickvals": chosen, "ticktext": chosen, "tickfont": {"size": font_size}, **KEEP_LABELS}


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
    plot_width: int | None = None,
    col_tick_step: int = 1,
    row_tick_step: int = 1,
    show_scale: bool = True,
    highlight_row: int | None = None,
    highlight_col: int | None = None,
) -> go.Figure:
    """One matrix [R, C] as a heatmap: rows top to bottom, columns left to right, masked cells grey.

    Sized by its labels: each row and column gets at least CELL_PX pixels, so every label is drawn (every
    `row_tick_step`-th / `col_tick_step`-th one when given, for numeric axes such as positions) and none touches
    its neighbour; layout.width is the narrowest the figure may be drawn (wider than the page: it scrolls in its
    own box, see viz_app.ui.chart). height: the plot area's height instead of one cell per row. plot_width: the
    plot area's width instead of one cell per column (for columns without labels, such as model dimensions).
    show_scale=False: no colour bar (and no room kept for one). highlight_row / highlight_col: a row and a column
    to outline (a token the user chose), None for none.
    """
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
    rows, cols = len(row_labels), len(col_labels)
    row_step, col_step = max(1, row_tick_step), max(1, col_tick_step)
    plot_h = height or round(rows * cell_size(rows, minimum=CELL_PX / row_step))
    if plot_width is None:
        plot_width = round(cols * cell_size(cols, minimum=CELL_PX / col_step, span=MIN_PLOT_PX / 2))
    left = label_room(list(row_labels)[::row_step], TICK_FONT_PX) + 6
    left += AXIS_TITLE_ROOM if row_title else 0
    bottom = (label_room(list(col_labels)[::col_step], TICK_FONT_PX, angle=90) if show_col_labels else 6) + 6
    bottom += AXIS_TITLE_ROOM if col_title else 0
    right = colorbar_room(value_name) if show_scale else 10
    width = left + plot_width + right + 10
    layout = base_layout(
        title,
        TITLE_ROOM_PX + plot_h + bottom,
        legend_rows=1 if has_mask else 0,
        width=width,
        xaxis=category_axis(
            col_title,
            side="bottom",
            showticklabels=show_col_labels,
            tickangle=-90,
            automargin=False,
            **label_ticks(escape_labels(col_labels), col_tick_step),
        ),
        yaxis=category_axis(
            row_title, reversed_=True, automargin=False, **label_ticks(escape_labels(row_labels), row_tick_step)
        ),
        plot_bgcolor="rgba(0,0,0,0)",
        shapes=cross_shapes(highlight_row, highlight_col, rows, cols),
    )
    layout["margin"].update(l=left, b=bottom, r=10)
    value_layer = traces[-1]
    if show_scale:  # a bar of fixed length at the top right: on a tall matrix it stays near the title
        value_layer.colorbar.update(lenmode="pixels", len=min(plot_h, 320), y=1.0, yanchor="top")
    else:
        value_layer.showscale = False
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
        return panel_title_annotation(text, self.x_domain(col), self.y_domain(row)[1])

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


HIGHLIGHT_LINE_PX = 2


def cross_shapes(
    row: int | None,
    col: int | None,
    n_rows: int,
    n_cols: int,
    *,
    x_offset: float = 0.0,
    y_offset: float = 0.0,
    xref: str = "x",
    yref: str = "y",
    colour: str = HIGHLIGHT_COLOUR,
) -> list[dict[str, Any]]:
    """Outlines of one row and one column of a matrix [n_rows, n_cols] drawn as a heatmap.

    Cell (i, j) is centred on (x_offset + j, y_offset + i) in data coordinates: category axes place category k at
    k, and a tiled panel starts at its (left, top). None (or an index outside the matrix) leaves that outline out.
    """
    shapes: list[dict[str, Any]] = []
    line = {"color": colour, "width": HIGHLIGHT_LINE_PX}

    def rect(x0: float, x1: float, y0: float, y1: float) -> dict[str, Any]:
        return {
            "type": "rect",
            "xref": xref,
            "yref": yref,
            "x0": x_offset + x0,
            "x1": x_offset + x1,
            "y0": y_offset + y0,
            "y1": y_offset + y1,
            "line": line,
            "fillcolor": "rgba(0,0,0,0)",
            "layer": "above",
        }

    if row is not None and 0 <= row < n_rows:
        shapes.append(rect(-0.5, n_cols - 0.5, row - 0.5, row + 0.5))
    if col is not None and 0 <= col < n_cols:
        shapes.append(rect(col - 0.5, col + 0.5, -0.5, n_rows - 0.5))
    return shapes


CLICK_TARGET_NAME = "click target"
TRANSPARENT = "rgba(0,0,0,0)"


def click_targets(
    x: Sequence[Any],
    y: Sequence[Any],
    customdata: Sequence[Sequence[Any]],
    hover: Sequence[str],
    *,
    size_px: float,
) -> go.Scatter:
    """Invisible square markers, one per clickable item (a heatmap cell, a panel of a tiled grid), centred on it.

    Plotly selects scatter points on a click but not heatmap cells, so a figure that should answer a click on a
    cell draws these over its heatmap: each marker is `size_px` wide, fully transparent, carries its item's
    `customdata` (what the page needs to know what was clicked) and shows `hover` (plotly hover text, already
    escaped) in a light label of its own. x, y, customdata and hover: one entry per item.
    """
    if not len(x) == len(y) == len(customdata) == len(hover):
        raise ValueError("click targets need one x, y, customdata and hover text per item")
    invisible = {"opacity": 0.0}
    return go.Scatter(
        x=list(x),
        y=list(y),
        mode="markers",
        marker={"symbol": "square", "size": float(size_px), "color": TRANSPARENT, "line": {"width": 0}},
        customdata=[list(item) for item in customdata],
        text=list(hover),
        hovertemplate="%{text}<extra></extra>",
        hoverlabel=LIGHT_HOVER,
        selected={"marker": invisible},
        unselected={"marker": invisible},
        showlegend=False,
        name=CLICK_TARGET_NAME,
    )


def panel_title_annotation(text: str, x_domain: Sequence[float], top: float) -> dict[str, Any]:
    """An annotation (escaped text) centred above the panel whose x domain is x_domain and whose top is `top`,
    both in paper coordinates."""
    return {
        "text": escape_label(text),
        "x": (x_domain[0] + x_domain[1]) / 2,
        "y": top,
        "xref": "paper",
        "yref": "paper",
        "xanchor": "center",
        "yanchor": "bottom",
        "showarrow": False,
        "font": {"size": 12},
    }


def house_style(fig: go.Figure) -> None:
    """Fill in the look every chart shares where the figure left it unset (what the figure sets always wins):
    a transparent paper and plot area, so the chart sits on the page's own background in the light and the dark
    theme; Streamlit's font in TEXT_COLOUR; faint grid lines and ticks; axes that make room for their labels
    unless the figure sized its margins itself (automargin=False); a light hover label; and no template.

    The app sends charts with theme=None (viz_app.ui.plotly_chart): Streamlit's theme travels as a template
    object, which its chart component rebuilds, as a new object, after the first draw, and plotly.js redraws a
    whole figure whose template is a new object. Without a template that second pass is cheap (bench/figure_draw.py).
    """
    fig.layout.template = None
    layout = fig.layout
    for name in ("paper_bgcolor", "plot_bgcolor"):
        if layout[name] is None:
            layout[name] = TRANSPARENT
    if layout.font.family is None:
        layout.font.family = FONT_FAMILY
    if layout.font.color is None:
        layout.font.color = TEXT_COLOUR
    if layout.font.size is None:
        layout.font.size = 12
    if layout.hoverlabel.bgcolor is None:
        layout.hoverlabel.update(LIGHT_HOVER)
    layout.modebar.update(bgcolor=TRANSPARENT, color=TEXT_COLOUR, activecolor=BASE_COLOUR)

    def axis_style(axis: Any) -> None:
        for name, value in (("gridcolor", FAINT_LINE), ("zerolinecolor", FAINT_LINE), ("tickcolor", FAINT_LINE),
                            ("linecolor", FAINT_LINE), ("automargin", True)):  # fmt: skip
            if axis[name] is None:
                axis[name] = value

    fig.for_each_xaxis(axis_style)
    fig.for_each_yaxis(axis_style)
