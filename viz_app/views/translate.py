"""Translate: the translation, the tokens with their ids, and where each generated token looked in the source."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from viz_app import context, ui
from viz_app.analysis import source_focus
from viz_app.chart_cache import shared_figure
from viz_app.figures.attention import averaged_cross_heatmap
from viz_app.settings import LANGUAGE_NAMES

st.title("Translate")
info = context.model_or_stop()
source_name = LANGUAGE_NAMES.get(info.source_language, info.source_language)
target_name = LANGUAGE_NAMES.get(info.target_language, info.target_language)
st.caption(
    f"Model **{ui.escape_markdown(info.name)}**: {source_name} to {target_name}, d_model {info.d_model}, "
    f"{info.n_heads} heads of size {info.d_k}, {info.n_encoder_layers} encoder and {info.n_decoder_layers} decoder "
    f"layers, {info.vocab_size:,} tokens in the vocabulary. Decoding is greedy: at each step the single most likely "
    "token is taken."
)
trace = context.trace_or_stop(info)

st.subheader(f"{target_name} translation")
with st.container(border=True):
    st.markdown("### " + (ui.escape_markdown(trace.translation) or "(the model produced no words)"))

steps = len(trace.steps)
stopped = "it chose the end token </s>" if trace.stop_reason == "eos" else "it reached the length limit"
metrics = st.columns(4)
metrics[0].metric("Decoding steps", steps, help="One step per generated token, the end token included.")
metrics[1].metric("Source tokens", len(trace.source.ids), help="Including the start and end tokens.")
metrics[2].metric("Generated tokens", len(trace.output_ids))
metrics[3].metric("Stopped because", "end token" if trace.stop_reason == "eos" else "length limit")
st.caption(f"The decoder ran {steps} steps and stopped because {ui.escape_markdown(stopped)}.")

unknown = sum(1 for i in trace.source.ids if i == info.special_ids[1])
if unknown:
    st.info(
        f"{unknown} piece(s) of the sentence are not in the model's vocabulary and became the unknown token "
        "<unk>. Emoji, markup and characters that never appear in image captions end up there."
    )

source_special = [info.is_special(i) for i in trace.source.ids]
chosen_source = ui.token_chips(
    f"Source tokens ({source_name}): token · id",
    trace.source.ids,
    trace.source.tokens,
    source_special,
    key="translate_source_chip",
    help_text=ui.SPECIAL_HELP,
)
output_special = [info.is_special(i) for i in trace.output_ids]
chosen_output = ui.token_chips(
    f"Generated tokens ({target_name}): token · id",
    trace.output_ids,
    trace.output_tokens,
    output_special,
    key="translate_output_chip",
    help_text=ui.SPECIAL_HELP,
)
st.caption(
    "◆ marks special tokens. A leading ▁ means the token starts a new word; tokens without it continue the "
    "previous word. Click a generated token to see where it looked."
)

mean, focus = source_focus(trace.cross_attn, top=2)
decoder_labels = trace.target.labels
source_labels = trace.source.labels
st.subheader("Where each generated token looked")
st.markdown(
    ui.escape_markdown(
        "Everything here is numbered from 0. Step t feeds the decoder its input at position t (the start token <s> "
        "at step 0, then the token chosen at the step before) and predicts the next token, token t + 1 of the "
        "decoder's sequence: generated token t below. Rows are labelled by that input, as on the Attention and "
        "Decoding pages."
    )
)
rows = []
for item in focus:
    first, second = item.positions[0], item.positions[-1]
    rows.append(
        {
            "step t": item.output_index,
            "decoder input t": decoder_labels[item.output_index],
            "generated token t": trace.output_tokens[item.output_index],
            "looked most at": source_labels[first],
            "weight": item.weights[0],
            "then at": source_labels[second] if len(item.positions) > 1 else "",
            "weight ": item.weights[-1] if len(item.positions) > 1 else None,
        }
    )
table = pd.DataFrame(rows)
if chosen_output is not None:
    item = focus[chosen_output]
    st.markdown(
        f"Step {item.output_index} produced **{ui.escape_markdown(trace.output_tokens[item.output_index])}**; "
        f"averaged over every layer and head, its largest cross-attention weight "
        f"({item.weights[0]:.3f}) went to source token **{ui.escape_markdown(source_labels[item.positions[0]])}**."
    )
if chosen_source is not None:
    column = mean[:, chosen_source]
    best = int(column.argmax())
    st.markdown(
        f"Source token **{ui.escape_markdown(source_labels[chosen_source])}** received its largest averaged weight "
        f"({column[best]:.3f}) at step {best}, which produced **{ui.escape_markdown(trace.output_tokens[best])}**."
    )
st.dataframe(
    table,
    hide_index=True,
    width="stretch",
    column_config={
        "weight": st.column_config.NumberColumn(format="%.3f"),
        "weight ": st.column_config.NumberColumn("weight", format="%.3f"),
    },
)
st.caption(
    "For each step, the two source tokens with the most cross-attention, averaged over every layer and head. An "
    "average is only a rough summary; the Attention page shows every head separately."
)
ui.chart(
    shared_figure(
        averaged_cross_heatmap,
        mean,
        decoder_labels,
        source_labels,
        title="Cross-attention averaged over all layers and heads",
    ),
    "Row t is the decoder input at position t; its output chose generated token t (token t + 1 of the decoder's "
    "sequence). Each row spreads a total weight of 1 over the source tokens. Bright cells show which source "
    "words the decoder drew on most while choosing that token; word-for-word translations make a rough diagonal.",
    key="translate_focus",
)
