"""Attention weights: one head, every head of a layer, every layer and head, and the mean over heads."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from viz_app.figures.common import (
    HIGHLIGHT_COLOUR,
    MAX_CELL_PX,
    TITLE_ROOM_PX,
    WEIGHTS,
    Highlight,
    base_layout,
    click_targets,
    colorbar_room,
    cross_shapes,
    escape_label,
    heatmap_figure,
    label_room,
    masked_legend_entry,
    plot_values,
)
from viz_app.figures.tiles import (
    TILE_CELL_PX,
    TILE_FONT_PX,
    Tiling,
    gap_cells,
    one_panel_traces,
    panel_outline,
    panel_title,
    row_title,
    tiled_axes,
    tiled_traces,
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
    highlight: Highlight = None,
) -> go.Figure:
    """One head's weights [T_q, T_k] on the fixed 0..1 scale; queries on rows, keys on columns.

    highlight: (query row, key column) to outline, either may be None; None outlines nothing.
    """
    _check_stack(weights, 2, query_labels, key_labels)
    row, col = highlight or (None, None)
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
        highlight_row=row,
        highlight_col=col,
    )


def _weights_coloraxis() -> dict[str, Any]:
    return {
        "colorscale": WEIGHTS.colorscale,
        "cmin": WEIGHTS.zmin,
        "cmax": WEIGHTS.zmax,
        "colorbar": {"title": {"text": "weight"}, "thickness": 12},
    }


ASSUMED_WIDTH_PX = 1100  # a laptop-wide main column; only used to size the gaps between panels
NARROW_WIDTH_PX = 760  # about the narrowest main column (1280 px, sidebar open); sizes click targets
CLICK_SHARE = 0.8  # a click target spans this share of its panel, so neighbouring targets never overlap
PANEL_TITLE_PX = 22


def _tiled_figure(
    panels: np.ndarray,
    tiling: Tiling,
    names: list[list[str]],
    query_labels: Sequence[str],
    key_labels: Sequence[str],
    *,
    title: str,
    allowed: np.ndarray | None,
    plot_height: int,
    margin: dict[str, int],
    axes: dict[str, Any],
    annotations: list[dict[str, Any]],
    shapes: list[dict[str, Any]],
    width: int | None = None,
    on_top: Sequence[go.Scatter] = (),
    before: Sequence[go.Heatmap] = (),
    panel_ids: np.ndarray | None = None,
    panel_hover: str = "",
) -> go.Figure:
    """before: traces of panels drawn apart from the tiled ones, listed first (so a CSV export lists them first);
    on_top: traces drawn over everything (click targets)."""
    traces = tiled_traces(
        panels,
        tiling,
        names,
        query_labels,
        key_labels,
        scale=WEIGHTS,
        allowed=allowed,
        coloraxis="coloraxis",
        panel_ids=panel_ids,
        panel_hover=panel_hover,
    )
    has_mask = len(traces) == 2
    data: list[Any] = [*before, *traces, masked_legend_entry()] if has_mask else [*before, *traces]
    data.extend(on_top)
    layout = base_layout(
        title,
        TITLE_ROOM_PX + plot_height + margin["t"] + margin["b"],
        legend_rows=1 if has_mask else 0,
        width=width,
        coloraxis=_weights_coloraxis(),
        annotations=annotations,
        shapes=shapes,
        plot_bgcolor="rgba(0,0,0,0)",
        **axes,
    )
    layout["margin"].update(l=margin["l"], b=margin["b"], t=layout["margin"]["t"] + margin["t"])
    # the legend sits above the first row's panel titles, which are in the top margin
    layout["legend"].update(xanchor="right", x=1.0, y=1.0 + (margin["t"] + 2) / max(plot_height, 1))
    return go.Figure(data=data, layout=layout)


LONG_SENTENCE_TOKENS = 16  # above this, the head grid puts two panels side by side instead of four


def _hidden_ticks(axes: dict[str, Any]) -> dict[str, Any]:
    """The axes with their tick labels kept (hover reads a cell's row and column names from them) but not drawn."""
    return {name: {**axis, "showticklabels": False, "ticks": ""} for name, axis in axes.items()}


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
    highlight: Highlight = None,
    compact_hover: bool = False,
    with_mean: bool = False,
) -> go.Figure:
    """Every head of one layer, weights [H, T_q, T_k], as panels of one heatmap on one 0..1 colour scale.

    Every token is labelled beside the left panels and under the bottom ones: each cell is at least TILE_CELL_PX
    square, so the figure grows with the sentence (layout.width is the narrowest it may be drawn) and panels
    go two to a row above LONG_SENTENCE_TOKENS tokens. show_labels=False leaves the labels out (hover still
    names every cell). highlight: (query row, key column) outlined in every panel, either may be None.
    compact_hover: the same hover, built from the head's number and the axes' tick labels instead of a text
    string per cell (see tiles.tiled_traces), a fraction of the bytes to send.
    with_mean: one more panel on a row of its own above the heads, their plain mean (mean_over_heads), titled and
    hovered as such (it is not one of the heads and has no panel id); the heads' rows then fill the bottom.
    """
    _check_stack(weights, 3, query_labels, key_labels)
    heads, n_queries, n_keys = weights.shape
    cols = max(1, min(cols, heads, 2 if max(n_queries, n_keys) > LONG_SENTENCE_TOKENS else cols))
    first = 1 if with_mean else 0  # the panel row where the heads start
    rows = first + -(-heads // cols)
    if show_labels is None:
        show_labels = True
    cell_px = max(TILE_CELL_PX, min(MAX_CELL_PX, panel_height / max(n_queries, n_keys)))
    tiling = Tiling(
        rows,
        cols,
        n_queries,
        n_keys,
        row_gap=gap_cells(n_queries, cell_px, PANEL_TITLE_PX + 6),
        col_gap=gap_cells(n_keys, cell_px, 16),
    )
    panels = np.full((rows, cols, n_queries, n_keys), np.nan, dtype=plot_values(weights).dtype)
    names = [["" for _ in range(cols)] for _ in range(rows)]
    annotations = []
    shapes: list[dict[str, Any]] = []
    query, key = highlight or (None, None)
    ids = np.zeros((rows, cols), dtype=np.int64) if compact_hover else None
    for head in range(heads):
        row, col = divmod(head, cols)
        row += first
        panels[row, col] = weights[head]
        if ids is not None:
            ids[row, col] = head
        names[row][col] = f"head {head}"
        annotations.append(panel_title(tiling, row, col, f"head {head}"))
        shapes += cross_shapes(query, key, n_queries, n_keys, x_offset=tiling.left(col), y_offset=tiling.top(row))
    mean_traces: list[go.Heatmap] = []
    if with_mean:
        mean_title = f"mean of the {heads} heads"
        annotations.insert(0, panel_title(tiling, 0, 0, mean_title))
        shapes += cross_shapes(query, key, n_queries, n_keys)
        mean_traces = one_panel_traces(
            mean_over_heads(weights),
            tiling,
            0,
            0,
            name=mean_title,
            scale=WEIGHTS,
            allowed=allowed,
            coloraxis="coloraxis",
        )
    ticked = show_labels or compact_hover
    axes = tiled_axes(
        tiling,
        tiling.ticks(key_labels, "x") if ticked else None,
        tiling.ticks(query_labels, "y") if ticked else None,
    )
    if ticked and not show_labels:
        axes = _hidden_ticks(axes)
    left = label_room(query_labels, TILE_FONT_PX) + 6 if show_labels else 10
    plot_width = round(tiling.shape[1] * cell_px)
    return _tiled_figure(
        panels,
        tiling,
        names,
        query_labels,
        key_labels,
        title=title,
        allowed=allowed,
        plot_height=round(tiling.shape[0] * cell_px),
        margin={
            "l": left,
            "b": label_room(key_labels, TILE_FONT_PX, angle=90) + 6 if show_labels else 10,
            "t": PANEL_TITLE_PX,
        },
        axes=axes,
        annotations=annotations,
        shapes=shapes,
        width=left + plot_width + colorbar_room("weight") + 10,
        before=mean_traces,
        panel_ids=ids,
        panel_hover="head %{customdata}",
    )


def layer_head_grid(
    weights: np.ndarray,
    query_labels: Sequence[str],
    key_labels: Sequence[str],
    *,
    title: str,
    allowed: np.ndarray | None = None,
    panel_height: int = 120,
    selected: tuple[int, int] | None = None,
    click_hint: str | None = None,
    compact_hover: bool = False,
) -> go.Figure:
    """Small multiples of every layer (rows) and head (columns), weights [L, H, T_q, T_k], one 0..1 scale.

    selected: (layer, head) to outline, e.g. the head shown stage by stage. click_hint: when given, every panel
    gets an invisible click target (see common.click_targets) whose customdata is [layer, head] and whose hover
    names the head followed by this hint; the target takes the hover over most of its panel.
    compact_hover: the cells' hover (layer, head, query, key, weight) built from each panel's [layer, head] and
    hidden tick labels instead of a text string per cell (see tiles.tiled_traces), a fraction of the bytes; the
    hidden labels also name the rows and columns of the CSV download.
    """
    _check_stack(weights, 4, query_labels, key_labels)
    layers, heads, n_queries, n_keys = weights.shape
    cell_px = panel_height / n_queries
    tiling = Tiling(
        layers,
        heads,
        n_queries,
        n_keys,
        row_gap=gap_cells(n_queries, cell_px, 12),
        col_gap=gap_cells(n_keys, ASSUMED_WIDTH_PX / heads / n_keys, 8),
    )
    names = [[f"layer {layer}, head {head}" for head in range(heads)] for layer in range(layers)]
    annotations = [panel_title(tiling, 0, head, f"head {head}") for head in range(heads)]
    annotations += [row_title(tiling, layer, f"layer {layer}") for layer in range(layers)]
    shapes = []
    if selected is not None and 0 <= selected[0] < layers and 0 <= selected[1] < heads:
        shapes.append(panel_outline(tiling, selected[0], selected[1], HIGHLIGHT_COLOUR))
    on_top = []
    if click_hint is not None:
        cells = [(layer, head) for layer in range(layers) for head in range(heads)]
        panel_px = min(panel_height, NARROW_WIDTH_PX / heads * n_keys / (n_keys + tiling.col_gap))
        on_top.append(
            click_targets(
                [tiling.centre_x(head) for _, head in cells],
                [tiling.centre_y(layer) for layer, _ in cells],
                cells,
                [f"{escape_label(names[layer][head])}<br>{escape_label(click_hint)}" for layer, head in cells],
                size_px=CLICK_SHARE * panel_px,
            )
        )
    return _tiled_figure(
        weights,
        tiling,
        names,
        query_labels,
        key_labels,
        title=title,
        allowed=allowed,
        plot_height=round(tiling.shape[0] * cell_px),
        margin={"l": 30, "b": 10, "t": PANEL_TITLE_PX},
        axes=_hidden_ticks(tiled_axes(tiling, tiling.ticks(key_labels, "x"), tiling.ticks(query_labels, "y")))
        if compact_hover
        else tiled_axes(tiling, None, None),
        annotations=annotations,
        shapes=shapes,
        on_top=on_top,
        panel_ids=np.indices((layers, heads)).transpose(1, 2, 0) if compact_hover else None,
        panel_hover="layer %{customdata[0]}, head %{customdata[1]}",
    )


def mean_over_heads(weights: np.ndarray) -> np.ndarray:
    """[H, T_q, T_k] -> [T_q, T_k], the plain average of the heads (still a distribution per row)."""
    if weights.ndim != 3:
        raise ValueError(f"expected [H, T_q, T_k], got shape {weights.shape}")
    return weights.mean(axis=0)


def averaged_cross_heatmap(
    weights: np.ndarray, decoder_labels: Sequence[str], source_labels: Sequence[str], *, title: str
) -> go.Figure:
    """Cross-attention averaged over layers and heads [T, S]: row t is decoder input position t (whose output
    predicts token t + 1), column s a source token; on the fixed 0..1 scale."""
    _check_stack(weights, 2, decoder_labels, source_labels)
    return heatmap_figure(
        weights,
        decoder_labels,
        source_labels,
        title=title,
        scale=WEIGHTS,
        row_name="decoder input",
        col_name="source",
        value_name="mean weight",
        row_title="decoder input t",
        col_title="source token",
    )
