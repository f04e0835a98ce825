"""Figures of the head lab: importance per head, log-probability per step with and without a change, a head's
attention before, after and their difference, its typical measures beside this sentence's, the pruning curve."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from viz_app.figures.common import (
    AXIS_TITLE_ROOM,
    BASE_COLOUR,
    DIVERGING_SCALE,
    HIGHLIGHT_COLOUR,
    TICK_FONT_PX,
    Scale,
    base_layout,
    category_axis,
    click_targets,
    escape_label,
    escape_labels,
    heatmap_figure,
    label_room,
    label_ticks,
)

STEP_GROUP_PX = 24  # room per step in the grouped bar chart: two bars and a gap
IMPORTANCE_ROW_PX = 46  # plot height per layer of the importance heatmap
IMPORTANCE_CLICK_PX = 36  # click target per cell: less than a row and than a column at 1280 px


def importance_heatmap(
    drops: np.ndarray,
    *,
    title: str,
    names: Sequence[Sequence[str]],
    bound: float,
    click_hint: str | None = None,
) -> go.Figure:
    """drops [L, H]: the fall in summed log-probability with each head alone switched off; a diverging scale
    centred on 0 (red: the model needs the head; blue: it does better without it). names [L][H]: hover names.

    click_hint: when given, each cell gets an invisible click target (common.click_targets) with customdata
    [layer, head] that carries the cell's hover text followed by this hint.
    """
    layers, heads = drops.shape
    hover = [
        [f"{escape_label(names[layer][head])}<br>drop {drops[layer, head]:+.4f}" for head in range(heads)]
        for layer in range(layers)
    ]
    bound = max(float(bound), 1e-6)
    x_labels, y_labels = [f"head {h}" for h in range(heads)], [f"layer {layer}" for layer in range(layers)]
    fig = go.Figure(
        go.Heatmap(
            z=drops,
            x=x_labels,
            y=y_labels,
            text=hover,
            hovertemplate="%{text}<extra></extra>",
            colorscale=DIVERGING_SCALE,
            zmin=-bound,
            zmax=bound,
            colorbar={"title": {"text": "drop"}, "thickness": 12},
            xgap=2,
            ygap=2,
        )
    )
    if click_hint is not None:
        cells = [(layer, head) for layer in range(layers) for head in range(heads)]
        fig.add_trace(
            click_targets(
                [x_labels[head] for _, head in cells],
                [y_labels[layer] for layer, _ in cells],
                cells,
                [f"{hover[layer][head]}<br>{escape_label(click_hint)}" for layer, head in cells],
                size_px=IMPORTANCE_CLICK_PX,
            )
        )
    fig.update_layout(
        **base_layout(title, 110 + IMPORTANCE_ROW_PX * layers),
        xaxis=category_axis(side="bottom"),
        yaxis=category_axis(reversed_=True),
    )
    return fig


def logprob_steps(
    step_labels: Sequence[str], before: np.ndarray, after: np.ndarray, *, title: str, changed_name: str
) -> go.Figure:
    """Per step t, the log-probability of the original token t with the model as trained and with the change
    (both teacher-forced on the original output, so the steps line up). before, after [T]."""
    if before.shape != after.shape or before.shape[0] != len(step_labels):
        raise ValueError("one value per step is needed in both series")
    labels = escape_labels(step_labels)
    data = [
        go.Bar(x=labels, y=before, name="as trained", marker={"color": BASE_COLOUR}),
        go.Bar(x=labels, y=after, name=escape_label(changed_name), marker={"color": HIGHLIGHT_COLOUR}),
    ]
    fig = go.Figure(data=data)
    fig.update_traces(hovertemplate="%{x}<br>log p %{y:.4f}<extra>%{fullData.name}</extra>")
    bottom = label_room(step_labels, TICK_FONT_PX, angle=90) + AXIS_TITLE_ROOM + 6
    left = 70
    layout = base_layout(title, 260 + bottom, legend_rows=1, width=max(480, left + STEP_GROUP_PX * len(labels) + 20))
    layout["margin"].update(l=left, b=bottom, r=20)
    fig.update_layout(
        **layout,
        barmode="group",
        xaxis=category_axis(
            "step t: the original token t it should give", tickangle=-90, automargin=False, **label_ticks(labels)
        ),
        yaxis={"title": {"text": "log-probability (0 = certain)"}, "automargin": False},
    )
    return fig


def difference_heatmap(
    difference: np.ndarray,
    query_labels: Sequence[str],
    key_labels: Sequence[str],
    *,
    title: str,
    allowed: np.ndarray | None = None,
) -> go.Figure:
    """after - before [T_q, T_k] for one head, on a diverging scale symmetric around 0 (at least +-0.05)."""
    finite = difference[np.isfinite(difference)]
    bound = max(float(np.abs(finite).max()) if finite.size else 0.0, 0.05)
    return heatmap_figure(
        difference,
        query_labels,
        key_labels,
        title=title,
        scale=Scale(DIVERGING_SCALE, -bound, bound, "+.4f"),
        allowed=allowed,
        value_name="change",
        row_title="query",
        col_title="key",
    )


def measures_bars(names: Sequence[str], typical: Sequence[float], here: Sequence[float], *, title: str) -> go.Figure:
    """A head's measures: averaged over the validation set beside this sentence's, each in 0..1."""
    labels = escape_labels(names)
    data = [
        go.Bar(
            y=labels, x=list(typical), name="typical (validation mean)", orientation="h", marker={"color": BASE_COLOUR}
        ),
        go.Bar(y=labels, x=list(here), name="this sentence", orientation="h", marker={"color": HIGHLIGHT_COLOUR}),
    ]
    fig = go.Figure(data=data)
    fig.update_traces(hovertemplate="%{y}<br>%{x:.3f}<extra>%{fullData.name}</extra>")
    fig.update_layout(
        **base_layout(title, 120 + 44 * len(labels), legend_rows=1),
        barmode="group",
        xaxis={"range": [0.0, 1.0], "title": {"text": "share or ratio (0 to 1)"}},
        yaxis=category_axis(reversed_=True),
    )
    return fig


def pruning_curve(removed: Sequence[int], bleu: Sequence[float], total: int, *, title: str) -> go.Figure:
    """Validation BLEU against the number of heads switched off, least important first."""
    share = [100.0 * r / total for r in removed]
    fig = go.Figure(
        go.Scatter(
            x=share,
            y=list(bleu),
            mode="lines+markers",
            marker={"color": BASE_COLOUR},
            customdata=list(removed),
            hovertemplate="%{customdata} heads off (%{x:.0f}%)<br>BLEU %{y:.2f}<extra></extra>",
        )
    )
    fig.update_layout(
        **base_layout(title, 340),
        xaxis={"title": {"text": f"heads switched off, % of {total}"}, "range": [0, 100]},
        yaxis={"title": {"text": "validation BLEU"}, "rangemode": "tozero"},
        showlegend=False,
    )
    return fig
