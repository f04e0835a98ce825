"""Overview: the whole model drawn from its configuration, one sentence's path through it, a glossary, its card."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from viz_app import context, resources, ui
from viz_app.chart_cache import shared_figure
from viz_app.figures.overview import Shape, architecture_diagram, training_curve
from viz_app.settings import LANGUAGE_NAMES

st.title("Overview: the whole Transformer")
info = context.model_or_stop()
config = resources.get_config(info.path)
card = resources.get_model_card(info.path)
source_name = LANGUAGE_NAMES.get(info.source_language, info.source_language)
target_name = LANGUAGE_NAMES.get(info.target_language, info.target_language)
post = config.norm_placement == "post"
st.markdown(
    f"**{ui.escape_markdown(info.name)}** translates {source_name} into {target_name}. It is an encoder-decoder "
    f'Transformer as in "Attention Is All You Need" (Vaswani et al., 2017), smaller than the paper\'s: '
    f"{config.n_encoder_layers} encoder and {config.n_decoder_layers} decoder layers (the paper has 6 and 6), "
    f"d_model {config.d_model} (512), {config.n_heads} heads of d_k {config.d_k} (8 of 64), feed-forward size "
    f"{config.d_ff} (2048), and one vocabulary of {config.vocab_size:,} subword tokens shared by both languages. "
    + (
        "LayerNorm comes after each residual sum, as in the paper (post-norm)."
        if post
        else "LayerNorm comes before each sub-layer (pre-norm), with one more LayerNorm at the top of each stack; "
        "the paper puts it after each residual sum."
    )
)

shape = Shape(
    n_encoder_layers=config.n_encoder_layers,
    n_decoder_layers=config.n_decoder_layers,
    d_model=config.d_model,
    n_heads=config.n_heads,
    d_ff=config.d_ff,
    vocab_size=config.vocab_size,
    norm_placement=config.norm_placement,
)
ui.chart(
    shared_figure(architecture_diagram, shape, title=f"{info.name}: the two stacks, drawn from its configuration"),
    "Data flows from the bottom up. Every layer has its own weights. Each orange arrow carries the encoder's "
    "output to one decoder layer's cross-attention, where that layer's own W_K and W_V turn it into keys and "
    "values; the queries come from the decoder. Hover over a box for the shapes it works on.",
    key="overview_diagram",
)

st.markdown("**Where each part is shown**")
links = st.columns(3)
links[0].page_link("views/embeddings.py", label="Token embeddings", icon=":material/scatter_plot:")
links[0].page_link("views/positional.py", label="Positional encoding", icon=":material/waves:")
links[1].page_link("views/attention.py", label="Self- and cross-attention, head by head", icon=":material/grid_on:")
links[1].page_link("views/residual.py", label="Residual stream, LayerNorm, feed-forward", icon=":material/stacks:")
links[2].page_link("views/decoding.py", label="Linear + softmax, step by step", icon=":material/skip_next:")
links[2].page_link("views/heads.py", label="What each head does (Head lab)", icon=":material/science:")

st.subheader("One sentence's path")
trace = context.trace_or_notice(info)
if trace is not None:
    n_source, n_steps = len(trace.source.ids), len(trace.steps)
    st.markdown(
        f"The sidebar's sentence is cut into **{n_source} tokens** (start and end tokens included). Each token "
        f"becomes a vector of {config.d_model} numbers: its embedding, multiplied by √{config.d_model}, plus the "
        f"positional vector of its place in the sentence. The {config.n_encoder_layers} encoder layers then "
        "rework all of these vectors together: in self-attention each token gathers information from all the "
        "tokens, itself included, and in the feed-forward block each position is transformed on its own. Each "
        "sub-layer's result is added to the vector that arrived at it (the residual connection)"
        + (", then LayerNorm rescales the sum." if post else "; LayerNorm rescales what each sub-layer is given.")
        + f"\n\nThe decoder writes the {target_name} sentence one token at a time: {n_steps} steps here. At each "
        "step it reads the start token and the tokens chosen so far; masked self-attention lets each position "
        "look only at itself and earlier positions, and cross-attention looks at the encoder's output. After the "
        f"last decoder layer a linear projection (the embedding matrix again) gives one score, a logit, for each "
        f"of the {config.vocab_size:,} tokens, and the softmax turns the scores into probabilities. Decoding is "
        "greedy: the most likely token is taken, and decoding stops at the end token `</s>` or at a length limit."
    )

st.subheader("Glossary")
glossary = {
    "token": "a piece of text from the vocabulary: a word, part of a word or a punctuation mark (▁ marks the "
    "start of a word); special tokens mark the start <s> and end </s> of a sequence and unknown pieces <unk>.",
    "embedding": f"the learned vector of {config.d_model} numbers stored for each token; the model looks it up "
    "and multiplies it by √d_model. The same matrix also produces the output logits.",
    "d_model": f"the width of every vector passed between layers: {config.d_model} here (512 in the paper).",
    "head": "one of the parallel attention computations in a layer; each has its own learned projections and "
    "its own attention pattern, and the heads' outputs are concatenated and mixed by W_O.",
    "d_k": f"the size of one head's queries, keys and values: d_model / heads = {config.d_model} / "
    f"{config.n_heads} = {config.d_k}. Scores are divided by √d_k = {config.d_k**0.5:.3g}.",
    "layer": "one block of the stack with its own weights: self-attention and feed-forward in the encoder; "
    "masked self-attention, cross-attention and feed-forward in the decoder; each sub-layer with a residual "
    "connection and a LayerNorm.",
    "logits": f"the {config.vocab_size:,} raw scores the decoder gives the possible next tokens at one step, "
    "before the softmax turns them into probabilities that sum to 1.",
}
for term, meaning in glossary.items():
    st.markdown(f"**{term}**: {ui.escape_markdown(meaning)}")

st.subheader("The model's card")
if card.data:
    pairs = ", ".join(
        f"{count:,} {split}"
        for split, count in (("training", card.train_pairs), ("validation", card.val_pairs), ("test", card.test_pairs))
        if isinstance(count, int)
    )
    st.markdown(
        f"**Data**: {ui.escape_markdown(card.data)}" + (f"; {ui.escape_markdown(pairs)} pairs." if pairs else ".")
    )
if card.parameters:
    st.markdown(f"**Parameters**: {card.parameters:,}.")
if card.scores:
    st.markdown(
        f"**Scores on {ui.escape_markdown(card.test_split)}** ({ui.escape_markdown(card.decoding)} decoding, "
        "sacreBLEU; the signature says exactly how each was computed):"
    )
    st.dataframe(
        pd.DataFrame(
            {
                "metric": [s.metric for s in card.scores],
                "score": [f"{s.value:.2f}" for s in card.scores],
                "sacreBLEU signature": [s.signature for s in card.scores],
            }
        ),
        hide_index=True,
        width="stretch",
    )
else:
    st.caption("This model's card holds no test scores.")
if card.wall_time_minutes is not None:
    st.markdown(
        f"**Training**: {card.epochs_run or '?'} epochs in {card.wall_time_minutes:.1f} minutes"
        + (f" on {ui.escape_markdown(card.hardware)}" if card.hardware else "")
        + ", no GPU." * (not card.hardware or "cuda" not in card.hardware.lower())
    )
if len(card.curve_epochs) > 1:
    ui.chart(
        shared_figure(
            training_curve,
            card.curve_epochs,
            card.curve_val_bleu,
            card.curve_val_loss,
            title="Training: validation after each epoch",
        ),
        "Validation BLEU (left axis) and loss (right axis) after each epoch, from the card. The validation split "
        "chose the checkpoint; the test scores above come from a split used for nothing else.",
        key="overview_curve",
    )
if card.limits:
    st.markdown("**Intended use and limits**: " + ui.escape_markdown(card.limits))
