"""The architecture as a diagram drawn from the model's configuration, and the training curve from its card."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import plotly.graph_objects as go

from viz_app.figures.common import BASE_COLOUR, HIGHLIGHT_COLOUR, base_layout, escape_label

BOX_TEXT = "#111111"  # dark text on the light box fills reads in the light and the dark theme alike
FILLS = {
    "embed": "#c6dbef",
    "self_attn": "#fdd0a2",
    "cross_attn": "#fcbba1",
    "feed_forward": "#c7e9c0",
    "output": "#dadaeb",
    "layer": "rgba(128, 128, 128, 0.10)",
}
ROW = 1.0  # height of one sub-layer box, in data units
GAP = 0.35


@dataclass(frozen=True)
class Shape:
    """The numbers the diagram is drawn from (a model configuration's, as plain values)."""

    n_encoder_layers: int
    n_decoder_layers: int
    d_model: int
    n_heads: int
    d_ff: int
    vocab_size: int
    norm_placement: str

    @property
    def d_k(self) -> int:
        return self.d_model // self.n_heads


def _wrap(name: str, shape: Shape) -> list[str]:
    """A sub-layer's two lines: its name, then its residual connection and LayerNorm in the model's order."""
    if shape.norm_placement == "pre":
        return [name, "LayerNorm first, then x + sub-layer(LayerNorm(x))"]
    return [name, "then LayerNorm(x + sub-layer(x))"]


def _box(fig: go.Figure, x0: float, x1: float, y0: float, y1: float, fill: str, lines: list[str], hover: str) -> None:
    fig.add_shape(
        type="rect", x0=x0, x1=x1, y0=y0, y1=y1, fillcolor=fill, line={"color": "#555555", "width": 1}, layer="below"
    )
    text = "<br>".join(
        escape_label(line) if i == 0 else f"<span style='font-size:11px'>{escape_label(line)}</span>"
        for i, line in enumerate(lines)
    )
    fig.add_annotation(
        x=(x0 + x1) / 2, y=(y0 + y1) / 2, text=text, showarrow=False, font={"color": BOX_TEXT, "size": 12}
    )
    fig.add_trace(
        go.Scatter(
            x=[(x0 + x1) / 2],
            y=[(y0 + y1) / 2],
            mode="markers",
            marker={"size": 40, "opacity": 0},
            hovertemplate=escape_label(hover).replace("\n", "<br>") + "<extra></extra>",
            showlegend=False,
        )
    )


def _arrow(fig: go.Figure, x: float, y: float, ax: float, ay: float, colour: str = "#777777") -> None:
    """An arrow from (ax, ay) to (x, y), in data coordinates."""
    fig.add_annotation(
        x=x, y=y, ax=ax, ay=ay, xref="x", yref="y", axref="x", ayref="y", showarrow=True, arrowhead=2,
        arrowwidth=1.5, arrowcolor=colour, text="",
    )  # fmt: skip


def architecture_diagram(shape: Shape, *, title: str) -> go.Figure:
    """Encoder stack on the left, decoder stack on the right, bottom to top as data flows; every layer drawn.

    Each sub-layer box names its residual connection and LayerNorm in the model's order (post- or pre-norm);
    arrows carry the encoder's output to the cross-attention of every decoder layer. Hover a box for its shapes.
    """
    fig = go.Figure()
    d, h, dk, dff = shape.d_model, shape.n_heads, shape.d_k, shape.d_ff
    columns = {"encoder": (0.3, 4.7), "decoder": (5.3, 9.7)}
    subs = {
        "encoder": [("self_attn", f"Self-attention, {h} heads")],
        "decoder": [("self_attn", f"Masked self-attention, {h} heads"), ("cross_attn", f"Cross-attention, {h} heads")],
    }
    hovers = {
        "self_attn": f"[T, {d}] → Q, K, V, {h} heads of d_k = {dk} → concatenated → W_O → [T, {d}]",
        "cross_attn": f"Q from the decoder [T, {d}]; K and V from the encoder output [S, {d}], through this "
        f"layer's own W_K, W_V; {h} heads of d_k = {dk} → [T, {d}]",
        "feed_forward": f"each position alone: [{d}] → Linear → [{dff}] → ReLU → Linear → [{d}]",
    }
    tops: dict[str, list[float]] = {"encoder": [], "decoder": []}
    cross_centres: list[float] = []
    for side in ("encoder", "decoder"):
        x0, x1 = columns[side]
        label = "Source tokens" if side == "encoder" else "Decoder input: <s>, then the tokens chosen so far"
        _box(fig, x0, x1, 0.0, ROW, FILLS["embed"], [label, f"embedding × √{d} + positional encoding"],
             f"ids [T] → token embedding [T, {d}] × √{d} + sinusoidal positions [T, {d}]")  # fmt: skip
        y = ROW + GAP
        n_layers = shape.n_encoder_layers if side == "encoder" else shape.n_decoder_layers
        rows = [*subs[side], ("feed_forward", f"Feed-forward {d} → {dff}, ReLU → {d}")]
        for layer in range(n_layers):
            start = y
            _arrow(fig, (x0 + x1) / 2, y + 0.12, (x0 + x1) / 2, y - GAP)
            y += 0.12
            for kind, name in rows:
                _box(fig, x0 + 0.15, x1 - 0.15, y, y + ROW, FILLS[kind], _wrap(name, shape), hovers[kind])
                if kind == "cross_attn":
                    cross_centres.append(y + ROW / 2)
                y += ROW + 0.08
            fig.add_shape(
                type="rect", x0=x0, x1=x1, y0=start, y1=y + 0.04, fillcolor=FILLS["layer"],
                line={"color": "#888888", "width": 1, "dash": "dot"}, layer="below",
            )  # fmt: skip
            fig.add_annotation(
                x=x0, y=(start + y) / 2, text=f"{side} layer {layer}", textangle=-90, showarrow=False,
                xanchor="right", font={"size": 11},
            )  # fmt: skip
            y += GAP
            tops[side].append(y)
    enc_top = tops["encoder"][-1] if tops["encoder"] else ROW + GAP
    x0, x1 = columns["encoder"]
    final = f"encoder output [S, {d}]" + (" after a final LayerNorm" if shape.norm_placement == "pre" else "")
    final += ": keys and values of every cross-attention"
    fig.add_annotation(x=(x0 + x1) / 2, y=enc_top + 0.2, text=escape_label(final), showarrow=False, font={"size": 12})
    for centre in cross_centres:
        _arrow(fig, columns["decoder"][0] + 0.15, centre, x1, enc_top - GAP / 2, HIGHLIGHT_COLOUR)
    x0, x1 = columns["decoder"]
    dec_top = tops["decoder"][-1] if tops["decoder"] else ROW + GAP
    head = "final LayerNorm → " if shape.norm_placement == "pre" else ""
    _box(fig, x0, x1, dec_top, dec_top + ROW, FILLS["output"],
         [f"{head}Linear (the shared embedding matrix, no bias)", f"softmax over {shape.vocab_size:,} tokens"],
         f"[T, {d}] × Eᵀ [{d}, {shape.vocab_size}] → logits [T, {shape.vocab_size}] → probabilities")  # fmt: skip
    _arrow(fig, (x0 + x1) / 2, dec_top, (x0 + x1) / 2, dec_top - GAP)
    top = max(enc_top + 0.6, dec_top + ROW + 0.2)
    layout = base_layout(
        title,
        int(110 + 44 * top),
        xaxis={"visible": False, "range": [-0.4, 10.0], "fixedrange": True},
        yaxis={"visible": False, "range": [-0.2, top], "fixedrange": True},
        showlegend=False,
        hovermode="closest",
        plot_bgcolor="rgba(0, 0, 0, 0)",
    )
    layout["margin"]["l"] = 30
    fig.update_layout(**layout)
    return fig


def training_curve(
    epochs: Sequence[int], val_bleu: Sequence[float | None], val_loss: Sequence[float | None], *, title: str
) -> go.Figure:
    """Validation BLEU (left axis) and validation loss (right axis) after each training epoch."""
    if not len(epochs) == len(val_bleu) == len(val_loss):
        raise ValueError("one BLEU and one loss per epoch are needed")
    data = [
        go.Scatter(x=list(epochs), y=list(val_bleu), name="validation BLEU", mode="lines+markers",
                   line={"color": BASE_COLOUR}, hovertemplate="epoch %{x}<br>BLEU %{y:.2f}<extra></extra>"),
        go.Scatter(x=list(epochs), y=list(val_loss), name="validation loss", mode="lines+markers", yaxis="y2",
                   line={"color": HIGHLIGHT_COLOUR, "dash": "dot"},
                   hovertemplate="epoch %{x}<br>loss %{y:.3f}<extra></extra>"),
    ]  # fmt: skip
    layout = base_layout(
        title,
        320,
        legend_rows=1,
        xaxis={"title": {"text": "epoch"}, "dtick": 1 if len(epochs) <= 25 else None},
        yaxis={"title": {"text": "BLEU"}, "rangemode": "tozero"},
        yaxis2={"title": {"text": "loss"}, "overlaying": "y", "side": "right", "showgrid": False},
    )
    return go.Figure(data=data, layout=layout)
