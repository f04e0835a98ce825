"""Head lab: what each head does, how much the model needs it on this sentence, and what changes without it."""

from __future__ import annotations

import difflib
from functools import partial

import numpy as np
import pandas as pd
import streamlit as st

from model.inspect.flow import attention_rollout, norm_weighted
from model.inspect.head_measures import SUMMARY_NAMES, HeadMeasures, label_head, summary_values
from model.nn.names import ATTENTION_KINDS, HeadRef
from viz_app import context, resources, sidebar, ui
from viz_app.analysis import KIND_NAMES, allowed_keys
from viz_app.chart_cache import shared_figure
from viz_app.clicks import IMPORTANCE_KEY, INSPECT_KEY, importance_clicked
from viz_app.figures.attention import attention_heatmap
from viz_app.figures.heads import difference_heatmap, importance_heatmap, logprob_steps, measures_bars, pruning_curve
from viz_app.head_report import bleu_at, comparison, head_of, head_title, ranked

MODES = {
    "off": "Switch off (output zeroed before W_O)",
    "uniform": "Make uniform (equal weight on every allowed key)",
    "only": "Keep only these (every other head of their kinds off)",
}

st.title("Head lab")
info = context.model_or_stop()
st.markdown(
    "Each attention layer has several heads, each with its own W_Q, W_K and W_V slice. Here you can change "
    "heads, re-run the translation, and see what the model loses: the translation, the probability it gives "
    "its original words, and the head's own attention. Below, every head's importance on this sentence, what "
    "each head does, and how the model fares over the whole validation set."
)
every = resources.all_heads(info)

with st.sidebar:
    st.subheader("Head lab")
    mode = st.radio("Change", list(MODES), format_func=MODES.get, key="lab_mode", persist_state="session")
    chosen = st.multiselect(
        "Heads", every, format_func=head_title, key="lab_heads", persist_state="session", placeholder="Choose heads"
    )

trace = context.trace_or_stop(info)
text = sidebar.current().text
if chosen:
    if mode == "only":
        kinds = {ref.kind for ref in chosen}
        zero = tuple(ref for ref in every if ref.kind in kinds and ref not in set(chosen))
        uniform: tuple[HeadRef, ...] = ()
    elif mode == "uniform":
        zero, uniform = (), tuple(chosen)
    else:
        zero, uniform = tuple(chosen), ()
else:
    zero, uniform = (), ()
changed = bool(zero or uniform)

inspect_default = chosen[0] if chosen else HeadRef("decoder.cross_attn", info.n_decoder_layers - 1, 0)
if INSPECT_KEY not in st.session_state:
    st.session_state[INSPECT_KEY] = inspect_default

st.header("What changes")
if not changed:
    st.info("Choose one or more heads in the sidebar to see what the model does without them.")
else:
    after = resources.get_trace(info.path, text, zero, uniform)
    original, new = list(trace.output_tokens), list(after.output_tokens)
    matcher = difflib.SequenceMatcher(a=original, b=new, autojunk=False)
    marked_old, marked_new = [], []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        old_part = [ui.escape_markdown(t) for t in original[i1:i2]]
        new_part = [ui.escape_markdown(t) for t in new[j1:j2]]
        if tag == "equal":
            marked_old += old_part
            marked_new += new_part
        else:
            marked_old += [f"~~{t}~~" for t in old_part if t]
            marked_new += [f"**{t}**" for t in new_part if t]
    left, right = st.columns(2)
    with left:
        st.markdown("**As trained**")
        st.markdown(ui.escape_markdown(trace.translation) or "(nothing)")
        st.caption("Tokens: " + " ".join(marked_old))
    with right:
        st.markdown(f"**{MODES[mode].split(' (')[0]}: {len(chosen)} head(s)**")
        st.markdown(ui.escape_markdown(after.translation) or "(nothing)")
        st.caption("Tokens: " + " ".join(marked_new))
    st.caption(
        "Struck-through tokens are gone, bold ones are new. The model decoded again from the start with the change, "
        f"so {'the translation is the same' if original == new else 'later tokens follow from earlier changes'}."
    )
    forced = resources.get_forced(info.path, text, zero, uniform)
    labels = [f"{t}:{token}" for t, token in enumerate(trace.output_tokens)]
    before = trace.output_logprobs
    total_before, total_after = float(before.sum()), float(forced.logprobs.sum())
    ui.chart(
        shared_figure(
            logprob_steps,
            labels,
            before,
            forced.logprobs,
            title="Log-probability of each original token",
            changed_name="with the change",
        ),
        "Both bars score the translation as trained, fed to the decoder one token at a time (teacher forcing), so "
        f"step t lines up in both. Summed: {total_before:.3f} as trained, {total_after:.3f} with the change "
        f"({total_after - total_before:+.3f}). Lower bars mean the model finds its own word less likely.",
        key="lab_logprob",
    )

st.header("One head, before and after")
inspect = st.selectbox("Head to look at", every, format_func=head_title, key=INSPECT_KEY)
norm_based = st.toggle(
    "Norm-based attention (what each key actually sends)",
    key="lab_norm",
    help="Kobayashi et al. 2020: the weight a_ij times the size of what key j sends through this head, "
    "||a_ij f(x_j)|| with f(x) = (x W_V + b_V) W_O on the head's slice.",
)
query_labels, key_labels = trace.axis_labels(inspect.kind)
weights_before = trace.attention(inspect.kind)[inspect.layer, inspect.head]
allowed = allowed_keys(inspect.kind, trace.source_padding_mask, trace.causal_mask, len(query_labels))
if norm_based:
    norms = resources.get_value_norms(info.path, text)[inspect]
    shown = norm_weighted(weights_before, norms)
    top = float(shown[allowed].max()) if allowed.any() else 1.0
    ui.chart(
        shared_figure(
            attention_heatmap,
            shown / max(top, 1e-12),
            query_labels,
            key_labels,
            title=f"{head_title(inspect)}: norm-based, as trained",
            allowed=allowed,
        ),
        f"Each cell is ||a_ij f(x_j)|| divided by the largest in the matrix ({top:.3f}), so 1 is the key that sends "
        "the most. A key with a large weight but a small value vector sends little: compare with the weights.",
        key="lab_norm_before",
    )
else:
    ui.chart(
        shared_figure(
            attention_heatmap,
            weights_before,
            query_labels,
            key_labels,
            title=f"{head_title(inspect)}: as trained",
            allowed=allowed,
        ),
        "The head's attention weights on this sentence: row = query, column = key; each row sums to 1.",
        key="lab_before",
    )
if changed:
    forced = resources.get_forced(info.path, text, zero, uniform)
    weights_after = forced.weights[inspect.site][inspect.head]
    left, right = st.columns(2)
    with left:
        ui.chart(
            shared_figure(
                attention_heatmap, weights_after, query_labels, key_labels, title="With the change", allowed=allowed
            ),
            "The same head with the change, on the same (original) tokens so the cells line up. A head switched "
            "off still computes its weights; only its output is dropped.",
            key="lab_after",
        )
    with right:
        ui.chart(
            shared_figure(
                difference_heatmap,
                weights_after - weights_before,
                query_labels,
                key_labels,
                title="Change (after − before)",
                allowed=allowed,
            ),
            "Red: more weight with the change, blue: less. A head that comes after a changed head in the network "
            "changes too, because its input did.",
            key="lab_diff",
        )

st.header("How much each head matters on this sentence")
importance = resources.get_importance(info.path, text)
bound = max(abs(v) for v in importance.values())
for kind in ATTENTION_KINDS:
    layers = info.layers(kind)
    drops = np.array(
        [[importance[HeadRef(kind, layer, head)] for head in range(info.n_heads)] for layer in range(layers)]
    )
    names = [[head_title(HeadRef(kind, layer, head)) for head in range(info.n_heads)] for layer in range(layers)]
    ui.selectable_chart(
        shared_figure(
            importance_heatmap,
            drops,
            title=KIND_NAMES[kind],
            names=names,
            bound=bound,
            click_hint="click to look at this head above",
        ),
        "Each cell: how much the summed log-probability of the model's own translation falls when this head "
        "alone is switched off (red: the model needs it; blue: without it the model finds its own translation "
        "more likely). All "
        f"{len(importance)} were computed in one batched pass. Click a cell to look at that head in "
        "“One head, before and after” (or choose it there).",
        key=IMPORTANCE_KEY.format(kind=kind),
        on_select=partial(importance_clicked, kind),
    )

st.header("What each head does")
survey = resources.get_head_survey(info.path)
measures = resources.get_sentence_measures(info.path, text)
if measures is None:
    st.warning("This model folder has no token statistics (token_stats.json), so heads cannot be labelled here.")
else:
    typical = {head_of(e): e for e in survey["heads"]} if survey else {}
    rows = []
    for ref in every:
        label = label_head(measures[ref])
        rows.append(
            {
                "head": head_title(ref),
                "on this sentence": label.label,
                "over the validation set": typical[ref]["label"] if ref in typical else "",
                "importance here": round(importance[ref], 4),
                "why (this sentence)": label.rule,
            }
        )
    # A static table wraps the long "why" column instead of hiding it behind a sideways scroll.
    with st.container(height=520, border=False, key="lab_labels_box"):
        st.table(pd.DataFrame(rows).set_index("head"))
    st.caption(
        "Labels follow fixed rules, each shown with its numbers: positional when one relative offset takes at least "
        "90% of the queries (Voita et al. 2019), alignment when cross-attention follows the diagonal, sink when most "
        "weight sits on special tokens and punctuation, rare-word when the sentence's rarest token (by training "
        "frequency) is the focus far more often than chance, broad when rows stay near uniform, otherwise mixed. "
        "One sentence can label a head differently from its usual behaviour."
    )
    if inspect in typical:
        usual = HeadMeasures.from_dict(typical[inspect]["measures"])
        values, usual_values = summary_values(measures[inspect]), summary_values(usual)
        ui.chart(
            shared_figure(
                measures_bars,
                SUMMARY_NAMES,
                usual_values,
                values,
                title=f"{head_title(inspect)}: typical and on this sentence",
            ),
            "Typical: the mean over the validation set (heads.json). Is this sentence typical for the head? Bars far "
            "apart say no.",
            key="lab_measures",
        )

st.header("Over the validation set")
if survey is None:
    st.warning("This model folder has no heads.json yet: run python -m model.heads --model FOLDER --split val.")
else:
    total = len(survey["heads"])
    points = survey["pruning"]["points"]
    ui.chart(
        shared_figure(
            pruning_curve,
            [p["removed"] for p in points],
            [p["bleu"] for p in points],
            total,
            title="Validation BLEU as heads are switched off",
        ),
        f"Heads are switched off one at a time, least important first (by the validation log-probability drop, "
        f"re-estimated every {survey['pruning']['reestimate_every']} heads with the others already off), down to one "
        "head per kind. "
        + " ".join(
            f"{int(f * 100)}% off: BLEU {b:.2f}." for f in (0.25, 0.5, 0.75) if (b := bleu_at(survey, f)) is not None
        ),
        key="lab_pruning",
    )
    best, worst = ranked(survey)[:5], ranked(survey)[-5:]
    left, right = st.columns(2)
    for column, title, entries in ((left, "Most important", best), (right, "Least important", worst)):
        with column:
            st.markdown(f"**{title}** (validation BLEU drop when alone off)")
            st.dataframe(
                pd.DataFrame(
                    [{"head": str(head_of(e)), "label": e["label"], "BLEU drop": e["bleu_drop"]} for e in entries]
                ),
                hide_index=True,
                width="stretch",
            )
    for line in comparison(survey):
        st.markdown("- " + line)
    st.caption(
        f"{survey['sentences']} validation sentences; computed by `{survey['command']}` in {survey['seconds']:.0f} s."
    )

st.header("Attention rollout (encoder)")
rollout = attention_rollout(trace.encoder_self_attn)
labels = trace.source.labels
ui.chart(
    shared_figure(attention_heatmap, rollout[-1], labels, labels, title="Rollout through every encoder layer"),
    "Abnar and Zuidema (2020): each layer's mean attention is mixed half and half with the identity (for the "
    "residual connection), rows renormalised, and multiplied through the layers; row i estimates how much each "
    "source position reaches position i. It ignores the feed-forward blocks, LayerNorm and what the value "
    "vectors carry, so read it as a rough guide to where information can flow, not as what the model uses.",
    key="lab_rollout",
)
