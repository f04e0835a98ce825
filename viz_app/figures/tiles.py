"""Many same-sized matrices drawn as ONE heatmap: panels laid out on a grid of cells, separated by empty gaps.

A page of small multiples drawn as one trace per panel (each with its own axes) costs plotly.js a canvas, an
image and a layout pass per panel; 24 panels made the attention page the slowest to draw. Tiled, the whole grid
is one value layer plus one masked layer on one pair of numeric axes; hover still names the panel and the tokens.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import plotly.graph_objects as go

from viz_app.figures.common import (
    KEEP_LABELS,
    MASKED_COLOUR,
    MASKED_LABEL,
    Scale,
    escape_label,
    escape_labels,
    layer_pair,
    masked_cells,
    masked_layer_z,
    plot_values,
)


@dataclass(frozen=True)
class Tiling:
    """Where panel (row, col), each of panel_rows x panel_cols cells, sits in one big grid of cells.

    row_gap and col_gap: empty cells between panels (room for panel titles and for the eye).
    """

    rows: int
    cols: int
    panel_rows: int
    panel_cols: int
    row_gap: int
    col_gap: int

    @property
    def shape(self) -> tuple[int, int]:
        """(cell rows, cell columns) of the whole grid, gaps included."""
        return (
            self.rows * self.panel_rows + (self.rows - 1) * self.row_gap,
            self.cols * self.panel_cols + (self.cols - 1) * self.col_gap,
        )

    def top(self, row: int) -> int:
        """Index of the panel row's first cell row."""
        return row * (self.panel_rows + self.row_gap)

    def left(self, col: int) -> int:
        return col * (self.panel_cols + self.col_gap)

    def centre_x(self, col: int) -> float:
        return self.left(col) + (self.panel_cols - 1) / 2

    def centre_y(self, row: int) -> float:
        return self.top(row) + (self.panel_rows - 1) / 2

    def place(self, panels: np.ndarray, fill: Any) -> np.ndarray:
        """panels [rows, cols, panel_rows, panel_cols] -> one array of `shape`, `fill` in the gaps."""
        expected = (self.rows, self.cols, self.panel_rows, self.panel_cols)
        if panels.shape[:4] != expected:
            raise ValueError(f"panels {panels.shape} do not fit the tiling {expected}")
        out = np.full(self.shape + panels.shape[4:], fill, dtype=panels.dtype)
        for row in range(self.rows):
            for col in range(self.cols):
                top, left = self.top(row), self.left(col)
                out[top : top + self.panel_rows, left : left + self.panel_cols] = panels[row, col]
        return out

    def ticks(self, labels: Sequence[str], axis: str, panels: Sequence[int] | None = None) -> dict[str, Any]:
        """tickvals/ticktext putting `labels` under (axis 'x') or beside (axis 'y') the given panel columns/rows."""
        start = self.left if axis == "x" else self.top
        count = self.cols if axis == "x" else self.rows
        chosen = range(count) if panels is None else panels
        values = [start(panel) + i for panel in chosen for i in range(len(labels))]
        return {"tickmode": "array", "tickvals": values, "ticktext": escape_labels(labels) * len(list(chosen))}


def gap_cells(panel_cells: int, pixels_per_cell: float, wanted_pixels: float, minimum: int = 1) -> int:
    """How many empty cells give a gap of at least `wanted_pixels` (and at least `minimum`), panel_cells >= 1."""
    if pixels_per_cell <= 0:
        return max(minimum, 1)
    return max(minimum, math.ceil(wanted_pixels / pixels_per_cell))


def tiled_traces(
    panels: np.ndarray,
    tiling: Tiling,
    panel_names: Sequence[Sequence[str]],
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    *,
    scale: Scale,
    allowed: np.ndarray | None = None,
    row_name: str = "query",
    col_name: str = "key",
    value_name: str = "weight",
    coloraxis: str | None = None,
    panel_ids: np.ndarray | None = None,
    panel_hover: str = "",
) -> list[go.Heatmap]:
    """The traces of every panel at once: a grey layer for masked cells (if any), then the values.

    panels [rows, cols, R, C]; allowed [R, C] (the same mask for every panel) or None; panel_names[row][col]
    starts each hover text. Gaps and masked cells are NaN in the value layer; hover skips the gaps. A panel that
    is all NaN is an empty slot: it draws nothing, not even its masked cells.

    panel_ids: [rows, cols] or [rows, cols, k] small integers naming each panel, for a lighter hover. Then no text
    string is sent per cell: each cell's customdata is its panel's id (0 where its layer has no cell), panel_hover
    names the panel from it (a constant plotly template such as 'head %{customdata}'), and the row and column names
    are the axes' tick labels at the cell (%{y}, %{x}), so the caller puts a tick (hidden ones do) on every row and
    column of every panel. panel_names are not used then.
    """
    panels = plot_values(panels)
    if panels.ndim != 4 or panels.shape[2:] != (len(row_labels), len(col_labels)):
        raise ValueError(f"panels {panels.shape} do not fit {len(row_labels)} row and {len(col_labels)} column labels")
    masked = masked_cells(panels[0, 0], allowed) if allowed is not None else np.isneginf(panels)
    present = ~np.isnan(panels).all(axis=(2, 3))  # an empty slot of the grid (fewer panels than places) is all NaN
    masked_all = np.broadcast_to(masked, panels.shape) & present[:, :, None, None]
    values = np.where(masked_all | ~np.isfinite(panels), np.nan, panels)
    placed_mask = tiling.place(np.ascontiguousarray(masked_all), False)
    if panel_ids is None:
        value_hover, masked_hover = _text_hover(
            tiling, panel_names, row_labels, col_labels, row_name, col_name, placed_mask
        )
        names = "%{text}"
    else:
        value_hover, masked_hover = _id_hover(tiling, panel_ids, placed_mask)
        names = f"{panel_hover}<br>{row_name} %{{y}}<br>{col_name} %{{x}}"
    traces: list[go.Heatmap] = []
    if masked_all.any():
        traces.append(
            go.Heatmap(
                z=masked_layer_z(placed_mask),
                **masked_hover,
                colorscale=[[0.0, MASKED_COLOUR], [1.0, MASKED_COLOUR]],
                showscale=False,
                hoverongaps=False,
                hovertemplate=f"{names}<br>{MASKED_LABEL}<extra></extra>",
                name=MASKED_LABEL,
            )
        )
    colour: dict[str, Any] = (
        {"coloraxis": coloraxis}
        if coloraxis
        else {"colorscale": scale.colorscale, "zmin": scale.zmin, "zmax": scale.zmax}
    )
    traces.append(
        go.Heatmap(
            z=tiling.place(values, np.nan),
            **value_hover,
            hoverongaps=False,
            hovertemplate=f"{names}<br>{value_name} %{{z:{scale.hover_format}}}<extra></extra>",
            name=value_name,
            **colour,
        )
    )
    return traces


def one_panel_traces(
    values: np.ndarray,
    tiling: Tiling,
    row: int,
    col: int,
    *,
    name: str,
    scale: Scale,
    allowed: np.ndarray | None = None,
    row_name: str = "query",
    col_name: str = "key",
    value_name: str = "weight",
    coloraxis: str | None = None,
) -> list[go.Heatmap]:
    """One more panel, values [panel_rows, panel_cols], in slot (row, col) of a tiling drawn by tiled_traces, as
    traces of its own (a grey masked layer if any cell is masked, then the values) placed with x0 / y0, so that
    their hover can name it differently from the tiled panels: `name`, then the row and column from the axes'
    tick labels (which tiled_axes puts on every slot). The slot must be empty (all NaN) in the tiled panels."""
    values = plot_values(values)
    if values.shape != (tiling.panel_rows, tiling.panel_cols):
        raise ValueError(f"panel {values.shape} does not fit {tiling.panel_rows} x {tiling.panel_cols} cells")
    if not (0 <= row < tiling.rows and 0 <= col < tiling.cols):
        raise ValueError(f"slot ({row}, {col}) is outside a {tiling.rows} x {tiling.cols} tiling")
    return layer_pair(
        values,
        allowed,
        where={"x0": tiling.left(col), "dx": 1, "y0": tiling.top(row), "dy": 1},
        names=f"{escape_label(name)}<br>{row_name} %{{y}}<br>{col_name} %{{x}}",
        scale=scale,
        value_name=value_name,
        coloraxis=coloraxis,
        colorbar=None,
    )


def _text_hover(
    tiling: Tiling,
    panel_names: Sequence[Sequence[str]],
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    row_name: str,
    col_name: str,
    placed_mask: np.ndarray,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The value layer's and the masked layer's {'text': ...}: a hover string per cell naming the panel, row and
    column, each layer's only where it draws ('' in its other cells and in the gaps)."""
    rows_text, cols_text = escape_labels(row_labels), escape_labels(col_labels)
    hover = np.empty((tiling.rows, tiling.cols, len(row_labels), len(col_labels)), dtype=object)
    for row in range(tiling.rows):
        for col in range(tiling.cols):
            name = escape_label(panel_names[row][col])
            hover[row, col] = [[f"{name}<br>{row_name} {r}<br>{col_name} {c}" for c in cols_text] for r in rows_text]
    text = tiling.place(hover, "")
    return {"text": np.where(placed_mask, "", text)}, {"text": np.where(placed_mask, text, "")}


def _id_hover(tiling: Tiling, panel_ids: np.ndarray, placed_mask: np.ndarray) -> tuple[dict[str, Any], dict[str, Any]]:
    """The value layer's and the masked layer's {'customdata': ...}: each cell its panel's id where the layer draws
    it, 0 elsewhere. Integer arrays of the smallest type that holds the ids: plotly sends them as raw bytes (a byte
    or two per cell), and plotly.js hands a heatmap's hover customdata[row][column] from them."""
    ids = np.asarray(panel_ids)
    if ids.shape[:2] != (tiling.rows, tiling.cols) or ids.ndim > 3 or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"panel ids {ids.shape} ({ids.dtype}) do not fit {tiling.rows} x {tiling.cols} panels")
    ids = ids.astype(np.promote_types(np.min_scalar_type(ids.min(initial=0)), np.min_scalar_type(ids.max(initial=0))))
    cells = (tiling.rows, tiling.cols, tiling.panel_rows, tiling.panel_cols)
    placed = tiling.place(np.ascontiguousarray(np.broadcast_to(ids[:, :, None, None], cells + ids.shape[2:])), 0)
    inside = tiling.place(np.ones(cells, dtype=bool), False)

    def layer(drawn: np.ndarray) -> np.ndarray:
        keep = drawn.reshape(drawn.shape + (1,) * (placed.ndim - 2))
        return np.where(keep, placed, 0).astype(placed.dtype)

    return {"customdata": layer(inside & ~placed_mask)}, {"customdata": layer(inside & placed_mask)}


def panel_outline(tiling: Tiling, row: int, col: int, colour: str) -> dict[str, Any]:
    """A rectangle (in data coordinates) around one panel."""
    return {
        "type": "rect",
        "xref": "x",
        "yref": "y",
        "x0": tiling.left(col) - 0.5 - tiling.col_gap * 0.35,
        "x1": tiling.left(col) + tiling.panel_cols - 0.5 + tiling.col_gap * 0.35,
        "y0": tiling.top(row) - 0.5 - tiling.row_gap * 0.2,
        "y1": tiling.top(row) + tiling.panel_rows - 0.5 + tiling.row_gap * 0.2,
        "line": {"color": colour, "width": 3},
    }


def panel_title(tiling: Tiling, row: int, col: int, text: str) -> dict[str, Any]:
    """An annotation just above one panel."""
    return {
        "text": escape_label(text),
        "x": tiling.centre_x(col),
        "y": tiling.top(row) - 0.5,
        "xref": "x",
        "yref": "y",
        "xanchor": "center",
        "yanchor": "bottom",
        "showarrow": False,
        "font": {"size": 12},
    }


def row_title(tiling: Tiling, row: int, text: str) -> dict[str, Any]:
    """An annotation, turned on its side, left of a row of panels."""
    return {
        "text": escape_label(text),
        "x": -0.5,
        "y": tiling.centre_y(row),
        "xref": "x",
        "yref": "y",
        "xanchor": "right",
        "yanchor": "middle",
        "textangle": -90,
        "xshift": -4,
        "showarrow": False,
        "font": {"size": 12},
    }


TILE_FONT_PX = 9  # token labels of tiled panels
TILE_CELL_PX = 14  # a 9 px label is about 12 px tall: one cell per token keeps neighbouring labels apart


def tiled_axes(
    tiling: Tiling, x_ticks: dict[str, Any] | None, y_ticks: dict[str, Any] | None, font_size: float = TILE_FONT_PX
) -> dict[str, Any]:
    """xaxis/yaxis for a tiled figure: numeric, no grid or zero line, row 0 on top, ticks only where given.

    x labels stand upright (turned by 90 degrees), so each takes one line height of width whatever its length.
    """
    height, width = tiling.shape

    def axis(ticks: dict[str, Any] | None, span: int, reverse: bool) -> dict[str, Any]:
        bounds = [span - 0.5, -0.5] if reverse else [-0.5, span - 0.5]
        base = {"showgrid": False, "zeroline": False, "range": bounds, "automargin": False, "fixedrange": False}
        if ticks is None:
            return {**base, "showticklabels": False, "ticks": ""}
        return {**base, **ticks, "tickfont": {"size": font_size}, **KEEP_LABELS}

    return {"xaxis": {**axis(x_ticks, width, False), "tickangle": -90}, "yaxis": axis(y_ticks, height, True)}
