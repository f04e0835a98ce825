"""Scaled dot-product attention of every head of one layer, stage by stage, in one plotly figure: a frame per head.

Panels in reading order: Q, K, V; Q Kᵀ and its division by √d_k; the mask and the scores plus the mask; the softmax
and the weights times V. A frame replaces the numbers of every panel and the note under the figure (the mask and the
orange outlines are the same for every head of a layer), so plotly's own slider flips through the layer's heads in
the browser, without a server round trip. Each panel keeps one colour scale over all heads of the layer, so heads
compare at a glance. Laid out in pixels like every heatmap of the app: one cell per token, every token labelled, a
group of panels side by side when it fits the main column; layout.width is the narrowest the figure may be drawn.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import plotly.graph_objects as go

from viz_app.figures.common import (
    BASE_COLOUR,
    DIMENSION_TICK_STEP,
    DIVERGING_SCALE,
    TICK_FONT_PX,
    TITLE_FONT_PX,
    WEIGHT_SCALE,
    Highlight,
    Scale,
    category_axis,
    cell_size,
    colorbar_room,
    cross_shapes,
    dimension_labels,
    escape_label,
    escape_labels,
    heatmap_traces,
    label_room,
    label_ticks,
    panel_title_annotation,
    symmetric_scale,
    value_layer_z,
    wrap_title,
)

if TYPE_CHECKING:
    from model.inspect.trace import AttentionStages

MAIN_COLUMN_PX = 820  # the page's main column at 1280 px with the sidebar open: a group wider than this is split
VECTOR_DIMENSION_PX = 6  # one column per dimension of Q, K, V and the output; every fourth is labelled
MIN_VECTOR_PX = 120
PANEL_GAP_PX = 18
TITLE_PX = 24  # a panel's title above it
ROW_GAP_PX = 12
TOP_PX = 128  # the figure's title and the head slider
NOTE_FONT_PX = 13
NOTE_LINE_PX = 19
BAR_GAP_PX = 6
MASK_SCALE = Scale([[0.0, "#f0f0f0"], [1.0, "#f0f0f0"]], -1.0, 1.0, ".0f")  # the mask's 0 cells: light


@dataclass(frozen=True)
class StagePanel:
    """One panel: its numbers for every head ([H] arrays [R, C]; one array for a panel no head changes), labels and
    colour axis (None: fixed colours, no bar), the title of its colour bar (None: no bar beside it)."""

    name: str
    title: str
    values: tuple[np.ndarray, ...]
    row_labels: tuple[str, ...]
    col_labels: tuple[str, ...]
    value_name: str
    row_name: str
    col_name: str
    coloraxis: str | None
    bar: str | None
    allowed: np.ndarray | None
    highlight: tuple[int | None, int | None]
    col_step: int = 1
    vector: bool = False

    @property
    def per_head(self) -> bool:
        return len(self.values) > 1


@dataclass(frozen=True)
class Placed:
    """A panel's place: its axis suffix and its paper domains."""

    panel: StagePanel
    suffix: str
    x: tuple[float, float]
    y: tuple[float, float]
    row_labels_shown: bool = True


def stage_panels(
    stages: Sequence[AttentionStages],
    query_labels: Sequence[str],
    key_labels: Sequence[str],
    *,
    scale_text: str,
    highlight: Highlight = None,
) -> list[list[StagePanel]]:
    """The panels, grouped as they are read (Q K V, the scores, the mask, the softmax and its use), for the heads
    of one layer in order. The mask is the same for every head: one array."""
    query, key = highlight or (None, None)
    q_rows, k_rows = tuple(query_labels), tuple(key_labels)
    dims = tuple(dimension_labels(stages[0].q.shape[1]))
    allowed = np.isfinite(stages[0].masked_scores)

    def panel(name: str, title: str, attribute: str, rows: tuple[str, ...], cols: tuple[str, ...], **kw: Any):
        values = tuple(np.asarray(getattr(stage, attribute), dtype=np.float32) for stage in stages)
        return StagePanel(name=name, title=title, values=values, row_labels=rows, col_labels=cols, **kw)

    vector = {"row_name": "token", "col_name": "dimension", "col_step": DIMENSION_TICK_STEP, "vector": True}
    matrix = {"row_name": "query", "col_name": "key", "allowed": None, "highlight": (query, key)}
    d_k = len(dims)
    return [
        [
            panel("q", f"Q  ({len(q_rows)} × {d_k})", "q", q_rows, dims, value_name="Q", coloraxis="coloraxis",
                  bar=None, allowed=None, highlight=(query, None), **vector),
            panel("k", f"K  ({len(k_rows)} × {d_k})", "k", k_rows, dims, value_name="K", coloraxis="coloraxis",
                  bar=None, allowed=None, highlight=(key, None), **vector),
            panel("v", f"V  ({len(k_rows)} × {d_k})", "v", k_rows, dims, value_name="V", coloraxis="coloraxis",
                  bar="Q, K, V", allowed=None, highlight=(key, None), **vector),
        ],
        [
            panel("raw", "Q Kᵀ: raw scores", "raw_scores", q_rows, k_rows, value_name="raw score",
                  coloraxis="coloraxis2", bar="raw", **matrix),
            panel("scaled", f"Divided by {scale_text}", "scaled_scores", q_rows, k_rows, value_name="scaled score",
                  coloraxis="coloraxis3", bar="scaled", **matrix),
        ],
        [
            StagePanel("mask", "The mask added to the scores", (np.where(allowed, 0.0, -np.inf).astype(np.float32),),
                       q_rows, k_rows, "added to the score", "query", "key", None, None, allowed, (query, key)),
            panel("masked", "Scaled scores + mask", "masked_scores", q_rows, k_rows, value_name="score + mask",
                  coloraxis="coloraxis4", bar="+ mask", **matrix),
        ],
        [
            panel("weights", "softmax(row): the attention weights", "weights", q_rows, k_rows, value_name="weight",
                  coloraxis="coloraxis5", bar="weight", **{**matrix, "allowed": allowed}),
            panel("output", "Weights × V: the head's output", "output", q_rows, dims, value_name="output",
                  coloraxis="coloraxis6", bar="output", allowed=None, highlight=(query, None), **vector),
        ],
    ]  # fmt: skip


def panel_size(panel: StagePanel, cell: float) -> tuple[int, int]:
    """(width, height) in pixels of a panel's plot area."""
    rows, cols = len(panel.row_labels), len(panel.col_labels)
    width = max(MIN_VECTOR_PX, VECTOR_DIMENSION_PX * cols) if panel.vector else round(cols * cell)
    return width, round(rows * cell)


def shares_rows(panel: StagePanel, before: StagePanel | None) -> bool:
    """Whether the panel just left of this one, with no colour bar between them, labels the same rows."""
    return before is not None and before.row_labels == panel.row_labels and before.bar is None


def left_room(panel: StagePanel, before: StagePanel | None) -> int:
    """Room for the panel's row labels, or a gap when the panel to its left labels the same rows."""
    if shares_rows(panel, before):
        return PANEL_GAP_PX
    return label_room(escape_labels(panel.row_labels), TICK_FONT_PX) + 6


def right_room(panel: StagePanel) -> int:
    return colorbar_room(panel.bar) + BAR_GAP_PX if panel.bar else 0


def bottom_room(panel: StagePanel) -> int:
    shown = escape_labels(panel.col_labels)[:: panel.col_step]
    return label_room(shown, TICK_FONT_PX, angle=90) + 6


def row_width(row: Sequence[StagePanel], cell: float) -> int:
    total, before = 0, None
    for panel in row:
        total += left_room(panel, before) + panel_size(panel, cell)[0] + right_room(panel)
        before = panel
    return total


def pack_rows(groups: Sequence[Sequence[StagePanel]], cell: float) -> list[list[StagePanel]]:
    """Each group on one row when it fits MAIN_COLUMN_PX, otherwise cut into rows that do (a panel wider than
    the column gets a row of its own)."""
    rows: list[list[StagePanel]] = []
    for group in groups:
        row: list[StagePanel] = []
        for panel in group:
            if row and row_width([*row, panel], cell) > MAIN_COLUMN_PX:
                rows.append(row)
                row = []
            row.append(panel)
        rows.append(row)
    return rows


@dataclass(frozen=True)
class StagePlan:
    """Where every panel sits; the figure's size in pixels; each head's note cut into lines of its width."""

    placed: list[Placed]
    width: int
    height: int
    plot_height: int
    note_height: int
    note_lines: list[list[str]]


def plan_stages(groups: Sequence[Sequence[StagePanel]], notes: Sequence[str]) -> StagePlan:
    """Rows of panels from the top, every panel at its pixel size; the paper spans the whole figure width; under
    the panels, room for the longest of the heads' notes wrapped to that width."""
    tokens = max(len(panel.row_labels) for group in groups for panel in group)
    cell = cell_size(tokens)
    rows = pack_rows(groups, cell)
    width = max(480, *(row_width(row, cell) for row in rows))
    lines = [wrap_title(note, width, NOTE_FONT_PX) for note in notes]
    heights = [
        TITLE_PX + max(panel_size(p, cell)[1] for p in row) + max(bottom_room(p) for p in row) + ROW_GAP_PX
        for row in rows
    ]
    plot_height = sum(heights)
    note_height = NOTE_LINE_PX * max((len(item) for item in lines), default=0) + 12
    placed: list[Placed] = []
    top = 0
    for row, row_height in zip(rows, heights, strict=True):
        x, before = 0, None
        for panel in row:
            w, h = panel_size(panel, cell)
            x += left_room(panel, before)
            suffix = "" if not placed else str(len(placed) + 1)
            y1 = 1.0 - (top + TITLE_PX) / plot_height
            y0 = 1.0 - (top + TITLE_PX + h) / plot_height
            shown = not shares_rows(panel, before)
            placed.append(Placed(panel, suffix, (x / width, (x + w) / width), (max(0.0, y0), y1), shown))
            x += w + right_room(panel)
            before = panel
        top += row_height
    return StagePlan(placed, width, TOP_PX + plot_height + note_height, plot_height, note_height, lines)


def colour_axes(plan: StagePlan) -> dict[str, Any]:
    """One colour axis per panel kind, its range over every head; its bar right beside the panel that names it."""
    axes: dict[str, Any] = {}
    members: dict[str, list[np.ndarray]] = {}
    for place in plan.placed:
        if place.panel.coloraxis:
            members.setdefault(place.panel.coloraxis, []).extend(place.panel.values)
    for place in plan.placed:
        panel = place.panel
        if not panel.coloraxis or panel.coloraxis in axes:
            continue
        if panel.name == "weights":
            low, high, scale = 0.0, 1.0, WEIGHT_SCALE
        else:
            signed = symmetric_scale(np.concatenate([values.ravel() for values in members[panel.coloraxis]]))
            low, high, scale = signed.zmin, signed.zmax, DIVERGING_SCALE
        axes[panel.coloraxis] = {"colorscale": scale, "cmin": low, "cmax": high}
    for place in plan.placed:
        panel = place.panel
        if panel.bar and panel.coloraxis:
            axes[panel.coloraxis]["colorbar"] = {
                "title": {"text": escape_label(panel.bar), "side": "top"},
                "thickness": 12,
                "x": place.x[1] + BAR_GAP_PX / plan.width,
                "xanchor": "left",
                "y": place.y[1],
                "yanchor": "top",
                "len": max(0.02, place.y[1] - place.y[0]),
            }
    for axis in axes.values():
        if "colorbar" not in axis:
            axis["showscale"] = False
    return axes


def panel_traces(place: Placed, head: int) -> list[go.Heatmap]:
    """The panel's traces for one head: its grey masked layer (if any), then its numbers (always last)."""
    panel = place.panel
    values = panel.values[head if panel.per_head else 0]
    traces = heatmap_traces(
        values,
        panel.row_labels,
        panel.col_labels,
        scale=MASK_SCALE if panel.coloraxis is None else Scale(DIVERGING_SCALE, -1.0, 1.0),
        allowed=panel.allowed,
        row_name=panel.row_name,
        col_name=panel.col_name,
        value_name=panel.value_name,
        axes=place.suffix,
        coloraxis=panel.coloraxis,
        prefix=f"{escape_label(panel.title.split(':')[0])}<br>",
    )
    if panel.coloraxis is None:
        traces[-1].showscale = False
    return traces


def axes_of(place: Placed) -> dict[str, Any]:
    panel = place.panel
    suffix = place.suffix
    cols = escape_labels(panel.col_labels)
    return {
        f"xaxis{suffix}": {
            **category_axis(tickangle=-90, automargin=False, **label_ticks(cols, panel.col_step)),
            "domain": list(place.x),
            "anchor": f"y{suffix}",
        },
        f"yaxis{suffix}": {
            **category_axis(reversed_=True, automargin=False, **label_ticks(escape_labels(panel.row_labels))),
            "domain": list(place.y),
            "anchor": f"x{suffix}",
            "showticklabels": place.row_labels_shown,
            **({} if place.row_labels_shown else {"ticks": ""}),  # the panel to the left labels these rows
        },
    }


def annotations_for(plan: StagePlan, note: list[str]) -> list[dict[str, Any]]:
    """The panel titles and one head's note under the figure (escaped, line by line)."""
    titles = [panel_title_annotation(place.panel.title, place.x, place.y[1]) for place in plan.placed]
    text = "<br>".join(escape_label(line) for line in note)
    below = {
        "text": text,
        "x": 0.0,
        "y": 0.0,
        "xref": "paper",
        "yref": "paper",
        "xanchor": "left",
        "yanchor": "top",
        "yshift": -8,
        "align": "left",
        "showarrow": False,
        "font": {"size": NOTE_FONT_PX},
    }
    return [*titles, below]


def show_head() -> dict[str, Any]:
    """Animation options for a head's frame: no server, no tween; a full redraw, since heatmaps change."""
    return {"mode": "immediate", "frame": {"duration": 0, "redraw": True}, "transition": {"duration": 0}}


def stage_frames_figure(
    stages: Sequence[AttentionStages],
    query_labels: Sequence[str],
    key_labels: Sequence[str],
    *,
    title: str,
    head: int,
    scale_text: str,
    notes: Sequence[str],
    highlight: Highlight = None,
) -> go.Figure:
    """Every head of one layer stage by stage: stages[h] is head h; the figure opens at `head` and its slider
    shows any other (frames named '0', '1', ...). notes[h]: a plain sentence about head h, shown under the panels.
    highlight: (query row, key column) outlined in every panel that has them."""
    if not stages or len(notes) != len(stages) or not 0 <= head < len(stages):
        raise ValueError(f"need one note per head and a head in 0..{len(stages) - 1}")
    groups = stage_panels(stages, query_labels, key_labels, scale_text=scale_text, highlight=highlight)
    plan = plan_stages(groups, notes)
    lines = plan.note_lines
    data: list[go.Heatmap] = []
    moving: list[int] = []
    layout: dict[str, Any] = {}
    shapes: list[dict[str, Any]] = []
    for place in plan.placed:
        traces = panel_traces(place, head)
        data.extend(traces)
        if place.panel.per_head:
            moving.append(len(data) - 1)
        layout.update(axes_of(place))
        row, col = place.panel.highlight
        shapes += cross_shapes(
            row, col, len(place.panel.row_labels), len(place.panel.col_labels),
            xref=f"x{place.suffix}", yref=f"y{place.suffix}",
        )  # fmt: skip
    per_head = [place for place in plan.placed if place.panel.per_head]
    frames = [
        {
            "name": str(h),
            "data": [
                {"type": "heatmap", "z": value_layer_z(place.panel.values[h], place.panel.allowed)}
                for place in per_head
            ],
            "traces": moving,
            "layout": {"annotations": annotations_for(plan, lines[h])},
        }
        for h in range(len(stages))
    ]
    slider = {
        "active": head,
        "x": 0.0,
        "len": min(1.0, max(0.3, 60 * len(stages) / plan.width)),
        "y": 1.0 + (TOP_PX - 44) / plan.plot_height,
        "yanchor": "top",
        "pad": {"t": 0, "b": 0},
        "currentvalue": {"prefix": "Head ", "font": {"size": 14, "color": BASE_COLOUR}, "xanchor": "left"},
        "font": {"size": 12, "color": BASE_COLOUR},  # mid blue: legible on the light and on the dark theme
        "transition": {"duration": 0},
        "steps": [
            {"label": str(h), "value": str(h), "method": "animate", "args": [[str(h)], show_head()]}
            for h in range(len(stages))
        ],
    }
    fig = go.Figure(
        data=data,
        layout={
            "title": {
                "text": escape_label(title),
                **{"x": 0.0, "xanchor": "left", "yref": "container", "y": 1.0, "yanchor": "top", "pad": {"t": 12}},
                "font": {"size": TITLE_FONT_PX},
            },
            "height": plan.height,
            "width": plan.width,
            "margin": {"l": 0, "r": 0, "t": TOP_PX, "b": plan.note_height},
            "annotations": annotations_for(plan, lines[head]),
            "shapes": shapes,
            "sliders": [slider],
            "plot_bgcolor": "rgba(0,0,0,0)",
            **layout,
            **colour_axes(plan),
        },
        frames=frames,
    )
    return fig
