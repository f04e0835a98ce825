"""Decoding step by step: greedy decoding replayed one token at a time, with what each step computed.

Every step of the chosen layer and head goes to the browser once, as the frames of one plotly figure; its own
slider and play buttons move through them there, without asking the server again.
"""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from viz_app import context, ui
from viz_app.analysis import step_series
from viz_app.chart_cache import shared_figure
from viz_app.figures.stepping import PLAY_SPEEDS_MS, stepping_figure
from viz_app.resources import ModelInfo
from viz_app.settings import TRACE_TOP_K

START_KEY = "dec_step"  # viz_app/links.py carries it in the URL as "step"

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
    layer = st.selectbox(
        "Decoder layer (from 0)", list(range(info.n_decoder_layers)), key="dec_layer", persist_state="session"
    )
    head = st.selectbox("Head (from 0)", list(range(info.n_heads)), key="dec_head", persist_state="session")
    top_k = st.slider("Next-token candidates shown", 1, TRACE_TOP_K, 5, key="dec_topk", persist_state="session")
    if not isinstance(st.session_state.get(START_KEY), int) or not 0 <= st.session_state[START_KEY] < count:
        st.session_state.pop(START_KEY, None)  # a link's step beyond this translation's steps: start at 0
    start = st.number_input(
        "Open the chart at step",
        min_value=0,
        max_value=count - 1,
        value=0,
        step=1,
        key=START_KEY,
        help="The step the chart shows first, and the step a copied link opens at. The chart's own slider and "
        "Play buttons then move through the steps in the browser, without changing this.",
    )


def chips(label: str, ids: Sequence[int], tokens: Sequence[str], info: ModelInfo) -> None:
    """Tokens as 'position:token · id' badges in one paragraph, so they wrap onto as many lines as they need."""
    badges = []
    for position, (token_id, token) in enumerate(zip(ids, tokens, strict=True)):
        text = ui.chip_text(token, token_id, info.is_special(token_id))
        colour = "gray" if info.is_special(token_id) else "blue"
        badges.append(f":{colour}-badge[{position}\\:{text}]")
    st.markdown(f"**{ui.escape_markdown(label)}**  \n" + " ".join(badges), help=ui.SPECIAL_HELP)


chips(
    f"Decoder input, positions 0 to {count - 1}: step t reads positions 0 to t",
    trace.target.ids,
    trace.target.tokens,
    info,
)
chips(
    f"Output, steps 0 to {count - 1}: step t chooses the token at position t + 1",
    trace.output_ids,
    trace.output_tokens,
    info,
)
if trace.steps[-1].is_eos:
    st.caption("The last step chose the end token, so decoding stopped there.")
else:
    st.caption("The length limit was reached before the end token.")

speeds = ", ".join(f"{name} {ms / 1000:g} s" for name, ms in PLAY_SPEEDS_MS.items())
st.markdown(
    "Drag the **Step** slider, or press a **Play** button (a step every " + speeds + "; **Pause** stops). Every "
    "step is already in your browser, so moving through them asks the server for nothing. **Row t is the decoder "
    "input at position t and predicts the token at position t + 1**: the token step t chooses."
)
ui.chart(
    shared_figure(stepping_figure, step_series(trace, layer, head, top_k), start=int(start)),
    f"Decoder layer {layer}, head {head}. Numbering starts at 0 for steps, positions, layers and heads.",
    key="dec_steps",
)
st.markdown(
    rf"""
- **Causal mask.** 0 on and below the diagonal, −inf (grey) above it: position i may look at itself and earlier
  positions only. In training, and in the one teacher-forced pass the numbers here come from, the model computes
  every row at once and adding −inf before the softmax is what hides the later tokens. Decoding step by step, the
  later tokens do not exist yet: step t computes only row t, over the keys of positions 0 to t (those of 0 to
  t − 1 kept in a cache since the steps that made them), so there is nothing to mask.
- **Scores Q·Kᵀ/√d_k.** The query of each position times the key of each position it may see, divided by
  √d_k = √{info.d_k:g}. Hatched cells above the diagonal were never computed while decoding: when row i was
  computed, the key of a later position did not exist yet. (The teacher-forced pass does compute numbers there and
  the mask replaces them with −inf; they play no part in the result.)
- **Weights.** The softmax of each row: every row adds up to 1 over the positions it sees. The orange row is the
  one this step adds; the rows above it were computed at earlier steps and do not change.
- **Cross-attention.** Where the newest position looks in the source, one row per head of the layer (the chosen
  head framed), each adding up to 1. Every decoder layer has its own key and value projections of the encoder's
  output.
- **Likeliest next tokens.** The softmax of the final linear layer's scores (the logits) over the vocabulary,
  top candidates only; \<pad\> and \<s\>, which are never output, are left out. Greedy decoding takes the first
  (orange), which becomes the input at the next position unless it is the end token.
- **Output so far.** The token each step chose and its probability; the orange frame marks this step, a red edge
  the end token.
"""
)
