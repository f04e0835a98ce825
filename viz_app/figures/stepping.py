"""Greedy decoding step by step in one plotly figure: one frame per step, moved by plotly's own slider and buttons.

Every step's numbers travel to the browser once. Drawn whole: the causal mask, the scores and the weights over the
whole decoder input [T, T]; the new cross-attention rows of every step stacked [T * H, S]; the output [T]; the names
of every step's candidates on one stacked axis [T * k]. A frame carries its step's k candidate probabilities and
orange outlines, and moves each panel's visible window to its step, so the browser redraws the step without a
server round trip and without a full re-plot (plotly animate, redraw off). Axes are numeric (position t at t) with
the token labels as tick text; hover names positions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import plotly.graph_objects as go

from viz_app.analysis import StepSeries
from viz_app.figures.common import (
    BASE_COLOUR,
    DIVERGING_SCALE,
    HIGHLIGHT_COLOUR,
    KEEP_LABELS,
    MASKED_COLOUR,
    MASKED_LABEL,
    WEIGHT_SCALE,
    escape_label,
    escape_labels,
    label_room,
)

PLAY_SPEEDS_MS = {"slow": 3000, "normal": 1800, "fast": 900}  # how long a step stays on screen while playing
ALLOWED_COLOUR = "#f0f0f0"  # a cell the mask lets through (it adds 0)
HATCH_COLOUR = "rgba(128, 128, 128, 0.75)"  # mid grey: visible on the light and on the dark theme
NOT_COMPUTED_LABEL = "not computed (that key did not exist yet)"
NEW_ROW_LABEL = "what this step computes"
EOS_EDGE = "#d62728"
MAIN_COLUMN_PX = 820  # the page's main column at 1280 px with the sidebar open
RIGHT_PX = 90  # room for the colour bars
TOP_PX = 200  # title, buttons, slider and legend above the first panel
TITLE_PX, AXIS_TITLE_PX = 28, 24
MIN_OUTPUT_SLOTS = 8  # the output panel keeps room for this many steps, filled from the bottom
MATRICES = ("mask", "scores", "weights")


@dataclass(frozen=True)
class Panel:
    """One subplot: its axis suffix ('' for the first, then '2', '3', ...) and its paper domains."""

    suffix: str
    x: tuple[float, float]
    y: tuple[float, float]

    @property
    def xref(self) -> str:
        return f"x{self.suffix}"

    @property
    def yref(self) -> str:
        return f"y{self.suffix}"


@dataclass(frozen=True)
class Plan:
    """Where each panel sits, the figure's height and margins in pixels, the tick font size."""

    panels: dict[str, Panel]
    height: int
    width: int
    left: int
    tick_size: int
    matrix_columns: int

    def above_plot(self, pixels: float) -> float:
        """Paper y of a point `pixels` below the top of the figure (above the plot area, so y > 1)."""
        return 1.0 + (TOP_PX - pixels) / (self.height - TOP_PX)


def matrix_columns(steps: int) -> int:
    """How many T x T matrices sit side by side: three for short translations, one for long ones."""
    return 3 if steps <= 12 else 2 if steps <= 24 else 1


def panel_rows(series: StepSeries, per_row: int, tick_size: int) -> list[tuple[tuple[str, ...], int, int]]:
    """(panel names, plot height px, gap below px) from the top: the matrices, the cross rows, output and top-k."""
    steps, heads = series.steps, series.cross.shape[1]
    columns = matrix_columns(steps)
    prefix_room = label_room(escape_labels(series.prefix_labels), tick_size, angle=90)
    source_room = label_room(escape_labels(series.source_labels), tick_size, angle=90)
    rows = [
        (MATRICES[start : start + columns], max(220, per_row * steps), prefix_room + TITLE_PX)
        for start in range(0, len(MATRICES), columns)
    ]
    rows.append((("cross",), max(150, 28 * heads), source_room + TITLE_PX))
    rows.append((("output", "topk"), max(240, per_row * max(steps, MIN_OUTPUT_SLOTS)), AXIS_TITLE_PX + 16))
    return rows


def row_spans(names: tuple[str, ...], columns: int, topk_gap: float) -> list[tuple[float, float]]:
    """Paper x spans of the panels of one row."""
    if names == ("output", "topk"):
        return [(0.0, 0.5 - topk_gap / 2), (0.5 + topk_gap / 2, 1.0)]
    if names == ("cross",) or columns == 1:
        return [(0.0, 1.0)]
    gap = 0.04
    width = (1.0 - gap * (columns - 1)) / columns
    return [(i * (width + gap), i * (width + gap) + width) for i in range(len(names))]


def plot_width(series: StepSeries, per_row: int, topk_room: int) -> int:
    """The narrowest plot area (px) that keeps a column of `per_row` px for every token of every panel."""
    columns = matrix_columns(series.steps)
    matrices = columns * per_row * series.steps + (columns - 1) * 40
    sources = per_row * series.cross.shape[2]
    return max(matrices, sources, 2 * topk_room + 200, 480)


def plan_layout(series: StepSeries) -> Plan:
    """Panels sized by their token counts so every label keeps its own line: 16 px a row and a column (13 px past
    40 tokens). width: the figure's narrowest width; in a narrower column the chart scrolls sideways (ui.chart)."""
    per_row, tick_size = (16, 11) if series.steps <= 40 else (13, 9)
    columns = matrix_columns(series.steps)
    rows = panel_rows(series, per_row, tick_size)
    plot_height = sum(height + gap for _, height, gap in rows)
    topk_room = label_room(candidate_labels(series), tick_size) + 24
    left = max(label_room(escape_labels(series.prefix_labels), tick_size), label_room(output_labels(series), tick_size))
    width = left + 6 + plot_width(series, per_row, topk_room) + RIGHT_PX
    topk_gap = topk_room / max(width - left - 6 - RIGHT_PX, MAIN_COLUMN_PX - left - 6 - RIGHT_PX)
    panels: dict[str, Panel] = {}
    top = 0
    for names, height, gap in rows:
        y = (max(0.0, 1.0 - (top + height) / plot_height), 1.0 - top / plot_height)
        for name, (x0, x1) in zip(names, row_spans(names, columns, topk_gap), strict=True):
            index = len(panels) + 1
            panels[name] = Panel("" if index == 1 else str(index), (max(0.0, x0), min(1.0, x1)), y)
        top += height + gap
    return Plan(panels, TOP_PX + plot_height, width, left + 6, tick_size, columns)


def output_labels(series: StepSeries) -> list[str]:
    """'step:token chosen' for every step, escaped."""
    return [f"{t}:{token}" for t, token in enumerate(escape_labels(series.chosen_tokens))]


def candidate_labels(series: StepSeries) -> list[str]:
    """'token  62.1%' for every candidate of every step, in step order [T * k], escaped."""
    return [
        f"{token}  {prob:.1%}"
        for tokens, probs in zip(series.top_tokens, series.top_probs, strict=True)
        for token, prob in zip(escape_labels(tokens), probs, strict=True)
    ]


def _where(panel: Panel) -> dict[str, str]:
    return {"xaxis": panel.xref, "yaxis": panel.yref}


def mask_layer(size: int, panel: Panel) -> go.Heatmap:
    """The causal mask [T, T] as two colours: 0 (allowed, added to the score) light, 1 (masked, −inf) grey."""
    return go.Heatmap(
        z=(~np.tril(np.ones((size, size), dtype=bool))).astype(np.uint8),
        colorscale=[[0.0, ALLOWED_COLOUR], [0.5, ALLOWED_COLOUR], [0.5, MASKED_COLOUR], [1.0, MASKED_COLOUR]],
        zmin=0,
        zmax=1,
        showscale=False,
        hovertemplate="query position %{y}<br>key position %{x}<br>masked: %{z} (1: −inf is added, 0: 0 is added)"
        "<extra></extra>",
        name=MASKED_LABEL,
        showlegend=False,
        **_where(panel),
    )


def values_layer(values: np.ndarray, panel: Panel, *, coloraxis: str, value_name: str) -> go.Heatmap:
    """The numbers of one matrix [R, C] on a shared colour axis; NaN cells are left empty."""
    return go.Heatmap(
        z=values.astype(np.float32),
        coloraxis=coloraxis,
        hoverongaps=False,
        hovertemplate=f"query position %{{y}}<br>key position %{{x}}<br>{value_name} %{{z:.4f}}<extra></extra>",
        name=value_name,
        showlegend=False,
        **_where(panel),
    )


def hatch_trace(size: int, panel: Panel) -> go.Scatter:
    """A stroke along each diagonal above the main one of a [T, T] matrix (cells (i, i + c), c >= 1), drawn as a
    single path of 3 (T - 1) points: the cells decoding never computes, hatched."""
    offsets = np.arange(1, size, dtype=np.float32)
    gaps = np.full(offsets.shape, np.nan, dtype=np.float32)
    x = np.stack([offsets - 0.5, np.full(offsets.shape, size - 0.5, dtype=np.float32), gaps], axis=1).ravel()
    y = np.stack([np.full(offsets.shape, -0.5, dtype=np.float32), size - 0.5 - offsets, gaps], axis=1).ravel()
    return go.Scatter(
        x=x,
        y=y,
        mode="lines",
        line={"color": HATCH_COLOUR, "width": 1},
        hoverinfo="skip",
        showlegend=False,
        connectgaps=False,
        name=NOT_COMPUTED_LABEL,
        **_where(panel),
    )


def matrix_traces(series: StepSeries, plan: Plan) -> list[go.BaseTraceType]:
    """The causal mask, the scores and the weights over the whole decoder input [T, T]; frames only crop them."""
    size = series.steps
    mask, scores, weights = (plan.panels[name] for name in MATRICES)
    return [
        mask_layer(size, mask),
        values_layer(series.scores, scores, coloraxis="coloraxis2", value_name="score"),
        hatch_trace(size, scores),
        values_layer(series.weights, weights, coloraxis="coloraxis", value_name="weight"),
        hatch_trace(size, weights),
    ]


def cross_trace(series: StepSeries, panel: Panel) -> go.Heatmap:
    """The new cross-attention rows of every step stacked [T * H, S] (step t's head h at row t * H + h), 0..1."""
    steps, heads, sources = series.cross.shape
    return go.Heatmap(
        z=series.cross.reshape(steps * heads, sources),
        coloraxis="coloraxis",
        hovertemplate="step and head row %{y}<br>source position %{x}<br>weight %{z:.4f}<extra></extra>",
        name="cross-attention",
        showlegend=False,
        **_where(panel),
    )


def topk_trace(series: StepSeries, step: int, panel: Panel) -> dict[str, Any]:
    """The step's k likeliest next tokens [k] at y = step * k + i, where the axis names them; the first (the
    argmax, the token chosen) orange. A plain dict: frames hold one per step, validated once by the figure."""
    k = series.top_probs.shape[1]
    return {
        "type": "bar",
        "x": series.top_probs[step],
        "y": np.arange(step * k, (step + 1) * k),
        "orientation": "h",
        "marker": {"color": [HIGHLIGHT_COLOUR] + [BASE_COLOUR] * (k - 1)},
        "customdata": escape_labels(series.top_tokens[step]),
        "hovertemplate": "%{customdata}<br>probability %{x:.6f}<extra></extra>",
        "name": "candidates",
        "showlegend": False,
        **_where(panel),
    }


def output_trace(series: StepSeries, panel: Panel) -> go.Bar:
    """One bar per step [T]: the token chosen and its probability, an end token edged red. A frame's range shows
    the steps up to its own."""
    edges = [EOS_EDGE if end else "rgba(0,0,0,0)" for end in series.eos]
    return go.Bar(
        x=series.chosen_probs,
        y=np.arange(series.steps),
        orientation="h",
        marker={"color": BASE_COLOUR, "line": {"color": edges, "width": 2}},
        hovertemplate="step %{y}<br>probability %{x:.6f}<extra></extra>",
        name="output",
        showlegend=False,
        **_where(panel),
    )


def outline(x0: float, x1: float, y0: float, y1: float, panel: Panel) -> dict[str, Any]:
    """An orange rectangle in data coordinates, as a plain scatter dict."""
    return {
        "type": "scatter",
        "x": [x0, x1, x1, x0, x0],
        "y": [y0, y0, y1, y1, y0],
        "mode": "lines",
        "line": {"color": HIGHLIGHT_COLOUR, "width": 3},
        "hoverinfo": "skip",
        "showlegend": False,
        **_where(panel),
    }


def step_traces(series: StepSeries, step: int, plan: Plan) -> list[dict[str, Any]]:
    """What a frame replaces: the step's candidates, and the orange frames around row `step` of each matrix,
    around the step's output bar and around the chosen head's row among the step's cross rows."""
    panels, heads = plan.panels, series.cross.shape[1]
    row = step * heads + series.head
    return [
        topk_trace(series, step, panels["topk"]),
        *(outline(-0.5, step + 0.5, step - 0.5, step + 0.5, panels[name]) for name in MATRICES),
        outline(0.0, 1.0, step - 0.45, step + 0.45, panels["output"]),
        outline(-0.5, series.cross.shape[2] - 0.5, row - 0.5, row + 0.5, panels["cross"]),
    ]


def legend_entries() -> list[go.Scatter]:
    """Legend squares for the grey masked cells, the hatched never-computed cells and the orange frames."""

    def entry(name: str, colour: str, symbol: str, line: str) -> go.Scatter:
        marker = {"symbol": symbol, "size": 13, "color": colour, "line": {"color": line, "width": 2}}
        return go.Scatter(x=[None], y=[None], mode="markers", marker=marker, name=name, hoverinfo="skip")

    return [
        entry(MASKED_LABEL, MASKED_COLOUR, "square", MASKED_COLOUR),
        entry(NOT_COMPUTED_LABEL, "rgba(0,0,0,0)", "square-x", HATCH_COLOUR),
        entry(NEW_ROW_LABEL, "rgba(0,0,0,0)", "square", HIGHLIGHT_COLOUR),
    ]


def step_text(series: StepSeries, step: int) -> str:
    """'6: row 6 (input ▁einem) predicts position 7: ▁Ball, p = 0.982', escaped: the slider's current value."""
    prefix = series.prefix_labels[step].split(":", 1)[1]
    ending = ", the end token: decoding stops" if series.eos[step] else ""
    if step == series.steps - 1 and not series.eos[step]:
        ending = ": the length limit, decoding stops"
    return escape_label(
        f"{step}: row {step} (input “{prefix}”) predicts position {step + 1}: “{series.chosen_tokens[step]}”, "
        f"p = {series.chosen_probs[step]:.3f}{ending}"
    )


def step_layout(series: StepSeries, step: int, plan: Plan) -> dict[str, Any]:
    """The axis ranges a frame sets: the prefix of each matrix, the step's block of cross rows and candidates, the
    output up to the step (filled from the bottom while there are fewer than MIN_OUTPUT_SLOTS)."""
    panels, heads = plan.panels, series.cross.shape[1]
    k = series.top_probs.shape[1]
    layout: dict[str, Any] = {}
    for name in MATRICES:
        suffix = panels[name].suffix
        layout[f"xaxis{suffix}.range"] = [-0.5, step + 0.5]
        layout[f"yaxis{suffix}.range"] = [step + 0.5, -0.5]
    layout[f"yaxis{panels['cross'].suffix}.range"] = [(step + 1) * heads - 0.5, step * heads - 0.5]
    layout[f"yaxis{panels['topk'].suffix}.range"] = [(step + 1) * k - 0.5, step * k - 0.5]
    layout[f"yaxis{panels['output'].suffix}.range"] = [step + 0.5, min(-0.5, step + 0.5 - MIN_OUTPUT_SLOTS)]
    return layout


def nested(flat: Mapping[str, Any]) -> dict[str, Any]:
    """{'xaxis2.range': r} -> {'xaxis2': {'range': r}}, as frames want their layout."""
    out: dict[str, Any] = {}
    for key, value in flat.items():
        axis, attribute = key.split(".")
        out.setdefault(axis, {})[attribute] = value
    return out


def base_axes(series: StepSeries, plan: Plan) -> dict[str, Any]:
    """Every axis: token labels as tick text on numeric positions, 0..1 for probabilities, fixed margins."""
    heads, sources = series.cross.shape[1], series.cross.shape[2]
    k = series.top_probs.shape[1]
    positions = list(range(series.steps))
    prefix = escape_labels(series.prefix_labels)
    first_in_row = set(MATRICES[:: plan.matrix_columns])  # the panel at the left of its row carries the row labels
    axes: dict[str, Any] = {}
    for name, panel in plan.panels.items():
        common = {
            "showgrid": False,
            "zeroline": False,
            "automargin": False,
            "tickfont": {"size": plan.tick_size},
            **KEEP_LABELS,
        }
        x: dict[str, Any] = {**common, "domain": list(panel.x), "anchor": panel.yref}
        y: dict[str, Any] = {**common, "domain": list(panel.y), "anchor": panel.xref}
        if name in MATRICES:
            x.update(tickmode="array", tickvals=positions, ticktext=prefix, tickangle=-90)
            y.update(tickmode="array", tickvals=positions, ticktext=prefix, showticklabels=name in first_in_row)
        elif name == "cross":
            x.update(tickmode="array", tickvals=list(range(sources)), ticktext=escape_labels(series.source_labels))
            x.update(tickangle=-90, range=[-0.5, sources - 0.5])
            y.update(tickmode="array", tickvals=list(range(series.steps * heads)))
            y["ticktext"] = [f"head {h}" for _ in positions for h in range(heads)]
        elif name == "topk":
            x.update(range=[0.0, 1.0], title={"text": "probability"})
            y.update(tickmode="array", tickvals=list(range(series.steps * k)), ticktext=candidate_labels(series))
        else:
            x.update(range=[0.0, 1.0], title={"text": "probability of the token chosen"})
            y.update(tickmode="array", tickvals=positions, ticktext=output_labels(series))
        axes[f"xaxis{panel.suffix}"] = x
        axes[f"yaxis{panel.suffix}"] = y
    return axes


def panel_titles(series: StepSeries, plan: Plan) -> list[dict[str, Any]]:
    """Annotations left-aligned above each panel."""
    layer, head, heads = series.layer, series.head, series.cross.shape[1]
    texts = {
        "mask": "Causal mask (0 allowed, −inf grey)",
        "scores": f"Scores Q·Kᵀ/√d_k, layer {layer}, head {head}",
        "weights": f"Weights (softmax), layer {layer}, head {head}",
        "cross": f"Cross-attention: the new row of each of the {heads} heads, layer {layer} (head {head} framed)",
        "output": "Output so far: the token each step chose",
        "topk": "Likeliest next tokens (orange: the choice)",
    }
    return [
        {
            "text": escape_label(texts[name]),
            "x": panel.x[0],
            "y": panel.y[1],
            "xref": "paper",
            "yref": "paper",
            "xanchor": "left",
            "yanchor": "bottom",
            "yshift": 4,
            "showarrow": False,
            "font": {"size": 13},
        }
        for name, panel in plan.panels.items()
    ]


def colour_axes(series: StepSeries, plan: Plan) -> dict[str, Any]:
    """coloraxis: weights on the fixed 0..1 (self- and cross-attention); coloraxis2: scores, diverging around 0."""
    finite = series.scores[np.isfinite(series.scores)]
    bound = max(float(np.abs(finite).max()) if finite.size else 1.0, 1e-6)
    scores, weights = plan.panels["scores"].y, plan.panels["weights"].y
    middle = (weights[0] + scores[1]) / 2
    score_span, weight_span = ((middle, scores[1]), (weights[0], middle)) if scores == weights else (scores, weights)

    def bar(title: str, span: tuple[float, float]) -> dict[str, Any]:
        low, high = span
        return {"title": {"text": title}, "thickness": 12, "x": 1.01, "xanchor": "left", "y": (low + high) / 2,
                "yanchor": "middle", "len": max(0.05, high - low)}  # fmt: skip

    return {
        "coloraxis": {"colorscale": WEIGHT_SCALE, "cmin": 0.0, "cmax": 1.0, "colorbar": bar("weight", weight_span)},
        "coloraxis2": {
            "colorscale": DIVERGING_SCALE,
            "cmin": -bound,
            "cmax": bound,
            "colorbar": bar("score", score_span),
        },
    }


def move_to(step: int | None, duration_ms: int = 0) -> dict[str, Any]:
    """Animation options: no server, no tween, no full redraw (only axis ranges and the frames' outlines move)."""
    options: dict[str, Any] = {
        "mode": "immediate",
        "frame": {"duration": duration_ms, "redraw": False},
        "transition": {"duration": 0},
    }
    if step is None:
        options["fromcurrent"] = True
    return options


def controls(series: StepSeries, plan: Plan, start: int, speeds: Mapping[str, int]) -> dict[str, Any]:
    """Play buttons (one per speed), pause and back to step 0, above a slider with one stop per step."""
    buttons = [
        {"label": f"▶ Play {name} ({ms / 1000:g} s a step)", "method": "animate", "args": [None, move_to(None, ms)]}
        for name, ms in speeds.items()
    ]
    buttons.append({"label": "❚❚ Pause", "method": "animate", "args": [[None], move_to(0)]})
    buttons.append({"label": "« Back to step 0", "method": "animate", "args": [["0"], move_to(0)]})
    menu = {"type": "buttons", "direction": "left", "showactive": False, "x": 0.0, "xanchor": "left",
            "y": plan.above_plot(40), "yanchor": "top", "pad": {"t": 0, "r": 0}, "bgcolor": "#e8e8e8",
            "font": {"size": 12, "color": "#222222"}, "buttons": buttons}  # fmt: skip
    slider = {
        "active": start,
        "x": 0.0,
        "len": 1.0,
        "y": plan.above_plot(80),
        "yanchor": "top",
        "pad": {"t": 0, "b": 0},
        "currentvalue": {"prefix": "Step ", "font": {"size": 14, "color": BASE_COLOUR}, "xanchor": "left"},
        "font": {"size": 10, "color": "rgba(0,0,0,0)"},  # the step text is long: shown once, as the current value
        "transition": {"duration": 0},
        "steps": [
            {"label": step_text(series, t), "value": str(t), "method": "animate", "args": [[str(t)], move_to(t)]}
            for t in range(series.steps)
        ],
    }
    return {"updatemenus": [menu], "sliders": [slider]}


def stepping_figure(series: StepSeries, *, start: int = 0, speeds: Mapping[str, int] = PLAY_SPEEDS_MS) -> go.Figure:
    """Every step of greedy decoding for one decoder layer and head, one plotly frame per step (named '0', '1', ...).

    The matrices, the cross-attention rows and the output are fixed; a frame replaces the traces of step_traces
    (the six before the legend) and sets the visible ranges, see step_layout.
    """
    if not 0 <= start < series.steps:
        raise ValueError(f"start step {start} is outside 0..{series.steps - 1}")
    plan = plan_layout(series)
    panels = plan.panels
    fixed = [*matrix_traces(series, plan), cross_trace(series, panels["cross"]), output_trace(series, panels["output"])]
    moving = step_traces(series, start, plan)
    frame_traces = list(range(len(fixed), len(fixed) + len(moving)))
    layout: dict[str, Any] = {
        "height": plan.height,
        "width": plan.width,
        "margin": {"l": plan.left, "r": RIGHT_PX, "t": TOP_PX, "b": 0},
        "title": {
            "text": escape_label(f"Greedy decoding step by step: decoder layer {series.layer}, head {series.head}"),
            **{"x": 0.0, "xanchor": "left", "yref": "container", "y": 1.0, "yanchor": "top", "pad": {"t": 10}},
        },
        "legend": {"orientation": "h", "x": 0.0, "xanchor": "left", "y": plan.above_plot(142), "yanchor": "top"},
        "annotations": panel_titles(series, plan),
        "plot_bgcolor": "rgba(0,0,0,0)",
        "bargap": 0.25,
        "hovermode": "closest",
        **base_axes(series, plan),
        **colour_axes(series, plan),
        **controls(series, plan, start, speeds),
    }
    frames = [
        {"name": str(t), "data": step_traces(series, t, plan), "traces": frame_traces,
         "layout": nested(step_layout(series, t, plan))}
        for t in range(series.steps)
    ]  # fmt: skip
    fig = go.Figure(data=[*fixed, *moving, *legend_entries()], layout=layout, frames=frames)
    fig.update_layout(nested(step_layout(series, start, plan)))
    return fig
