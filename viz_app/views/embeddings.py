"""Embeddings: the vectors the first layer receives, their lengths and similarities, and a map of the vocabulary."""

from __future__ import annotations

import numpy as np
import streamlit as st

from viz_app import context, resources, ui
from viz_app.analysis import cosine_matrix, row_norms
from viz_app.chart_cache import shared_figure
from viz_app.figures.common import symmetric_scale
from viz_app.figures.embeddings import (
    cosine_heatmap,
    embedding_heatmap,
    neighbours_chart,
    norms_chart,
    projection_scatter,
)

st.title("Embeddings")
info = context.model_or_stop()
st.markdown(
    f"Each token id picks one row of a learned table E with {info.vocab_size:,} rows and {info.d_model} columns. "
    f"The model multiplies that row by √d_model = {np.sqrt(info.d_model):.2f}, then adds the positional row for "
    "the token's place in the sentence. That sum is the input to layer 0, the first layer. One table serves the "
    "source, the decoder input and, transposed, the final projection that turns the decoder's output into a "
    "score (logit) for every token of the vocabulary."
)
trace = context.trace_or_stop(info)

with st.sidebar:
    st.subheader("Embeddings options")
    side = st.segmented_control(
        "Sequence",
        ["source", "decoder input"],
        default="source",
        required=True,
        key="emb_side",
        persist_state="session",
        help="The encoder's input, or the decoder's input (the start token and what it generated).",
    )
    cosine_of = st.radio(
        "Cosine similarity of",
        ["token embeddings", "embeddings + position"],
        key="emb_cosine",
        persist_state="session",
    )
    neighbour_count = st.slider("Neighbours to list", 3, 20, 10, key="emb_k", persist_state="session")

view = trace.source if side == "source" else trace.target
labels = view.labels
side_name = "source sentence" if side == "source" else "decoder input"

shared = symmetric_scale(np.concatenate([view.token_embeddings, view.positional, view.summed]))
ui.chart(
    shared_figure(
        embedding_heatmap,
        view.token_embeddings,
        labels,
        title=f"Token embeddings × √d_model, {side_name}",
        scale=shared,
    ),
    f"One row per token, one column per model dimension ({info.d_model}). These numbers are learned: they are "
    "the table rows the ids point to, scaled. The same token always gets the same row, wherever it stands.",
    key="emb_tokens",
)
ui.charts_side_by_side(
    (
        shared_figure(embedding_heatmap, view.positional, labels, title="Positional rows added", scale=shared),
        "Row t is the fixed sinusoidal code for position t (counted from 0); it does not depend on the token. It "
        "is what tells the layers where each token stands: attention by itself has no notion of order, and "
        "shuffling its input tokens would only shuffle its outputs.",
        "emb_positional",
    ),
    (
        shared_figure(embedding_heatmap, view.summed, labels, title="Sum fed to layer 0", scale=shared),
        "Token embedding plus positional row, cell by cell: this matrix is what layer 0 actually receives. All "
        "three maps share one colour scale, so they can be compared directly.",
        "emb_summed",
    ),
)

before, after, positional = row_norms(view.token_embeddings), row_norms(view.summed), row_norms(view.positional)
ui.chart(
    shared_figure(
        norms_chart, labels, before, after, positional, title="Length of each token's vector before and after position"
    ),
    f"Every positional row has the same length, √(d_model/2) = {np.sqrt(info.d_model / 2):.2f} (each sine and "
    "cosine pair adds sin² + cos² = 1), so position moves every token by a step of the same size, in a "
    "direction that depends on the position. Compare the blue and orange bars to see how much that step "
    "matters next to the token's own vector.",
    key="emb_norms",
)

vectors = view.token_embeddings if cosine_of == "token embeddings" else view.summed
ui.chart(
    shared_figure(
        cosine_heatmap, cosine_matrix(vectors), labels, title=f"Cosine similarity between tokens ({cosine_of})"
    ),
    "1 means two vectors point the same way, 0 means unrelated directions, −1 opposite ones. A repeated token "
    "scores exactly 1 with itself on token embeddings alone; adding position makes the copies differ.",
    key="emb_cosine_fig",
)

st.subheader("The whole vocabulary in two dimensions")
projection = resources.embedding_projection(info.path)
kept = float(np.sum(projection.explained))
vocabulary = resources.vocabulary(info.path)
unique_positions = list(dict.fromkeys(range(len(view.ids))))
choices = [i for i in unique_positions if not info.is_special(view.ids[i])] or unique_positions
with st.sidebar:
    if st.session_state.get("emb_token") not in choices:
        st.session_state.pop("emb_token", None)
    chosen_position = st.selectbox(
        "Token for nearest neighbours",
        choices,
        format_func=lambda i: labels[i],
        key="emb_token",
    )
chosen_id = view.ids[chosen_position]
neighbour_ids, similarities = resources.neighbours(info.path, chosen_id, neighbour_count)
ui.chart(
    shared_figure(
        projection_scatter,
        projection.coords,
        vocabulary,
        list(view.ids),
        labels,
        title=f"PCA of the embedding table ({info.vocab_size:,} tokens): two directions keep {kept:.1%} of its "
        "variance",
        chosen_id=chosen_id,
        neighbour_ids=list(neighbour_ids),
        explained=list(projection.explained),
    ),
    "Each dot is one row of the embedding table, flattened onto the two directions along which the rows "
    "vary most (principal component analysis). Orange dots are this sentence's tokens, each named once, "
    "green diamonds the neighbours of the chosen token. These two directions keep "
    f"{kept:.1%} of the table's variance and drop the other {1 - kept:.1%}, spread over the remaining "
    f"{info.d_model - 2} directions: two tokens far apart here are far apart in the full table too, but two "
    "tokens close together here may still be far apart there. Trust the neighbour list, cosine similarity "
    "measured in every dimension, over closeness on this map.",
    key="emb_pca",
)
ui.chart(
    shared_figure(
        neighbours_chart,
        [f"{vocabulary[i]} (id {i})" for i in neighbour_ids],
        similarities,
        title=f"Nearest neighbours of {labels[chosen_position]} (id {chosen_id})",
    ),
    "The vocabulary entries whose embedding rows point most nearly the same way as the chosen token's, "
    "measured in all dimensions. Often they are related words, spellings or word pieces.",
    key="emb_neighbours",
)
