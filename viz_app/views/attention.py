"""Attention: every head of a layer, every layer and head, one head stage by stage, and head interventions."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import streamlit as st

from model.inspect.trace import AttentionStages
from model.nn.names import ATTENTION_KINDS, HeadRef
from viz_app import context, links, resources, sidebar, ui
from viz_app.analysis import KIND_NAMES, allowed_keys
from viz_app.chart_cache import shared_figure
from viz_app.clicks import (
    HEAD_KEY,
    KEY_KEY,
    LAYER_KEY,
    LAYER_VIEW,
    OVERVIEW,
    OVERVIEW_CHART,
    QUERY_KEY,
    STAGE_VIEW,
    head_clicked,
    rerun,
)
from viz_app.figures.attention import head_grid, layer_head_grid
from viz_app.figures.stage_frames import stage_frames_figure

SHORT_KIND = {"encoder.self_attn": "enc self", "decoder.self_attn": "dec self", "decoder.cross_attn": "cross"}
TEMPERATURES = [0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0]

st.title("Attention")
info = context.model_or_stop()

every_head = resources.all_heads(info)


def head_name(ref: HeadRef) -> str:
    return f"{SHORT_KIND[ref.kind]} · layer {ref.layer} · head {ref.head}"


with st.sidebar:
    st.subheader("Attention options")
    kind = st.radio(
        "Attention",
        ATTENTION_KINDS,
        format_func=lambda k: KIND_NAMES[k].split(" (")[0],
        key="att_kind",
        persist_state="session",
    )
    # A popover, not an expander: the browser draws its widgets only when it is opened, so the page loads
    # without the code of the multiselect and select widgets' menus (bench/app.py load_ratio).
    with st.popover("Interventions", icon=":material/science:", width="stretch"):
        zero = st.multiselect(
            "Switch heads off",
            every_head,
            format_func=head_name,
            key="att_zero",
            persist_state="session",
            help="The head's output is replaced by zeros before the output projection W_O.",
        )
        uniform = st.multiselect(
            "Make heads uniform",
            every_head,
            format_func=head_name,
            key="att_uniform",
            persist_state="session",
            help="The head spreads its weight evenly over every key the mask allows.",
        )
        if st.session_state.get("att_temperature") not in TEMPERATURES:  # unset, or a link's value not offered
            st.session_state["att_temperature"] = 1.0
        temperature = st.selectbox(
            "Attention temperature",
            TEMPERATURES,
            format_func=lambda t: f"{t:g} (the model as trained)" if t == 1.0 else f"{t:g}",
            key="att_temperature",
            persist_state="session",
            help="Every scaled score is divided by this before the softmax: below 1 sharpens, above 1 flattens.",
        )
interventions = {"zero_heads": tuple(zero), "uniform_heads": tuple(uniform), "temperature": float(temperature)}
active = bool(zero or uniform or temperature != 1.0)

st.markdown(
    {
        "encoder.self_attn": "In encoder self-attention every source token asks every source token (itself "
        "included) what is relevant to it. Queries, keys and values are all projections of the same input: the "
        "embeddings plus positions for layer 0, the previous encoder layer's output after that.",
        "decoder.self_attn": "In the decoder's masked self-attention each position looks at itself and the "
        "earlier positions of the decoder input (the start token and the tokens generated so far). A mask adds "
        "−inf to the scores of every later position, so their weights are exactly 0.",
        "decoder.cross_attn": "In cross-attention the decoder looks at the source. The queries come from the "
        "decoder layer's own input; the keys and values come from the encoder's final output. Every decoder layer "
        "reads that same encoder output but projects it with its own learned W_K and W_V, so each layer has "
        "keys and values of its own.",
    }[kind]
)

trace = context.trace_or_stop(info, **interventions)
if active:
    baseline = resources.get_trace(info.path, sidebar.current().text)
    changed = baseline.translation != trace.translation
    with st.container(border=True):
        st.markdown("**Interventions are on.** Every chart below shows the model with them applied.")
        st.markdown("Without them: " + (ui.escape_markdown(baseline.translation) or "(nothing)"))
        st.markdown("With them: " + (ui.escape_markdown(trace.translation) or "(nothing)"))
        st.caption(
            "The translation changed." if changed else "The translation is the same; the attention may still differ."
        )

query_labels, key_labels = trace.axis_labels(kind)
weights = trace.attention(kind)  # [L, H, T_q, T_k]
allowed = allowed_keys(kind, trace.source_padding_mask, trace.causal_mask, len(query_labels))
kind_name = KIND_NAMES[kind].split(" (")[0]
ROWS_NOTE = {
    "encoder.self_attn": "Rows and columns are the source tokens, numbered from 0.",
    "decoder.self_attn": "Rows and columns are the decoder input, numbered from 0: row t is the token at input "
    "position t (the start token, then what was generated), and its output predicts token t + 1.",
    "decoder.cross_attn": "Rows are the decoder input, numbered from 0: row t is the token at input position t "
    "(the start token, then what was generated), and its output predicts token t + 1. Columns are the source "
    "tokens.",
}[kind]
GRID_NOTE = {
    "encoder.self_attn": "Heads of one layer can differ a lot: look for a line just beside the diagonal (a head "
    "that looks at the previous or the next token) and for a bright column (a head that gathers on one token, "
    "often the end token or punctuation).",
    "decoder.self_attn": "Grey cells above the diagonal are masked: the model added −inf there, so those weights "
    "are exactly 0. A line just left of the diagonal is a head that looks at the previous token; a bright first "
    "column is a head resting on the start token.",
    "decoder.cross_attn": "Here a query is a decoder position and a key a source token, so there is no diagonal "
    "of self and no previous token. A rough diagonal from top left to bottom right is a head following the "
    "source in word order (alignment); a bright column is a head resting on one source token such as </s>.",
}[kind]

CLICK_HINT = "click to look at this head stage by stage"


@dataclass(frozen=True)
class View:
    """What the page's sections share in one full run (the fragments get it again when they rerun alone).

    weights [L, H, T_q, T_k]; allowed bool [T_q, T_k]."""

    kind: str
    kind_name: str
    n_layers: int
    n_heads: int
    query_labels: list[str]
    key_labels: list[str]
    weights: np.ndarray
    allowed: np.ndarray
    temperature: float


def drop_stale(key: str, count: int) -> None:
    """Forget a choice the current attention kind does not offer (a layer, head or token index beyond its count)."""
    value = st.session_state.get(key)
    if value is not None and not (isinstance(value, int) and 0 <= value < count):
        del st.session_state[key]


def chosen(key: str, count: int) -> int | None:
    value = st.session_state.get(key)
    return value if isinstance(value, int) and 0 <= value < count else None


def sync_link() -> None:
    """A section rerun alone skips the app's own update of the URL: write the current choices into it here."""
    links.write(st.query_params, st.session_state)


@st.fragment(key=LAYER_VIEW)
def layer_view(view: View) -> None:
    """The layer and token choices, then the mean of the layer's heads and every head."""
    n_queries, n_keys = len(view.query_labels), len(view.key_labels)
    left, middle, right = st.columns(3)
    with left:
        st.selectbox(
            "Layer",
            list(range(view.n_layers)),
            key=LAYER_KEY,
            persist_state="session",
            on_change=rerun,
            args=((LAYER_VIEW, OVERVIEW, STAGE_VIEW),),
        )
    with middle:
        st.selectbox(
            "Query row to follow",
            list(range(n_queries)),
            index=None,
            format_func=lambda i: view.query_labels[i],
            placeholder="none (the last row)",
            key=QUERY_KEY,
            on_change=rerun,
            args=((LAYER_VIEW, STAGE_VIEW),),
            help="Outlines this query's row in every matrix below; the stage-by-stage cell follows it.",
        )
    with right:
        st.selectbox(
            "Key column to follow",
            list(range(n_keys)),
            index=None,
            format_func=lambda i: view.key_labels[i],
            placeholder="none (the row's largest weight)",
            key=KEY_KEY,
            on_change=rerun,
            args=((LAYER_VIEW, STAGE_VIEW),),
            help="Outlines this key's column in every matrix below; the stage-by-stage cell follows it.",
        )
    layer = chosen(LAYER_KEY, view.n_layers) or 0
    highlight = (chosen(QUERY_KEY, n_queries), chosen(KEY_KEY, n_keys))
    ui.chart(
        shared_figure(
            head_grid,
            view.weights[layer],
            view.query_labels,
            view.key_labels,
            title=f"{view.kind_name}, layer {layer}: the mean and every head",
            allowed=view.allowed,
            highlight=highlight,
            compact_hover=True,
            with_mean=True,
        ),
        "Each panel below the first is one head: row = the query token, column = the key token it looks at, and "
        f"every row adds up to 1. {ROWS_NOTE} {GRID_NOTE}\n\n"
        f"The first panel is the plain average of the layer's {view.n_heads} heads. It is a convenient summary but "
        "hides what single heads do: a sharp head averaged with flat ones looks faint there, so read it next to "
        "the heads, never instead of them.",
        key="att_grid",
    )
    sync_link()


@st.fragment(key=OVERVIEW)
def overview(view: View) -> None:
    """Every layer and head of the kind, the chosen head framed; a click on a panel chooses that head."""
    layer, head = chosen(LAYER_KEY, view.n_layers) or 0, chosen(HEAD_KEY, view.n_heads) or 0
    ui.selectable_chart(
        shared_figure(
            layer_head_grid,
            view.weights,
            view.query_labels,
            view.key_labels,
            title=f"{view.kind_name}: every layer (rows) and head (columns)",
            allowed=view.allowed,
            selected=(layer, head),
            click_hint=CLICK_HINT,
            compact_hover=True,
        ),
        "The whole attention site at a glance, all on the same 0 to 1 scale, layers and heads numbered from 0. "
        "Click a panel to look at that head stage by stage below; the orange frame marks the one shown there. "
        "These thumbnails carry no token labels and their hover names only the head: the grid above labels "
        "every token of one layer.",
        key=OVERVIEW_CHART,
        on_select=head_clicked,
    )
    sync_link()


@st.fragment(key=STAGE_VIEW)
def stage_view(view: View) -> None:
    """Every head of the chosen layer stage by stage in one figure (its slider flips heads in the browser), opened at
    the chosen head, with one cell followed through every stage under it."""
    kind, query_labels, key_labels = view.kind, view.query_labels, view.key_labels
    layer, head = chosen(LAYER_KEY, view.n_layers) or 0, chosen(HEAD_KEY, view.n_heads) or 0
    picked_query, picked_key = chosen(QUERY_KEY, len(query_labels)), chosen(KEY_KEY, len(key_labels))
    st.subheader(f"Layer {layer} stage by stage, opened at head {head}")
    with st.columns(3)[0]:
        st.selectbox(
            "Open at head",
            list(range(view.n_heads)),
            key=HEAD_KEY,
            persist_state="session",
            on_change=rerun,
            args=((OVERVIEW, STAGE_VIEW),),
            help="The head the figure shows first, framed in the layers × heads grid above and kept in a copied "
            "link (or click a panel of that grid). The figure's own Head slider shows the other heads of the layer "
            "in the browser, without asking the server.",
        )
    stages = [trace.stages[HeadRef(kind, layer, h)] for h in range(view.n_heads)]
    d_k = stages[0].q.shape[1]
    scale_text = f"√d_k = √{d_k} ≈ {np.sqrt(d_k):.3f}"
    source_of_kv = "the encoder's final output" if kind == "decoder.cross_attn" else "the same layer's input"
    st.markdown(
        f"The layer projects its input with learned matrices W_Q, W_K, W_V ({info.d_model} × {info.d_model}, each "
        f"with a bias), then splits each projection into {info.n_heads} slices of d_k = {info.d_model} / "
        f"{info.n_heads} = {d_k}; each head works on its own slice. Queries come from the layer's own input, "
        f"keys and values from {source_of_kv}. " + ROWS_NOTE
    )
    future_note = (
        " Above the diagonal the raw and scaled scores exist only because this page runs the whole output through "
        "the decoder at once (teacher forcing); while generating, the model never computes them, since those keys "
        "do not exist yet."
        if kind == "decoder.self_attn"
        else ""
    )
    temperature_note = f", and by the temperature {view.temperature:g}" if view.temperature != 1.0 else ""
    mask_note = (
        "it hides every position after the query's own, so the decoder cannot peek at later tokens"
        if kind == "decoder.self_attn"
        else "one sentence has no padding, so nothing is masked here"
    )
    sums = np.stack([stage.weights.sum(axis=-1) for stage in stages])
    ui.chart(
        shared_figure(
            stage_frames_figure,
            stages,
            query_labels,
            key_labels,
            title=f"{view.kind_name}, layer {layer}: scaled dot-product attention of one head",
            head=head,
            scale_text=scale_text,
            notes=[
                one_cell_text(stage, query_labels, key_labels, picked_query, picked_key, scale_text, view.temperature)
                for stage in stages
            ],
            highlight=(picked_query, picked_key),
        ),
        f"Read it from the top; each panel keeps one colour scale for every head of the layer, so heads compare "
        "at a glance.\n"
        f"- **Q, K, V**: each row is one token's vector of d_k = {d_k} numbers, the layer's input multiplied by the "
        "learned W_Q, W_K or W_V (plus its bias) and cut to this head's slice: projections, not the embeddings "
        "themselves. Q says what a position looks for, K what it can be found by, V what it passes on when "
        "attended.\n"
        "- **Q Kᵀ**: each cell is the dot product of one query row with one key row, large when they point the "
        f"same way, of any size and sign.{future_note}\n"
        f"- **Divided by √d_k**: the same scores divided by the square root of the per-head key size d_k = {d_k} "
        f"(not of d_model = {info.d_model}){temperature_note}. If the entries of q and k were independent with "
        "mean 0 and variance 1, their dot product would have variance d_k; dividing by √d_k brings it back to "
        "about 1, so the softmax does not saturate (almost all weight on one key, with tiny gradients in "
        "training).\n"
        f"- **The mask** is added, not multiplied: 0 where a query may see a key, −inf (grey) where it may not; "
        f"here {mask_note}. Masked cells hold −inf, not 0: a score of 0 would still get weight, while e to the "
        "power −inf is exactly 0.\n"
        "- **softmax(row)** turns each row into positive weights that add up to 1 (here between "
        f"{sums.min():.6f} and {sums.max():.6f} for every head of the layer); masked cells get exactly 0. These "
        "are the weights drawn in the grids above.\n"
        "- **Weights × V**: each query's output row is the weighted average of the value rows. The outputs of all "
        f"heads are placed side by side ({info.n_heads} × {d_k} = {info.d_model} numbers per token) and "
        f"multiplied by the learned W_O ({info.d_model} × {info.d_model}, plus a bias): that is what the attention "
        "sub-layer adds to its input through the residual connection.\n"
        "- Under the panels: one cell of the head shown, followed through every stage.",
        key="att_stages",
        download_name=f"{view.kind_name} layer {layer} stages",
    )
    sync_link()


def one_cell_text(
    stage: AttentionStages,
    query_labels: list[str],
    key_labels: list[str],
    picked_query: int | None,
    picked_key: int | None,
    scale_text: str,
    temperature: float,
) -> str:
    """The chosen (query, key) cell (by default the last row and its largest weight) of one head through every
    stage, as plain text (the figure escapes it). Reads numbers the trace already holds; computes nothing new."""
    query = len(query_labels) - 1 if picked_query is None else picked_query
    row = stage.weights[query]
    largest = int(np.argmax(row))
    key = largest if picked_key is None else picked_key
    raw, scaled = float(stage.raw_scores[query, key]), float(stage.scaled_scores[query, key])
    masked = not np.isfinite(stage.masked_scores[query, key])
    weight = float(row[key])
    how = (
        "the last row and the key it weights most"
        if picked_query is None and picked_key is None
        else "the row and key you chose"
        if picked_query is not None and picked_key is not None
        else "the row you chose and the key it weights most"
        if picked_key is None
        else "the last row and the key you chose"
    )
    if masked:
        ending = "the mask adds −inf, so after the softmax over the row the weight is exactly 0."
    else:
        rank = int((row > row[key]).sum()) + 1
        place = "the largest in that row" if key == largest else f"number {rank} of {row.size} in that row"
        ending = f"the mask adds 0; after the softmax over the row the weight is {weight:.4f}, {place}."
    return (
        f"One cell of head {stage.head} followed through ({how}): query {query_labels[query]} and key "
        f"{key_labels[key]}: q · k = {raw:.4f}; divided by {scale_text}"
        f"{' and the temperature' if temperature != 1.0 else ''} gives {scaled:.4f}; " + ending
    )


view = View(
    kind=kind,
    kind_name=kind_name,
    n_layers=info.layers(kind),
    n_heads=info.n_heads,
    query_labels=list(query_labels),
    key_labels=list(key_labels),
    weights=weights,
    allowed=allowed,
    temperature=float(temperature),
)
drop_stale(LAYER_KEY, view.n_layers)
drop_stale(HEAD_KEY, view.n_heads)
drop_stale(QUERY_KEY, len(query_labels))
drop_stale(KEY_KEY, len(key_labels))
layer_view(view)
overview(view)
stage_view(view)
