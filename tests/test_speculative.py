"""The trace's decoding: int8 draft proposals confirmed by float32 passes equal step-by-step greedy decoding."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest
import torch

from model.decoding import greedy_decode
from model.draft import DraftDecoder, DraftLinear, draft_for
from model.interventions import HeadRef, Interventions
from model.speculative import MAX_PASSES, decode_and_verify
from model.tracing import trace_sentence
from model.transformer import Transformer

MAX_NEW = 12
SOURCES = ([2, 7, 19, 33, 3], [2, 41, 5, 5, 12, 28, 9, 3], [2, 11, 3, 0, 0])  # the last one is padded


class WrongProposer:
    """Proposes the true greedy tokens, except `wrong` at the output positions in `wrong_at` (None: everywhere)."""

    def __init__(self, truth: list[int], wrong: int, wrong_at: set[int] | None, at_most: int = MAX_NEW) -> None:
        self.truth, self.wrong, self.wrong_at, self.at_most = truth, wrong, wrong_at, at_most
        self.calls = 0

    def propose(
        self, memory: Any, source_bias: Any, prefix: list[int], max_new_tokens: int, interventions: Any = None
    ) -> list[int]:
        self.calls += 1
        start = len(prefix) - 1
        wrong_at = set(range(MAX_NEW)) if self.wrong_at is None else self.wrong_at
        end = min(len(self.truth), start + self.at_most)
        return [self.wrong if t in wrong_at else self.truth[t] for t in range(start, end)]


def _assert_trace_matches_stepwise(model: Transformer, source: list[int], **kwargs: Any) -> None:
    trace = trace_sentence(model, source, max_new_tokens=MAX_NEW, top_k=4, **kwargs)
    reference = greedy_decode(
        model, torch.tensor([source]), MAX_NEW, top_k=4, interventions=kwargs.get("interventions")
    )
    assert list(trace.output_ids) == reference.output_ids
    assert trace.stop_reason == reference.stop_reason
    np.testing.assert_allclose(trace.logits, reference.logits, rtol=1e-5, atol=1e-4)  # as test_decoding
    assert len(trace.steps) == len(reference.steps)
    for ours, theirs in zip(trace.steps, reference.steps, strict=True):
        assert ours.prefix_ids == theirs.prefix_ids
        assert ours.chosen_id == theirs.chosen_id == ours.top_ids[0]
        assert ours.top_ids == theirs.top_ids
        np.testing.assert_allclose(
            ours.self_attn, theirs.self_attn, atol=1e-4, rtol=0
        )  # two float32 roundings of large activations
        np.testing.assert_allclose(
            ours.cross_attn, theirs.cross_attn, atol=1e-4, rtol=0
        )  # two float32 roundings of large activations
        np.testing.assert_allclose(ours.top_probs, theirs.top_probs, rtol=1e-4, atol=1e-6)
        assert ours.chosen_prob == pytest.approx(theirs.chosen_prob, rel=1e-4, abs=1e-6)


@pytest.mark.parametrize("source", SOURCES)
def test_trace_equals_step_by_step_decoding(varied_models: list[Transformer], source: list[int]) -> None:
    for model in varied_models:
        _assert_trace_matches_stepwise(model, source)


def test_trace_equals_step_by_step_decoding_for_post_norm(tiny_model: Transformer) -> None:
    for source in SOURCES:
        _assert_trace_matches_stepwise(tiny_model, source)


def test_trace_equals_step_by_step_decoding_under_interventions(varied_models: list[Transformer]) -> None:
    interventions = Interventions(
        zero_heads=frozenset({HeadRef("decoder.self_attn", 0, 1), HeadRef("decoder.cross_attn", 1, 2)}),
        uniform_heads=frozenset(
            {
                HeadRef("decoder.cross_attn", 0, 0),
                HeadRef("decoder.self_attn", 1, 2),
                HeadRef("encoder.self_attn", 1, 3),
            }
        ),
        temperature=1.7,
    )
    for source in SOURCES:
        _assert_trace_matches_stepwise(varied_models[1], source, interventions=interventions)


def _truth_and_a_wrong_token(model: Transformer, source: torch.Tensor) -> tuple[list[int], int]:
    truth = greedy_decode(model, source, MAX_NEW, record=False).output_ids
    return truth, next(t for t in range(4, 50) if t not in truth)


def test_a_wrong_proposal_is_corrected(varied_models: list[Transformer]) -> None:
    model = varied_models[0]
    source = torch.tensor([SOURCES[1]])
    truth, wrong = _truth_and_a_wrong_token(model, source)
    proposer = WrongProposer(truth, wrong, wrong_at={5})
    verified = decode_and_verify(model, source, MAX_NEW, proposer=proposer)
    assert verified is not None and verified.output_ids == truth
    assert verified.passes == 2 and proposer.calls == 2  # wrong at position 5, right after the correction
    _assert_trace_matches_stepwise(model, SOURCES[1], proposer=WrongProposer(truth, wrong, wrong_at={5}))


def test_proposals_that_stop_short_are_continued(varied_models: list[Transformer]) -> None:
    model = varied_models[1]
    source = torch.tensor([SOURCES[1]])
    truth, wrong = _truth_and_a_wrong_token(model, source)
    verified = decode_and_verify(model, source, MAX_NEW, proposer=WrongProposer(truth, wrong, set(), at_most=4))
    assert verified is not None and verified.output_ids == truth and verified.passes == -(-len(truth) // 4)


def test_proposals_that_never_settle_fall_back_to_step_by_step(varied_models: list[Transformer]) -> None:
    model = varied_models[2]
    source = torch.tensor([SOURCES[0]])
    truth, wrong = _truth_and_a_wrong_token(model, source)
    assert len(truth) > MAX_PASSES  # one corrected token per pass cannot finish within MAX_PASSES passes
    assert decode_and_verify(model, source, MAX_NEW, proposer=WrongProposer(truth, wrong, None)) is None
    _assert_trace_matches_stepwise(model, SOURCES[0], proposer=WrongProposer(truth, wrong, None))


def test_the_draft_is_rebuilt_when_weights_change(varied_models: list[Transformer]) -> None:
    model = copy.deepcopy(varied_models[0])
    first = draft_for(model)
    assert draft_for(model) is first
    with torch.no_grad():
        model.decoder_layers[0].feed_forward.expand.weight.mul_(0.5)
    assert draft_for(model) is not first
    _assert_trace_matches_stepwise(model, SOURCES[1])


def test_int8_rows_are_within_half_a_step_of_the_weights() -> None:
    weight = torch.randn(40, 32) * torch.logspace(-3, 1, 40)[:, None]
    bias = torch.randn(40)
    layer = DraftLinear.quantize(weight, bias)
    assert layer.weight.dtype == torch.int8 and layer.scales is not None
    restored = layer.weight.float() * layer.scales.float()[:, None]
    row_max = weight.abs().amax(dim=1, keepdim=True)
    step = layer.scales.float()[:, None]
    assert bool(step.ge(row_max / 127).all()) and bool(step.le(row_max / 127 * 1.01).all())
    assert bool((restored - weight).abs().le(0.5 * step * (1 + 1e-6)).all())
    x = torch.randn(1, 32)
    exact = torch.nn.functional.linear(x, weight, bias)
    assert torch.allclose(layer(x), exact, rtol=0.03, atol=0.03 * float(exact.abs().max()))


@pytest.mark.parametrize("width", [8, 24, 33])
def test_widths_the_int8_kernel_cannot_take_stay_in_float32(width: int) -> None:
    weight, bias, x = torch.randn(7, width), torch.randn(7), torch.randn(1, width)
    layer = DraftLinear.quantize(weight, bias)
    assert layer.scales is None and layer.weight.dtype == torch.float32
    assert torch.equal(layer(x), torch.nn.functional.linear(x, weight, bias))


def test_draft_follows_the_model_on_a_confident_decoder(varied_models: list[Transformer]) -> None:
    """On these random models most proposals are right; all of them are checked anyway."""
    agreed = total = 0
    for model in varied_models:
        draft = DraftDecoder(model)
        for source_ids in SOURCES:
            source = torch.tensor([source_ids])
            truth = greedy_decode(model, source, MAX_NEW, record=False).output_ids
            with torch.inference_mode():
                bias = model.source_bias(source)
                proposal = draft.propose(model.encode(source, bias), bias, [model.config.bos_id], MAX_NEW)
            agreed += sum(a == b for a, b in zip(proposal, truth, strict=False))
            total += len(truth)
    assert agreed >= 0.5 * total


def test_a_float32_draft_follows_every_intervention(make_varied_model: Any) -> None:
    """Widths that are not multiples of 16 keep the draft in float32, where it must propose exactly the model's
    tokens: the draft applies switched-off heads, uniform heads and the temperature as the model does."""
    model = make_varied_model(seed=4, d_model=24, n_heads=4, d_ff=40)
    assert DraftDecoder(model).output.scales is None
    interventions = Interventions(
        zero_heads=frozenset({HeadRef("decoder.self_attn", 0, 1), HeadRef("decoder.cross_attn", 1, 2)}),
        uniform_heads=frozenset({HeadRef("decoder.self_attn", 1, 0), HeadRef("decoder.cross_attn", 0, 3)}),
        temperature=0.6,
    )
    for source_ids in SOURCES:
        source = torch.tensor([source_ids])
        plain = decode_and_verify(model, source, MAX_NEW)
        changed = decode_and_verify(model, source, MAX_NEW, interventions=interventions)
        assert plain is not None and changed is not None
        assert plain.passes == 1 and changed.passes == 1
        assert changed.output_ids == greedy_decode(model, source, MAX_NEW, interventions=interventions).output_ids


def test_length_limits_are_checked_as_in_step_by_step_decoding(tiny_model: Transformer) -> None:
    limit = tiny_model.config.max_len - 1
    with pytest.raises(ValueError, match="max_new_tokens"):
        trace_sentence(tiny_model, SOURCES[0], max_new_tokens=limit + 1)
    with pytest.raises(ValueError, match="max_new_tokens"):
        decode_and_verify(tiny_model, torch.tensor([SOURCES[0]]), 0)
    trace = trace_sentence(tiny_model, SOURCES[0], max_new_tokens=limit)
    assert len(trace.output_ids) <= limit and len(trace.steps) == len(trace.output_ids)


def test_a_model_made_under_inference_mode_is_traced_too(make_model: Any) -> None:
    with torch.inference_mode():
        model = make_model(seed=5)
        assert all(p.is_inference() for p in model.parameters())
        assert draft_for(model) is not draft_for(model)  # no version counter to tell a change: never cached
    _assert_trace_matches_stepwise(model, SOURCES[1])
