"""Decoding step by step: greedy decoding replayed one token at a time, with what each step computed."""

from __future__ import annotations

import numpy as np
import streamlit as st

from model.inspect.trace import StepRecord, Trace
from model.nn.names import HeadRef
from viz_app import context, ui
from viz_app.figures.decoding import cross_rows_heatmap, timeline_chart, topk_chart
from viz_app.figures.stages import mask_heatmap, scores_heatmap, weights_heatmap
from viz_app.resources import ModelInfo
from viz_app.settings import TRACE_TOP_K

STEP_KEY = "dec_step"
PLAY_KEY = "dec_playing"
SPEEDS = {"slow": 2.0, "normal": 1.0, "fast": 0.5}

st.title("Decoding step by step")
info = context.model_or_stop()
st.markdown(
    "The decoder writes the translation one token at a time. It starts from the start token <s>; at every step "
    "it reads the source (through cross-attention) and everything it has written so far, scores every token in "
    "the vocabulary, and greedily takes the most likely one. It stops when it picks the end token </s>.".replace(
        "<", "\\<"
    )
)
trace = context.trace_or_stop(info)
count = len(trace.steps)

with st.sidebar:
    st.subheader("Decoding options")
    layer = st.selectbox("Decoder layer", list(range(info.n_decoder_layers)), key="dec_layer", persist_state="session")
    head = st.selectbox("Head", list(range(info.n_heads)), key="dec_head", persist_state="session")
    top_k = st.slider("Next-token candidates shown", 1, TRACE_TOP_K, 5, key="dec_topk", persist_state="session")
    speed = st.select_slider("Playback speed", list(SPEEDS), value="normal", key="dec_speed", persist_state="session")

if st.session_state.get(STEP_KEY, 0) > count - 1:
    st.session_state[STEP_KEY] = count - 1
playing = bool(st.session_state.get(PLAY_KEY, False))


def toggle_play() -> None:
    starting = not st.session_state.get(PLAY_KEY, False)
    st.session_state[PLAY_KEY] = starting
    if starting and st.session_state.get(STEP_KEY, 0) >= count - 1:
        st.session_state[STEP_KEY] = 0


st.button(
    "Pause" if playing else "Play",
    icon=":material/pause:" if playing else ":material/play_arrow:",
    on_click=toggle_play,
    disabled=count < 2,
    help="Advance one decoding step at a time until the end token.",
)


def render_step(trace: Trace, record: StepRecord, info: ModelInfo) -> None:
    """Everything step t computed, for the chosen layer and head."""
    t = record.step
    prefix_labels = [f"{i}:{token}" for i, token in enumerate(record.prefix_tokens)]
    ui.token_chips(
        f"Decoder input at step {t}: the start token plus the {t} token(s) chosen so far",
        record.prefix_ids,
        record.prefix_tokens,
        [info.is_special(i) for i in record.prefix_ids],
        key=f"dec_prefix_{t}",
        help_text=ui.SPECIAL_HELP,
    )
    stage = trace.stages[HeadRef("decoder.self_attn", layer, head)]
    masked = stage.masked_scores[: t + 1, : t + 1]
    allowed = record.causal_mask
    left, right = st.columns(2)
    with left:
        ui.chart(
            mask_heatmap(allowed, prefix_labels, prefix_labels, title=f"Causal mask at step {t}"),
            "0 on and below the diagonal, −inf (grey) above it: a position may look at itself and earlier "
            "positions only. The mask is added to the scores before the softmax.",
            key="dec_mask",
        )
    with right:
        ui.chart(
            scores_heatmap(masked, prefix_labels, prefix_labels, title=f"Masked scores, layer {layer} head {head}"),
            "Q Kᵀ / √d_k plus the mask, for the decoder input so far. The bottom row is the one this step "
            "adds; the rows above belong to earlier steps, whose keys and values a decoder keeps in a cache.",
            key="dec_scores",
        )
    left, right = st.columns(2)
    with left:
        ui.chart(
            weights_heatmap(
                stage.weights[: t + 1, : t + 1],
                prefix_labels,
                prefix_labels,
                title=f"Self-attention weights, layer {layer} head {head}",
                allowed=allowed,
            ),
            "The softmax of each row. Masked cells are exactly 0, so no step ever uses a token that comes after "
            "it. The bottom row is how the newest position mixes what came before.",
            key="dec_weights",
        )
    with right:
        ui.chart(
            cross_rows_heatmap(
                record.cross_attn[layer],
                trace.source.labels,
                title=f"Step {t}: new cross-attention rows, layer {layer}",
                selected_head=head,
            ),
            "Where the newest decoder position looks in the source, one row per head (the chosen head is "
            "framed). Each row adds up to 1; a bright cell is a source token this head leans on now.",
            key="dec_cross",
        )
    k = min(top_k, len(record.top_tokens))
    left, _ = st.columns(2)
    with left:
        ui.chart(
            topk_chart(
                list(record.top_tokens[:k]),
                np.asarray(record.top_probs[:k]),
                0,
                title=f"Step {t}: top {k} next tokens",
            ),
            "The softmax of the output layer over the whole vocabulary, top candidates only. Greedy decoding "
            f"takes the highest bar (orange): here {record.chosen_token} with probability "
            f"{record.chosen_prob:.3f}.",
            key="dec_topk_fig",
        )


@st.fragment(run_every=SPEEDS[speed] if playing else None)
def stepper() -> None:
    """The slider and the step view; while playing, each timer tick advances one step."""
    if st.session_state.get(PLAY_KEY, False):
        current = int(st.session_state.get(STEP_KEY, 0))
        if current >= count - 1:
            st.session_state[PLAY_KEY] = False
            st.rerun()
        elif st.session_state.get("_dec_ticked", False):
            st.session_state[STEP_KEY] = current + 1
        st.session_state["_dec_ticked"] = True
    else:
        st.session_state["_dec_ticked"] = False
    step = st.slider(
        "Step",
        0,
        max(count - 1, 1),
        key=STEP_KEY,
        disabled=count < 2,
        help="Drag, or use the arrow keys, to move through the decoding steps.",
    )
    step = min(step, count - 1)
    record = trace.steps[step]
    main, side = st.columns([2, 1])
    with main:
        render_step(trace, record, info)
    with side:
        st.markdown("**Output so far**")
        ui.token_chips(
            f"Generated up to step {step}",
            trace.output_ids[: step + 1],
            trace.output_tokens[: step + 1],
            [info.is_special(i) for i in trace.output_ids[: step + 1]],
            key=f"dec_output_{step}",
            highlight=step,
            help_text=ui.SPECIAL_HELP,
        )
        if record.is_eos:
            st.success("End token chosen: decoding stops here.")
        elif step == count - 1:
            st.warning("The length limit was reached before the end token.")
        ui.chart(
            timeline_chart(
                [s.chosen_token for s in trace.steps],
                np.asarray([s.chosen_prob for s in trace.steps], dtype=np.float32),
                step,
                title="Timeline of all steps",
                eos=[s.is_eos for s in trace.steps],
            ),
            "One bar per step: the token chosen and how sure the model was. Orange is the current step; grey "
            "steps are still to come.",
            key="dec_timeline",
        )


stepper()
