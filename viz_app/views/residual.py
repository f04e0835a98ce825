"""Residual stream, LayerNorm and feed-forward: what each sub-layer adds to the stream at one position, and what
each decoder layer would predict."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from model.inspect.residual import stack_norms, sublayer_views
from viz_app import context, resources, sidebar, ui
from viz_app.chart_cache import shared_figure
from viz_app.figures.residual import (
    chosen_token_heatmap,
    layer_predictions_heatmap,
    relu_share_heatmap,
    stack_norms_chart,
    vectors_heatmap,
)

SUBLAYER_NAMES = {"self_attn": "self-attention", "cross_attn": "cross-attention", "feed_forward": "feed-forward"}

st.title("Residual stream, LayerNorm and feed-forward")
info = context.model_or_stop()
config = resources.get_config(info.path)
post = config.norm_placement == "post"
st.markdown(
    "Every layer keeps one vector of d_model = "
    f"{config.d_model} numbers per position, the residual stream. Each sub-layer (attention, then the "
    "feed-forward block) reads it and its output is added back to it: the residual connection. "
    + (
        "This model is post-norm, as in the paper: each sub-layer's output is added to its input and the sum "
        "goes through LayerNorm, LayerNorm(x + Sublayer(x)), so the stream is rescaled after every sub-layer."
        if post
        else "This model is pre-norm: each sub-layer is given LayerNorm(x) and its output is added to x itself, "
        "x + Sublayer(LayerNorm(x)); the stream is only normalised by a final LayerNorm at the top of each stack."
    )
    + f" In training, dropout (p = {config.dropout}) drops parts of each sub-layer's output before the addition; "
    "here, translating, dropout is off."
)
trace = context.trace_or_stop(info)

controls = st.columns([1, 1, 2])
side = controls[0].radio(
    "Stack", ["encoder", "decoder"], horizontal=True, key="residual_side", format_func=str.capitalize
)
stream = trace.encoder_stream if side == "encoder" else trace.decoder_stream
view = trace.source if side == "encoder" else trace.target
n_layers = stream.stream_in.shape[0]
layer = controls[1].selectbox("Layer", list(range(n_layers)), key=f"residual_layer_{side}")
position = controls[2].selectbox(
    "Position", list(range(len(view.labels))), format_func=lambda i: view.labels[i], key=f"residual_pos_{side}"
)
if side == "decoder":
    st.caption(
        "Decoder positions are labelled by their input token: position t holds the decoder input at t (the start "
        "token, then the tokens chosen so far) and predicts the token at t + 1."
    )

views = sublayer_views(stream, layer, position, config.layer_norm_eps)
label = view.labels[position]
st.subheader(f"{side.capitalize()} layer {layer}, position {ui.escape_markdown(label)}")
columns = {}
for item in views:
    columns[SUBLAYER_NAMES[item.sublayer]] = {
        "‖stream arriving‖": item.stream_in_stats.norm,
        "‖what the sub-layer adds‖": item.addition_stats.norm,
        "‖sum‖": item.summed_stats.norm,
        "LayerNorm input: mean": item.norm_input_stats.mean,
        "LayerNorm input: variance": item.norm_input_stats.variance,
        "standardised (before gain and bias): variance": item.standardised_variance,
        "LayerNorm output: mean": item.normed_stats.mean,
        "LayerNorm output: variance": item.normed_stats.variance,
    }
table = pd.DataFrame(columns)
st.dataframe(table.style.format(precision=4), width="stretch")
norm_what = "the sum x + Sublayer(x)" if post else "the stream x arriving at the sub-layer"
st.caption(
    f"LayerNorm takes {norm_what}, subtracts the mean of its {config.d_model} entries and divides by "
    f"√(v + ε), where v is their variance and ε = {config.layer_norm_eps:g}: the standardised vector has mean 0 "
    "and variance v / (v + ε), below 1 and within a thousandth of it once v is above 1000 ε (the table's "
    "standardised row). Then it multiplies each entry by a learned gain and adds a learned bias (one of each per "
    "dimension), which is why its output's mean and variance are not exactly 0 and 1."
)

names, vectors = [], []
for item in views:
    name = SUBLAYER_NAMES[item.sublayer]
    names += [f"{name}: stream arriving", f"{name}: what it adds", f"{name}: sum", f"{name}: LayerNorm output"]
    vectors += [item.stream_in, item.addition, item.summed, item.normed]
ui.chart(
    shared_figure(vectors_heatmap, names, np.stack(vectors), title=f"The vectors of {side} layer {layer} at {label}"),
    "Each row is one vector of the layer at this position, every column one of its dimensions, on one colour "
    "scale. Reading down a sub-layer: the stream that arrives, what the sub-layer adds, their sum, and the "
    + (
        "LayerNorm of the sum, which is the stream the next sub-layer receives."
        if post
        else "LayerNorm of the arriving stream, which is what the sub-layer read; the sum goes on to the next one."
    ),
    key="residual_vectors",
)

norms = stack_norms(stream, position)
ui.chart(
    shared_figure(
        stack_norms_chart,
        norms.names,
        norms.stream_in,
        norms.addition,
        norms.stream_out,
        title=f"Norms through the {side} at {label}",
    ),
    "The L2 norm (length) of the stream arriving at each sub-layer, of what the sub-layer adds, and of the "
    "stream leaving it, for every sub-layer of the stack in order. "
    + (
        "Post-norm, the stream leaving keeps a similar length from sub-layer to sub-layer, since LayerNorm "
        "rescales it each time; the additions vary much more."
        if post
        else "Pre-norm, nothing rescales the stream between sub-layers, so its length can grow layer by layer."
    ),
    key="residual_norms",
)

share = float(stream.relu_off_share[layer, position])
st.metric(
    f"Feed-forward units the ReLU switches off, {side} layer {layer} at {ui.escape_markdown(label)}",
    f"{share:.1%}",
    help=f"Of the {config.d_ff} hidden units of max(0, x W1 + b1), the share that are exactly 0 here.",
)
ui.chart(
    shared_figure(
        relu_share_heatmap,
        stream.relu_off_share,
        view.labels,
        title=f"Share of feed-forward units the ReLU sets to 0, {side}",
        side=side,
    ),
    f"The feed-forward block is FFN(x) = max(0, x W1 + b1) W2 + b2, applied to each position on its own: "
    f"{config.d_model} → {config.d_ff} → {config.d_model}. The ReLU, max(0, ·), sets every negative hidden "
    "unit to 0, so that unit contributes nothing to this position's output. Each cell is the share of the "
    f"{config.d_ff} units at 0 for one layer and position.",
    key="residual_relu",
)

st.header("What each decoder layer would say")
st.markdown(
    "The model predicts the next token only from the last decoder layer's output. Sending every decoder "
    "layer's output through the same final step shows how the prediction forms layer by layer (the \"logit "
    "lens\"). Applied to each layer's output: "
    + (
        "the model's output projection itself, the shared embedding matrix transposed (no bias), then the "
        "softmax. No LayerNorm is added: post-norm, every layer's output has just come out of a LayerNorm, as "
        "the last one's has."
        if post
        else "the decoder's final LayerNorm, then the model's output projection (the shared embedding matrix "
        "transposed, no bias), then the softmax, as after the last layer."
    )
    + " The tokens decoding never chooses (`<pad>`, `<s>`) are left out, as in decoding. Earlier layers were never "
    "trained to be read this way, so their rows are a rough view; the last row is exactly the model's own "
    "prediction."
)
lens = resources.get_layer_predictions(info.path, sidebar.current().text)
step = st.selectbox(
    "Step",
    list(range(len(trace.steps))),
    format_func=lambda t: f"{t}: after {trace.target.labels[t]}, the model output {trace.output_tokens[t]}",
    key="residual_lens_step",
)
chosen = trace.output_tokens[step]
ui.chart(
    shared_figure(
        layer_predictions_heatmap,
        [layer_tokens[step] for layer_tokens in lens.top_tokens],
        lens.top_probs[:, step],
        chosen,
        title=f"Step {step}: the likeliest next tokens after each decoder layer",
    ),
    "One row per decoder layer, its likeliest next tokens from left to right with their probabilities. ◀ marks "
    "the token the model output at this step.",
    key="residual_lens",
)
ui.chart(
    shared_figure(
        chosen_token_heatmap,
        lens.output_probs,
        [f"{t}:{token}" for t, token in enumerate(trace.output_tokens)],
        title="Probability of the token finally output, after each decoder layer",
    ),
    "Each column is one step, labelled by the token the model output there; each cell the probability that layer "
    "already gives it.",
    key="residual_lens_all",
)
