"""Head ablation on one sentence: the batched importance equals one-by-one ablation, and a head off drops 0."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from model.decode import greedy_decode
from model.inspect.ablation import forced_pass, head_importance, keep_only
from model.inspect.interventions import Interventions
from model.nn.names import HeadRef, every_head
from model.nn.transformer import Transformer

SOURCE = [5, 17, 9, 33, 12, 41, 3]


def _output(model: Transformer) -> list[int]:
    return greedy_decode(model, torch.tensor([SOURCE]), 8).output_ids


def test_batched_importance_equals_one_by_one(varied_models: list[Transformer]) -> None:
    model = varied_models[0]
    output = _output(model)
    batched = head_importance(model, SOURCE, output, chunk=7)  # several chunks
    full = forced_pass(model, SOURCE, output, None).logprobs.sum()
    assert len(batched) == len(every_head(model.config)) == 24
    for ref in every_head(model.config):
        alone = forced_pass(model, SOURCE, output, Interventions(zero_heads=frozenset({ref}))).logprobs.sum()
        assert batched[ref] == pytest.approx(float(full - alone), abs=2e-3), ref
    assert max(abs(v) for v in batched.values()) > 0.05  # the heads matter on this model


def test_a_head_already_off_has_importance_zero(varied_models: list[Transformer]) -> None:
    model = varied_models[1]
    output = _output(model)
    off = HeadRef("decoder.cross_attn", 1, 2)
    interventions = Interventions(zero_heads=frozenset({off}))
    importance = head_importance(model, SOURCE, output, interventions)
    assert importance[off] == pytest.approx(0.0, abs=1e-5)
    assert any(abs(v) > 1e-3 for ref, v in importance.items() if ref != off)


def test_forced_pass_lines_up_with_the_decoding(varied_models: list[Transformer]) -> None:
    model = varied_models[2]
    result = greedy_decode(model, torch.tensor([SOURCE]), 8)
    forced = forced_pass(model, SOURCE, result.output_ids, None)
    expected = torch.log_softmax(result.logits, dim=-1).gather(1, torch.tensor(result.output_ids)[:, None])[:, 0]
    np.testing.assert_allclose(forced.logprobs, expected.numpy(), atol=1e-4)
    assert forced.weights["decoder.1.cross_attn"].shape == (4, len(result.output_ids), len(SOURCE))


def test_keep_only_switches_off_the_rest_of_the_kind(tiny_model: Transformer) -> None:
    kept = [HeadRef("decoder.cross_attn", 0, 1)]
    off = keep_only(tiny_model, kept, ["decoder.cross_attn"])
    assert len(off) == 2 * 4 - 1 and kept[0] not in off
    assert all(ref.kind == "decoder.cross_attn" for ref in off)


def test_the_traces_output_logprobs_are_the_forced_pass_as_trained(varied_models: list[Transformer]) -> None:
    from model.inspect.tracing import trace_sentence

    model = varied_models[0]
    trace = trace_sentence(model, SOURCE, max_new_tokens=8)
    forced = forced_pass(model, SOURCE, list(trace.output_ids), None)
    np.testing.assert_allclose(trace.output_logprobs, forced.logprobs, atol=1e-5)
