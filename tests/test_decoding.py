"""Greedy decoding: the key/value cache against the uncached reference, per-step records, batching, stopping."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from reference_decoding import decode_recording_each_step

from model.decode import (
    STOP_EOS,
    STOP_LENGTH,
    emission_penalty,
    greedy_decode,
    greedy_decode_batch,
    greedy_decode_uncached,
    next_token_logits,
)
from model.inspect.recording import Recorder
from model.nn.config import ModelConfig
from model.nn.names import site_name
from model.nn.transformer import Transformer

MAX_NEW = 20


def _sentences(seed: int) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(100 + seed)
    return [torch.randint(4, 50, (1, length), generator=gen) for length in (3, 5, 8, 11)]


def _with_eos(model: Transformer, eos_id: int) -> Transformer:
    """The same weights under a config whose EOS id is `eos_id`: decoding then stops where that token is chosen."""
    config = ModelConfig.from_dict({**model.config.to_dict(), "eos_id": eos_id})
    twin = Transformer(config)
    twin.load_state_dict(model.state_dict())
    return twin.eval()


def test_varied_models_do_not_collapse(varied_models: list[Transformer]) -> None:
    outputs = [greedy_decode(m, s, MAX_NEW).output_ids for m in varied_models for s in _sentences(0)]
    assert all(len(o) == MAX_NEW for o in outputs)
    assert sum(len(set(o)) >= 3 for o in outputs) >= len(outputs) // 2
    assert len({tuple(o) for o in outputs}) == len(outputs)


def test_cached_greedy_equals_uncached(varied_models: list[Transformer]) -> None:
    for index, model in enumerate(varied_models):
        for source in _sentences(index):
            cached = greedy_decode(model, source, MAX_NEW)
            assert cached.output_ids == greedy_decode_uncached(model, source, MAX_NEW), (index, source.tolist())


@torch.inference_mode()
def test_chunked_cache_equals_full_pass(varied_models: list[Transformer]) -> None:
    model = varied_models[0]
    source = _sentences(0)[2]
    target = torch.tensor([[2, 17, 5, 40, 9, 33, 21]])
    bias = model.source_bias(source)
    memory = model.encode(source, bias)
    full = model.decode(target, memory, bias)
    cache = model.new_cache()
    chunks = [model.decode(target[:, a:b], memory, bias, cache) for a, b in ((0, 3), (3, 4), (4, 7))]
    assert cache.length == 7
    torch.testing.assert_close(torch.cat(chunks, dim=1), full, atol=1e-4, rtol=1e-5)


@pytest.mark.parametrize("index", [0, 1, 2])
def test_step_rows_equal_teacher_forced_pass(varied_models: list[Transformer], index: int) -> None:
    """Row t of one teacher-forced pass is what cached step t computed: the fact the trace is built on."""
    model = varied_models[index]
    source = _sentences(index)[3]
    result = greedy_decode(model, source, MAX_NEW)
    steps = decode_recording_each_step(model, source, MAX_NEW)
    assert [step.chosen for step in steps] == result.output_ids
    decoder_input = torch.tensor([[model.config.bos_id, *result.output_ids[:-1]]])
    recorder = Recorder()
    with torch.inference_mode():
        logits = model(source, decoder_input, probe=recorder)
    layers = range(model.config.n_decoder_layers)
    self_full = torch.stack([recorder.weights[site_name("decoder.self_attn", i)][0] for i in layers]).numpy()
    cross_full = torch.stack([recorder.weights[site_name("decoder.cross_attn", i)][0] for i in layers]).numpy()
    assert len(steps) == MAX_NEW
    for t, step in enumerate(steps):
        assert step.self_attn.shape == (2, 4, t + 1)
        assert step.cross_attn.shape == (2, 4, source.size(1))
        np.testing.assert_allclose(step.self_attn, self_full[:, :, t, : t + 1], atol=1e-5, rtol=0)
        np.testing.assert_allclose(step.cross_attn, cross_full[:, :, t], atol=1e-5, rtol=0)
        np.testing.assert_array_equal(step.logits, result.logits[t].numpy())
    expected = next_token_logits(logits[0], emission_penalty(model)).numpy()  # <pad> and <s> are never chosen
    np.testing.assert_allclose(result.logits.numpy(), expected, atol=1e-4, rtol=1e-5)


def test_decoding_from_a_given_memory_equals_encoding_inside(varied_models: list[Transformer]) -> None:
    model = varied_models[2]
    source = _sentences(2)[1]
    with torch.inference_mode():
        memory = model.encode(source)
    given = greedy_decode(model, source, MAX_NEW, memory=memory)
    inside = greedy_decode(model, source, MAX_NEW)
    assert given.output_ids == inside.output_ids and torch.equal(given.logits, inside.logits)


def test_batched_greedy_equals_per_sentence(varied_models: list[Transformer]) -> None:
    model = varied_models[1]
    sentences = _sentences(1)
    singles = [greedy_decode(model, s, MAX_NEW).output_ids for s in sentences]
    # Call a token of the second sentence's output EOS, so that one sentence of the batch finishes early.
    eos_id = singles[1][4]
    model = _with_eos(model, eos_id)
    singles = [greedy_decode(model, s, MAX_NEW).output_ids for s in sentences]
    assert any(o[-1] == eos_id for o in singles) and any(len(o) == MAX_NEW and eos_id not in o for o in singles)
    padded = torch.full((len(sentences), max(s.size(1) for s in sentences)), model.config.pad_id)
    for row, sentence in enumerate(sentences):
        padded[row, : sentence.size(1)] = sentence[0]
    batched = greedy_decode_batch(model, padded, MAX_NEW)
    assert batched == [[t for t in o if t != eos_id] for o in singles]


def test_stop_reason_max_length(varied_models: list[Transformer]) -> None:
    result = greedy_decode(varied_models[0], _sentences(0)[0], 7)
    assert result.stop_reason == STOP_LENGTH
    assert len(result.output_ids) == 7 and result.logits.shape == (7, 50)
    assert 3 not in result.output_ids


def test_stop_reason_eos(varied_models: list[Transformer]) -> None:
    source = _sentences(0)[1]
    reference = greedy_decode(varied_models[0], source, MAX_NEW).output_ids
    stop_at = next(t for t in range(2, MAX_NEW) if reference[t] not in reference[:t] and reference[t] > 3)
    model = _with_eos(varied_models[0], reference[stop_at])
    result = greedy_decode(model, source, MAX_NEW)
    assert result.stop_reason == STOP_EOS
    assert result.output_ids == reference[: stop_at + 1]
    assert result.logits.shape == (stop_at + 1, 50)
    assert result.output_ids[-1] == reference[stop_at] and reference[stop_at] not in result.output_ids[:-1]
    assert greedy_decode_uncached(model, source, MAX_NEW) == result.output_ids


def test_decoding_argument_checks(tiny_model: Transformer) -> None:
    with pytest.raises(ValueError, match="one sentence"):
        greedy_decode(tiny_model, torch.tensor([[5, 6], [7, 8]]), 3)
    with pytest.raises(ValueError, match="max_new_tokens"):
        greedy_decode(tiny_model, torch.tensor([[5, 6]]), 64)
    with pytest.raises(ValueError, match="max_new_tokens"):
        greedy_decode_uncached(tiny_model, torch.tensor([[5, 6]]), 100)


def test_decoders_agree_when_the_pad_token_wins(varied_models: list[Transformer]) -> None:
    """Nothing stops the argmax from being the pad id (its embedding row is trained like any other through the tied
    projection). The cached, uncached and batched decoders must still agree on what they produce."""
    model = copy.deepcopy(varied_models[0])
    source = _sentences(0)[1]
    reference = greedy_decode(model, source, MAX_NEW).output_ids
    pad = model.config.pad_id
    with torch.no_grad():
        model.embedding.weight[pad] = 1.5 * model.embedding.weight[reference[2]]
        logits = model(source, torch.tensor([[model.config.bos_id, *reference[:2]]]))
    assert int(logits[0, 2].argmax()) == pad  # the pad id is now the best next token after the reference prefix
    cached = greedy_decode(model, source, MAX_NEW).output_ids
    assert cached == greedy_decode_uncached(model, source, MAX_NEW)
    assert greedy_decode_batch(model, source, MAX_NEW) == [[t for t in cached if t != model.config.eos_id]]
