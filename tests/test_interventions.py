"""Interventions passed per call: zeroed heads, uniform heads, temperature; none of them outlives its call."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pytest
import torch
from reference_decoding import decode_recording_each_step

from model.decode import greedy_decode
from model.inspect.interventions import Interventions
from model.inspect.recording import Recorder
from model.nn.names import ATTENTION_KINDS, HeadRef
from model.nn.probe import SiteEdit
from model.nn.transformer import Transformer

SOURCE = torch.tensor([[5, 17, 9, 33, 12, 41], [8, 22, 3, 0, 0, 0]])
TARGET = torch.tensor([[2, 14, 27, 6], [2, 30, 11, 45]])
OTHER_SOURCE = torch.tensor([[7, 7, 30, 4, 19, 25], [12, 44, 9, 0, 0, 0]])


def _all_heads(model: Transformer, kinds: tuple[str, ...] = ATTENTION_KINDS) -> frozenset[HeadRef]:
    config = model.config
    refs: set[HeadRef] = set()
    for kind in kinds:
        layers = config.n_encoder_layers if kind.startswith("encoder") else config.n_decoder_layers
        refs |= {HeadRef(kind, layer, head) for layer in range(layers) for head in range(config.n_heads)}
    return frozenset(refs)


def _run(
    model: Transformer, interventions: Interventions | None = None, stage_heads: Sequence[HeadRef] = ()
) -> tuple[torch.Tensor, Recorder]:
    recorder = Recorder(interventions, stage_heads=stage_heads)
    with torch.inference_mode():
        logits = model(SOURCE, TARGET, probe=recorder)
    return logits, recorder


def test_switching_every_head_off_changes_logits(tiny_model: Transformer) -> None:
    baseline, _ = _run(tiny_model)
    logits, _ = _run(tiny_model, Interventions(zero_heads=_all_heads(tiny_model)))
    assert not torch.allclose(logits, baseline, atol=1e-3)
    for kind in ATTENTION_KINDS:
        one_kind, _ = _run(tiny_model, Interventions(zero_heads=_all_heads(tiny_model, (kind,))))
        assert not torch.allclose(one_kind, baseline, atol=1e-3), kind


@torch.inference_mode()
def test_without_cross_attention_the_source_is_ignored(tiny_model: Transformer) -> None:
    no_cross = Interventions(zero_heads=_all_heads(tiny_model, ("decoder.cross_attn",)))
    assert torch.equal(tiny_model(SOURCE, TARGET, probe=no_cross), tiny_model(OTHER_SOURCE, TARGET, probe=no_cross))
    assert not torch.allclose(tiny_model(SOURCE, TARGET), tiny_model(OTHER_SOURCE, TARGET), atol=1e-4)


def test_empty_interventions_change_nothing(tiny_model: Transformer) -> None:
    baseline, base_recorder = _run(tiny_model)
    for empty in (Interventions(), Interventions(temperature=1.0)):
        logits, recorder = _run(tiny_model, empty)
        assert torch.equal(logits, baseline)
        assert all(torch.equal(recorder.weights[s], w) for s, w in base_recorder.weights.items())
    source = SOURCE[:1]
    plain = greedy_decode(tiny_model, source, 6)
    with_empty = greedy_decode(tiny_model, source, 6, Interventions())
    assert plain.output_ids == with_empty.output_ids and np.array_equal(plain.logits, with_empty.logits)


def test_an_intervention_does_not_outlive_its_call(tiny_model: Transformer) -> None:
    baseline, _ = _run(tiny_model)
    switched_off = Interventions(zero_heads=frozenset({HeadRef("decoder.cross_attn", 1, 2)}))
    during, _ = _run(tiny_model, switched_off)
    assert not torch.equal(during, baseline)
    after, _ = _run(tiny_model)
    assert torch.equal(after, baseline)
    source = SOURCE[:1]
    plain = greedy_decode(tiny_model, source, 5).logits
    greedy_decode(tiny_model, source, 5, Interventions(zero_heads=_all_heads(tiny_model)))
    assert np.array_equal(greedy_decode(tiny_model, source, 5).logits, plain)


def test_zeroed_head_output_is_zero(tiny_model: Transformer) -> None:
    site = "encoder.1.self_attn"
    interventions = Interventions(zero_heads=frozenset({HeadRef("encoder.self_attn", 1, 2)}))
    _, recorder = _run(tiny_model, interventions, stage_heads=[HeadRef.at(site, 2), HeadRef.at(site, 1)])
    zeroed, kept = recorder.stages[HeadRef.at(site, 2)], recorder.stages[HeadRef.at(site, 1)]
    assert torch.all(zeroed["output"] == 0)
    assert zeroed["weights"].abs().sum() > 0  # the weights are still computed and shown
    assert torch.all(kept["output"].abs().sum(-1) > 0)


def test_uniform_heads_spread_evenly_over_allowed_keys(tiny_model: Transformer) -> None:
    refs = {HeadRef("encoder.self_attn", 0, 1), HeadRef("decoder.self_attn", 1, 3), HeadRef("decoder.cross_attn", 0, 0)}
    _, baseline = _run(tiny_model)
    _, recorder = _run(tiny_model, Interventions(uniform_heads=frozenset(refs)))
    real = torch.tensor([6, 3])  # real tokens per source sentence
    for batch in range(2):
        n = int(real[batch])
        encoder = recorder.weights["encoder.0.self_attn"][batch, 1]
        torch.testing.assert_close(encoder[:, :n], torch.full((6, n), 1 / n))
        assert torch.all(encoder[:, n:] == 0)
        cross = recorder.weights["decoder.0.cross_attn"][batch, 0]
        torch.testing.assert_close(cross[:, :n], torch.full((4, n), 1 / n))
        assert torch.all(cross[:, n:] == 0)
    causal = torch.ones(4, 4).tril()
    expected_self = causal / causal.sum(-1, keepdim=True)
    torch.testing.assert_close(recorder.weights["decoder.1.self_attn"][:, 3], expected_self.expand(2, 4, 4))
    # the other heads of the first encoder layer see the same input and keep their weights
    others = [0, 2, 3]
    assert torch.equal(
        recorder.weights["encoder.0.self_attn"][:, others], baseline.weights["encoder.0.self_attn"][:, others]
    )


def test_uniform_head_in_cached_decoding(tiny_model: Transformer) -> None:
    uniform = Interventions(uniform_heads=frozenset({HeadRef("decoder.self_attn", 0, 2)}))
    steps = decode_recording_each_step(tiny_model, SOURCE[1:, :3], 6, uniform)
    assert len(steps) == 6
    for t, step in enumerate(steps):
        np.testing.assert_allclose(step.self_attn[0, 2], np.full(t + 1, 1 / (t + 1)), atol=1e-6)


def test_temperature_changes_weights_and_stages(tiny_model: Transformer) -> None:
    site = "decoder.0.self_attn"
    _, baseline = _run(tiny_model, stage_heads=[HeadRef.at(site, 1)])
    _, cooled = _run(tiny_model, Interventions(temperature=1.0), stage_heads=[HeadRef.at(site, 1)])
    assert all(torch.equal(cooled.weights[s], w) for s, w in baseline.weights.items())
    _, hot = _run(tiny_model, Interventions(temperature=2.5), stage_heads=[HeadRef.at(site, 1)])
    for s, weights in baseline.weights.items():
        assert not torch.allclose(hot.weights[s], weights, atol=1e-4), s
    stages = hot.stages[HeadRef.at(site, 1)]
    d_k = tiny_model.config.d_k
    torch.testing.assert_close(stages["scaled_scores"], stages["raw_scores"] / (math.sqrt(d_k) * 2.5))
    torch.testing.assert_close(stages["weights"], torch.softmax(stages["masked_scores"], dim=-1))

    # a higher temperature flattens: the entropy of every causal row with more than one key goes up
    def entropy(w: torch.Tensor) -> torch.Tensor:
        return -(w * torch.log(w.clamp_min(1e-30))).sum(-1)

    assert torch.all(entropy(hot.weights[site])[..., 1:] > entropy(baseline.weights[site])[..., 1:])


def test_intervention_values_are_checked() -> None:
    with pytest.raises(ValueError, match="temperature"):
        Interventions(temperature=0.0)
    with pytest.raises(ValueError, match="attention kind"):
        HeadRef("encoder.cross_attn", 0, 0)
    with pytest.raises(ValueError, match=">= 0"):
        HeadRef("decoder.self_attn", -1, 0)


def test_interventions_select_their_site() -> None:
    interventions = Interventions(
        zero_heads=frozenset({HeadRef("decoder.cross_attn", 1, 3), HeadRef("decoder.cross_attn", 1, 0)}),
        uniform_heads=frozenset({HeadRef("encoder.self_attn", 0, 2)}),
    )
    assert interventions.edit("decoder.1.cross_attn") == SiteEdit(zeroed=(0, 3))
    assert interventions.edit("encoder.0.self_attn") == SiteEdit(uniform=(2,))
    assert interventions.edit("decoder.0.cross_attn") is None
    assert Interventions().edit("encoder.0.self_attn") is None
    assert Interventions(temperature=0.5).edit("decoder.1.self_attn") == SiteEdit(temperature=0.5)
