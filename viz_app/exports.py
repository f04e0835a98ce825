"""What the pages let a user download: a chart's matrix as CSV with labelled rows and columns, the trace as JSON.
Pure functions of plain values and figures; the pages pass them (as callables) to st.download_button."""

from __future__ import annotations

import csv
import html
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import plotly.graph_objects as go

from viz_app.figures.common import MASKED_LABEL

_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def position_labels(tokens: Sequence[str]) -> list[str]:
    """'3 ▁dog' per token: the position first, so repeated tokens stay distinct and no cell starts with a character
    a spreadsheet would read as a formula (=, +, -, @)."""
    return [f"{position} {token}" for position, token in enumerate(tokens)]


def matrix_csv(matrix: np.ndarray, row_labels: Sequence[str], column_labels: Sequence[str], corner: str) -> str:
    """matrix [R, C] as CSV text: a header row (corner, then the column labels), then one row per label.

    Values are written with full float32 precision (repr of the float); NaN (a cell that was never computed) is
    written as an empty cell.
    """
    values = np.asarray(matrix, dtype=np.float64)
    if values.ndim != 2 or values.shape != (len(row_labels), len(column_labels)):
        raise ValueError(f"matrix {values.shape} does not match {len(row_labels)} x {len(column_labels)} labels")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([corner, *column_labels])
    for label, row in zip(row_labels, values, strict=True):
        writer.writerow([label, *("" if np.isnan(v) else repr(float(np.float32(v))) for v in row)])
    return out.getvalue()


def file_name(*parts: object, suffix: str) -> str:
    """A safe download name from its parts: 'multi30k-en-de_decoder.1.cross_attn_head3.csv'."""
    stem = "_".join(_UNSAFE_NAME.sub("-", str(part)).strip("-") for part in parts if str(part))
    return f"{stem or 'download'}.{suffix}"


# ---------------------------------------------------------------------------------------------------------------
# A chart's numbers as CSV, read from the plotly figure itself (what is drawn is what is downloaded).

MASKED_CELL = "masked"  # a cell a mask removed (the figure's grey layer): its weight is 0, its score -inf
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_TAG = re.compile(r"<[^>]*>")
_EPS = 1e-9


def safe_text(text: object) -> str:
    """A text cell a spreadsheet shows as text: plotly's markup (<br>, <span>) removed, its escapes (&lt;) undone,
    and a leading = + - @ (which would start a formula) guarded by an apostrophe."""
    plain = html.unescape(_TAG.sub(" ", str(text)))
    plain = " ".join(plain.split())
    return "'" + plain if plain.startswith(_FORMULA_START) else plain


def number_text(value: object) -> str:
    """A number cell: empty for NaN or None (never computed); floats exactly as stored (float32 data in its
    shortest float32 form, other floats in full), integers as integers."""
    if value is None:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return str(int(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    number = float(value)  # type: ignore[arg-type]
    if np.isnan(number):
        return ""
    single = np.float32(number)
    return str(single) if float(single) == number else repr(number)


def _cell(value: object) -> str:
    """A number as a number, anything else as safe text."""
    if value is None or isinstance(value, (int, float, np.integer, np.floating, np.bool_)):
        return number_text(value)
    return safe_text(value)


@dataclass(frozen=True)
class _Block:
    """One table of the file: a header row (its first cell names the block) and the rows under it."""

    header: list[str]
    rows: list[list[str]]


def _axis(fig: go.Figure, ref: str | None, letter: str) -> Any:
    """layout.xaxis / xaxis2 ... for a trace's axis reference 'x', 'x2', ..."""
    name = f"{letter}axis{(ref or letter)[1:]}"
    return fig.layout[name]


def _axis_title(axis: Any) -> str:
    text = axis.title.text if axis is not None and axis.title is not None else None
    return safe_text(text) if text else ""


def _coordinates(trace: Any, letter: str, count: int) -> list[Any]:
    """Where each of `count` cells of a heatmap sits along x or y: the trace's own x / y, else x0 + i * dx."""
    given = getattr(trace, letter)
    if given is not None and len(given) == count:
        return list(given)
    start = getattr(trace, f"{letter}0")
    step = getattr(trace, f"d{letter}")
    start = 0 if start is None or isinstance(start, str) else start
    step = 1 if step is None else step
    return [start + i * step for i in range(count)]


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def _axis_labels(coordinates: list[Any], axis: Any) -> list[str | None]:
    """The label of each cell along an axis: its category, else the tick text at its coordinate (tickmode
    'array'), else the coordinate itself when the axis shows plain numbers; None where nothing names it."""
    hidden = axis is not None and axis.showticklabels is False
    ticks: dict[float, str] = {}
    if axis is not None and axis.tickvals is not None and axis.ticktext is not None:
        for value, text in zip(axis.tickvals, axis.ticktext, strict=False):
            if _is_number(value):
                ticks[round(float(value), 6)] = str(text)
    labels: list[str | None] = []
    for coordinate in coordinates:
        if not _is_number(coordinate):
            labels.append(safe_text(coordinate))
        elif ticks:
            text = ticks.get(round(float(coordinate), 6))
            labels.append(None if text is None else safe_text(text))
        elif hidden:
            labels.append(None)
        else:
            number = float(coordinate)
            labels.append(str(int(number)) if number.is_integer() else repr(number))
    return labels


def _runs(keep: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) of each run of True: the panels along one axis of a tiled heatmap, gaps between them."""
    runs: list[tuple[int, int]] = []
    start = None
    for i, flag in enumerate([*keep.tolist(), False]):
        if flag and start is None:
            start = i
        elif not flag and start is not None:
            runs.append((start, i))
            start = None
    return runs


def _positions(coordinates: list[Any]) -> np.ndarray:
    """Numeric positions of cells on their axis: the coordinate, or the category's index."""
    return np.array([float(c) if _is_number(c) else float(i) for i, c in enumerate(coordinates)])


def _reversed(axis: Any) -> bool:
    if axis is None:
        return False
    if axis.autorange == "reversed":
        return True
    bounds = axis.range
    return bounds is not None and len(bounds) == 2 and bounds[0] is not None and bounds[0] > bounds[1]


def _side_title(annotation: Any) -> bool:
    return annotation.textangle is not None and abs(float(annotation.textangle)) in (90.0, 270.0)


def _panel_name(
    fig: go.Figure, xref: str, yref: str, x_span: tuple[float, float], y_span: tuple[float, float], flip: bool
) -> str:
    """The names written around one panel: the title above it (the nearest one over its columns) and the title
    beside its row, joined by ' · '. Spans are in the coordinates `xref` / `yref` ('x' or 'paper')."""
    above: tuple[float, str] | None = None
    beside: tuple[float, str] | None = None
    for note in fig.layout.annotations:
        if note.showarrow is not False or not note.text or note.x is None or note.y is None:
            continue
        if (note.xref or "x") != xref or (note.yref or "y") != yref:
            continue
        x, y = float(note.x), float(note.y)
        if _side_title(note):
            if y_span[0] - _EPS <= y <= y_span[1] + _EPS and x <= x_span[0] + _EPS:
                distance = x_span[0] - x
                if beside is None or distance < beside[0]:
                    beside = (distance, note.text)
        elif x_span[0] - _EPS <= x <= x_span[1] + _EPS:
            distance = (y_span[0] - y) if flip else (y - y_span[1])
            if distance >= -_EPS and (above is None or distance < above[0]):
                above = (distance, note.text)
    return " · ".join(safe_text(found[1]) for found in (beside, above) if found is not None)


def _heatmap_blocks(fig: go.Figure, several_axes: bool | None = None) -> list[_Block]:
    """several_axes: whether the figure's value heatmaps sit on more than one pair of axes (then each block is named
    by the title above its panel); None: judged from the heatmaps drawn."""
    heatmaps = _heatmaps(fig)
    values = [t for t in heatmaps if t.name != MASKED_LABEL]
    if several_axes is None:
        several_axes = len({(t.xaxis, t.yaxis) for t in values}) > 1
    blocks: list[_Block] = []
    named: list[bool] = []
    for trace in values:
        z = np.asarray(trace.z, dtype=np.float64)
        if z.ndim != 2 or z.size == 0:
            continue
        masked = np.zeros(z.shape, dtype=bool)
        for layer in heatmaps:
            if layer.name == MASKED_LABEL and (layer.xaxis, layer.yaxis) == (trace.xaxis, trace.yaxis):
                cover = np.asarray(layer.z, dtype=np.float64)
                if cover.shape == z.shape:
                    masked |= np.isfinite(cover)
        x_axis, y_axis = _axis(fig, trace.xaxis, "x"), _axis(fig, trace.yaxis, "y")
        x_coords, y_coords = _coordinates(trace, "x", z.shape[1]), _coordinates(trace, "y", z.shape[0])
        x_labels, y_labels = _axis_labels(x_coords, x_axis), _axis_labels(y_coords, y_axis)
        drawn = np.isfinite(z) | masked
        # a column (row) is a gap between tiled panels when no tick names it and nothing is drawn in it
        column_runs = _runs(np.array([label is not None for label in x_labels]) | drawn.any(axis=0))
        row_runs = _runs(np.array([label is not None for label in y_labels]) | drawn.any(axis=1))
        x_pos, y_pos = _positions(x_coords), _positions(y_coords)
        flip = _reversed(y_axis)
        axes_text = " \\ ".join(t for t in (_axis_title(y_axis), _axis_title(x_axis)) if t)
        # tiled panels, or one panel placed among them as a trace of its own (figures.tiles.one_panel_traces),
        # are named by the title over them in data coordinates
        tiled = len(column_runs) * len(row_runs) > 1 or (len(values) > 1 and not several_axes)
        for r0, r1 in row_runs:
            for c0, c1 in column_runs:
                if not drawn[r0:r1, c0:c1].any():
                    continue  # an empty slot of the grid (fewer panels than places)
                if tiled:
                    low, high = sorted((y_pos[r0], y_pos[r1 - 1]))
                    name = _panel_name(
                        fig,
                        trace.xaxis or "x",
                        trace.yaxis or "y",
                        (x_pos[c0] - 0.5, x_pos[c1 - 1] + 0.5),
                        (low - 0.5, high + 0.5),
                        flip,
                    )
                elif several_axes:
                    name = _panel_name(fig, "paper", "paper", tuple(x_axis.domain), tuple(y_axis.domain), False)
                else:
                    name = ""
                named.append(bool(name))
                corner = ": ".join(part for part in (name, axes_text) if part) or safe_text(trace.name or "")
                columns = [x_labels[c] or str(c - c0) for c in range(c0, c1)]
                rows = []
                for r in range(r0, r1):
                    cells = [
                        MASKED_CELL if masked[r, c] and not np.isfinite(z[r, c]) else number_text(z[r, c])
                        for c in range(c0, c1)
                    ]
                    rows.append([y_labels[r] or str(r - r0), *cells])
                blocks.append(_Block([corner, *columns], rows))
    if len(blocks) > 1:  # several panels and none named: number them, so each block says which one it is
        for index, (block, has_name) in enumerate(zip(blocks, named, strict=True)):
            if not has_name:
                block.header[0] = ": ".join(part for part in (f"panel {index + 1}", block.header[0]) if part)
    return blocks


_CLEAR = re.compile(r"^(transparent|rgba\(.*,\s*0(\.0*)?\s*\))$")


def _invisible(marker: Any) -> bool:
    """Markers nobody sees: fully transparent (opacity 0, or a clear colour without an outline)."""
    if marker is None:
        return False
    if marker.opacity == 0:
        return True
    colour = marker.color
    clear = isinstance(colour, str) and _CLEAR.match(colour.replace(" ", "")) is not None
    return clear and not (marker.line is not None and (marker.line.width or 0) > 0)


def _heatmaps(fig: go.Figure) -> list[Any]:
    return [t for t in fig.data if t.type == "heatmap" and t.z is not None and t.visible is not False]


def _series(fig: go.Figure) -> list[tuple[Any, bool, list[Any], list[Any]]]:
    """(trace, horizontal, categories, values) of every bar, line or point trace that carries data."""
    series = []
    for trace in fig.data:
        if trace.type not in ("bar", "scatter", "scattergl") or trace.visible is False:
            continue
        marker = getattr(trace, "marker", None)
        if _invisible(marker) or trace.hoverinfo == "skip":
            continue  # a hover or click target (the architecture diagram's boxes) or a decoration, not data
        horizontal = trace.type == "bar" and trace.orientation == "h"
        categories = trace.y if horizontal else trace.x
        values = trace.x if horizontal else trace.y
        if categories is None or values is None or all(v is None for v in values):
            continue  # a legend entry
        series.append((trace, horizontal, list(categories), list(values)))
    return series


def has_data(fig: go.Figure) -> bool:
    """Whether figure_csv has numbers to write (cheap: nothing is written)."""
    return bool(_heatmaps(fig) or _series(fig))


def _series_blocks(fig: go.Figure) -> list[_Block]:
    """Bars, lines and points: one table per run of traces over the same categories (x, or y for horizontal
    bars), the category first, one column per trace; a scatter's point names (its text) in a column of their own."""
    series = _series(fig)
    blocks: list[_Block] = []
    index = 0
    while index < len(series):
        trace, horizontal, categories, _ = series[index]
        group = [series[index]]
        while index + len(group) < len(series):
            following = series[index + len(group)]
            if following[1] != horizontal or len(following[2]) != len(categories):
                break
            if any(str(a) != str(b) for a, b in zip(following[2], categories, strict=True)):
                break
            group.append(following)
        index += len(group)
        letter_cat, letter_val = ("y", "x") if horizontal else ("x", "y")
        category_title = _axis_title(_axis(fig, getattr(trace, f"{letter_cat}axis"), letter_cat))
        value_title = _axis_title(_axis(fig, getattr(trace, f"{letter_val}axis"), letter_val))
        if len(group) == 1:
            names = [": ".join(p for p in (safe_text(trace.name or ""), value_title) if p) or "value"]
        else:
            names = [safe_text(t.name or "") or f"series {i + 1}" for i, (t, *_) in enumerate(group)]
        texts = trace.text if len(group) == 1 and trace.type != "bar" else None
        point_names = texts is not None and not isinstance(texts, str) and len(texts) == len(categories)
        header = ["label"] if point_names else []
        header += [category_title or letter_cat, *names]
        rows = []
        for i, category in enumerate(categories):
            row = [safe_text(texts[i])] if point_names else []
            row += [_cell(category), *(number_text(values[i]) for _, _, _, values in group)]
            rows.append(row)
        blocks.append(_Block(header, rows))
    return blocks


def _frame_label(fig: go.Figure, name: str) -> str:
    """How the figure's own slider names a frame: its current-value prefix and the label of its step."""
    for slider in fig.layout.sliders or ():
        prefix = slider.currentvalue.prefix if slider.currentvalue else ""
        for step in slider.steps or ():
            if step.args and list(step.args[0] or ()) == [name]:
                return safe_text(f"{prefix or ''}{step.label}")
    return f"frame {safe_text(name)}"


def _frame_figures(fig: go.Figure) -> tuple[go.Figure, list[tuple[str, go.Figure]]]:
    """A figure with frames (a slider that moves through them in the browser) as the figure without the traces the
    frames replace, and one figure per frame holding only those traces as that frame draws them, under that frame's
    annotations (its panel titles). Grey masked layers stay in every one of them."""
    replaced = sorted({index for frame in fig.frames for index in frame.traces or ()})

    def copy(trace: Any, visible: bool) -> Any:
        new = type(trace)(trace)
        if not visible and trace.name != MASKED_LABEL:
            new.visible = False
        return new

    fixed = go.Figure(data=[copy(t, i not in replaced) for i, t in enumerate(fig.data)], layout=fig.layout)
    per_frame = []
    for frame in fig.frames:
        traces = [copy(t, i in replaced) for i, t in enumerate(fig.data)]
        for index, update in zip(frame.traces or (), frame.data or (), strict=False):
            for key in update.to_plotly_json():
                if key != "type":
                    traces[index][key] = update[key]
        layout = go.Layout(fig.layout)
        if frame.layout is not None and frame.layout.annotations:
            layout.annotations = frame.layout.annotations
        per_frame.append((_frame_label(fig, str(frame.name)), go.Figure(data=traces, layout=layout)))
    return fixed, per_frame


def figure_csv(fig: go.Figure) -> str | None:
    """The numbers a chart draws, as CSV text with labelled rows and columns; None when it draws no data (a
    diagram).

    Heatmaps: one block per panel, shaped as the panel is on screen: a header row whose first cell names the panel
    (its title, from the figure's annotations, and the axis titles, e.g. 'head 2: query \\ key') followed by the
    column labels (the axis' tick labels, every token), then one row per row label. Blocks are separated by a blank
    line. This is what a student opening the file in a spreadsheet expects: each block looks like the chart's
    panel, and a one-panel chart is a plain table that `pandas.read_csv(path, index_col=0)` reads. A long form
    (panel, row, column, value) suits a database but turns a 12 x 12 matrix into 144 lines that no longer look
    like it. A cell never computed (NaN) is empty; a cell a mask removed (grey in the chart) reads 'masked'.
    Tiled heatmaps (many panels in one trace, empty cells between them) are cut into their panels.

    Bars, lines and points: after the heatmaps, one block per run of traces drawn over the same categories.

    A figure with frames (its own slider moves through heads or steps in the browser): first what no frame changes,
    then for each frame a line naming it as the slider does ('Head 3') and the blocks of what that frame draws.

    Labels are text (markup removed, a leading = + - @ guarded), numbers are numbers, in full precision.
    """
    sections: list[tuple[str | None, list[_Block]]]
    if fig.frames:
        values = [t for t in _heatmaps(fig) if t.name != MASKED_LABEL]
        several = len({(t.xaxis, t.yaxis) for t in values}) > 1
        fixed, per_frame = _frame_figures(fig)
        sections = [(None, _heatmap_blocks(fixed, several) + _series_blocks(fixed))]
        sections += [(label, _heatmap_blocks(drawn, several) + _series_blocks(drawn)) for label, drawn in per_frame]
    else:
        sections = [(None, _heatmap_blocks(fig) + _series_blocks(fig))]
    if not any(blocks for _, blocks in sections):
        return None
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    first = True
    for label, blocks in sections:
        for index, block in enumerate(blocks):
            if not first:
                writer.writerow([])
            first = False
            if label is not None and index == 0:
                writer.writerow([label])
            writer.writerow(block.header)
            writer.writerows(block.rows)
    return out.getvalue()
