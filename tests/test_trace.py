"""The trace: its pinned layout, JSON export, and the scaled dot-product stages of chosen heads."""

from __future__ import annotations

import json
import math
from dataclasses import fields

import numpy as np
import pytest
import torch

from model.interventions import HeadRef, Interventions
from model.trace import AttentionStages, SequenceView, StepRecord, Trace
from model.tracing import trace_sentence
from model.transformer import Transformer

SOURCE_IDS = [5, 17, 9, 33, 3, 0, 0]  # S = 7, the last two are padding
S, T, L, H, D, D_K, V = 7, 5, 2, 4, 32, 8, 50
HEADS = (
    HeadRef("encoder.self_attn", 1, 2),
    HeadRef("decoder.self_attn", 1, 0),
    HeadRef("decoder.cross_attn", 0, 3),
)


@pytest.fixture
def trace(tiny_model: Transformer) -> Trace:
    return trace_sentence(
        tiny_model,
        SOURCE_IDS,
        token_text=lambda i: f"t{i}",
        detokenize=lambda ids: "|".join(map(str, ids)),
        top_k=3,
        stage_heads=HEADS,
        max_new_tokens=T,
    )


def _names(cls: type) -> list[str]:
    return [f.name for f in fields(cls)]


TRACE_FIELDS = (
    "source target output_ids output_tokens translation stop_reason encoder_self_attn decoder_self_attn cross_attn "
    "source_padding_mask causal_mask decoder_mask logits steps stages"
).split()
SEQUENCE_FIELDS = "ids tokens token_embeddings positional summed".split()
STEP_FIELDS = (
    "step prefix_ids prefix_tokens self_attn cross_attn top_ids top_tokens top_probs chosen_id chosen_token "
    "chosen_prob is_eos"
).split()
STAGE_FIELDS = "site head q k v raw_scores scaled_scores masked_scores weights output".split()


def test_field_names_are_pinned() -> None:
    assert _names(Trace) == TRACE_FIELDS
    assert _names(SequenceView) == SEQUENCE_FIELDS
    assert _names(StepRecord) == STEP_FIELDS
    assert _names(AttentionStages) == STAGE_FIELDS


def test_shapes_for_a_known_sentence(trace: Trace) -> None:
    assert trace.stop_reason == "max_length" and len(trace.output_ids) == T
    assert trace.source.ids == tuple(SOURCE_IDS) and trace.source.tokens[0] == "t5"
    assert trace.target.ids == (2, *trace.output_ids[:-1])
    assert trace.output_tokens == tuple(f"t{i}" for i in trace.output_ids)
    assert trace.translation == "|".join(map(str, trace.output_ids))
    for view, length in ((trace.source, S), (trace.target, T)):
        assert len(view.ids) == len(view.tokens) == length
        for name in ("token_embeddings", "positional", "summed"):
            array = getattr(view, name)
            assert array.shape == (length, D) and array.dtype == np.float32, name
        np.testing.assert_allclose(view.summed, view.token_embeddings + view.positional, atol=1e-6)
    expected = {
        "encoder_self_attn": (L, H, S, S),
        "decoder_self_attn": (L, H, T, T),
        "cross_attn": (L, H, T, S),
        "source_padding_mask": (S,),
        "causal_mask": (T, T),
        "decoder_mask": (T, T),
        "logits": (T, V),
    }
    for name, shape in expected.items():
        assert getattr(trace, name).shape == shape, name
    assert trace.source_padding_mask.tolist() == [True] * 5 + [False] * 2
    assert np.array_equal(trace.causal_mask, np.tril(np.ones((T, T), dtype=bool)))
    assert np.array_equal(trace.decoder_mask, trace.causal_mask)
    assert len(trace.steps) == T
    for t, step in enumerate(trace.steps):
        assert step.self_attn.shape == (L, H, t + 1) and step.cross_attn.shape == (L, H, S)
        assert step.top_probs.shape == (3,) and len(step.top_ids) == len(step.top_tokens) == 3
        assert len(step.prefix_ids) == len(step.prefix_tokens) == t + 1
        assert step.causal_mask.shape == (t + 1, t + 1)
    assert sorted(trace.stages) == ["decoder.0.cross_attn/3", "decoder.1.self_attn/0", "encoder.1.self_attn/2"]
    keys_of = {"encoder.1.self_attn/2": (S, S), "decoder.1.self_attn/0": (T, T), "decoder.0.cross_attn/3": (T, S)}
    for key, (t_q, t_k) in keys_of.items():
        stages = trace.stages[key]
        site, head = key.split("/")
        assert (stages.site, stages.head) == (site, int(head))
        assert stages.q.shape == (t_q, D_K) and stages.output.shape == (t_q, D_K)
        assert stages.k.shape == stages.v.shape == (t_k, D_K)
        for name in ("raw_scores", "scaled_scores", "masked_scores", "weights"):
            assert getattr(stages, name).shape == (t_q, t_k), (key, name)


def test_views_labels_and_probabilities(trace: Trace) -> None:
    assert trace.attention("decoder.cross_attn") is trace.cross_attn
    with pytest.raises(KeyError):
        trace.attention("encoder.cross_attn")
    queries, keys = trace.axis_labels("decoder.cross_attn")
    assert queries == [f"{i}:t{token}" for i, token in enumerate(trace.target.ids)]
    assert keys[-1] == "6:t0" and len(set(keys)) == S
    np.testing.assert_allclose(trace.probabilities.sum(-1), np.ones(T), atol=1e-5)
    assert [s.chosen_id for s in trace.steps] == list(trace.output_ids)


def test_attention_matrices_match_the_masks(trace: Trace) -> None:
    np.testing.assert_allclose(trace.encoder_self_attn.sum(-1), np.ones((L, H, S)), atol=1e-5)
    np.testing.assert_allclose(trace.decoder_self_attn.sum(-1), np.ones((L, H, T)), atol=1e-5)
    np.testing.assert_allclose(trace.cross_attn.sum(-1), np.ones((L, H, T)), atol=1e-5)
    assert np.all(trace.encoder_self_attn[..., ~trace.source_padding_mask] == 0)
    assert np.all(trace.cross_attn[..., ~trace.source_padding_mask] == 0)
    assert np.all(trace.decoder_self_attn[..., ~trace.decoder_mask] == 0)


def test_to_dict_is_json_with_minus_inf_as_none(trace: Trace) -> None:
    data = trace.to_dict()
    text = json.dumps(data, allow_nan=False)
    assert set(json.loads(text)) == set(TRACE_FIELDS)
    assert set(data["source"]) == set(SEQUENCE_FIELDS)
    assert set(data["steps"][0]) == {*STEP_FIELDS, "causal_mask"}
    assert data["steps"][2]["causal_mask"] == np.tril(np.ones((3, 3), dtype=bool)).tolist()
    masked = data["stages"]["encoder.1.self_attn/2"]["masked_scores"]
    assert [[value is None for value in row] for row in masked] == [[not m for m in trace.source_padding_mask]] * S
    causal = data["stages"]["decoder.1.self_attn/0"]["masked_scores"]
    assert [[value is None for value in row] for row in causal] == (~trace.decoder_mask).tolist()
    assert data["stages"]["encoder.1.self_attn/2"]["head"] == 2


def _check_stages(stages: AttentionStages, allowed: np.ndarray, matrix: np.ndarray) -> None:
    """The stage arithmetic, and the stage weights equal the head's matrix in the trace."""
    assert np.array_equal(np.isneginf(stages.masked_scores), ~allowed)
    assert not np.any(np.isinf(stages.masked_scores[allowed]))
    np.testing.assert_allclose(stages.raw_scores, stages.q @ stages.k.T, atol=1e-4, rtol=1e-5)
    np.testing.assert_allclose(stages.scaled_scores, stages.raw_scores / math.sqrt(D_K), atol=1e-6, rtol=1e-6)
    np.testing.assert_array_equal(stages.masked_scores[allowed], stages.scaled_scores[allowed])
    softmax = torch.softmax(torch.from_numpy(stages.masked_scores), dim=-1).numpy()
    np.testing.assert_allclose(stages.weights, softmax, atol=1e-6)
    np.testing.assert_allclose(stages.output, stages.weights @ stages.v, atol=1e-5)
    np.testing.assert_allclose(stages.weights, matrix, atol=1e-5)


def test_stages_of_chosen_heads(trace: Trace) -> None:
    padding = np.broadcast_to(trace.source_padding_mask, (S, S))
    _check_stages(trace.stages["encoder.1.self_attn/2"], padding, trace.encoder_self_attn[1, 2])
    _check_stages(trace.stages["decoder.1.self_attn/0"], trace.decoder_mask, trace.decoder_self_attn[1, 0])
    cross_allowed = np.broadcast_to(trace.source_padding_mask, (T, S))
    _check_stages(trace.stages["decoder.0.cross_attn/3"], cross_allowed, trace.cross_attn[0, 3])


def test_stages_follow_the_interventions(tiny_model: Transformer) -> None:
    ref = HeadRef("decoder.cross_attn", 0, 1)
    zeroed = HeadRef("encoder.self_attn", 0, 3)
    interventions = Interventions(uniform_heads=frozenset({ref}), zero_heads=frozenset({zeroed}))
    trace = trace_sentence(
        tiny_model, SOURCE_IDS, stage_heads=[ref, zeroed], interventions=interventions, max_new_tokens=4
    )
    expected = np.broadcast_to(trace.source_padding_mask / 5.0, (4, S))
    np.testing.assert_allclose(trace.stages["decoder.0.cross_attn/1"].weights, expected, atol=1e-6)
    np.testing.assert_allclose(trace.cross_attn[0, 1], expected, atol=1e-6)
    assert np.all(trace.stages["encoder.0.self_attn/3"].output == 0)
