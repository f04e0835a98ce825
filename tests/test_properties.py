"""Property tests over random lengths, batch sizes and padding: masks hold and padding changes nothing real."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from model.inspect.recording import Recorder
from model.nn.attention import scaled_dot_product_attention
from model.nn.masks import key_padding_bias
from model.nn.transformer import Transformer

PAD, BOS = 0, 2
PROPERTY_SETTINGS = settings(max_examples=30, deadline=None, derandomize=True)

tokens = st.integers(min_value=4, max_value=49)
sentence = st.lists(tokens, min_size=1, max_size=9)
batch_of_sentences = st.lists(sentence, min_size=1, max_size=4)
extra_padding = st.integers(min_value=0, max_value=3)


@pytest.fixture(scope="module")
def model(make_model: Any) -> Transformer:
    return make_model(seed=3)


def _pad(sentences: list[list[int]], extra: int) -> torch.Tensor:
    """Right-pad to the longest sentence plus `extra` columns of padding."""
    width = max(len(s) for s in sentences) + extra
    return torch.tensor([s + [PAD] * (width - len(s)) for s in sentences])


@PROPERTY_SETTINGS
@given(sources=batch_of_sentences, targets=batch_of_sentences, extra=extra_padding)
def test_rows_sum_to_one_and_padding_keys_get_zero(
    model: Transformer, sources: list[list[int]], targets: list[list[int]], extra: int
) -> None:
    batch = min(len(sources), len(targets))
    source = _pad(sources[:batch], extra)
    target = torch.tensor([[BOS, *t[:4]] + [t[0]] * (4 - len(t[:4])) for t in targets[:batch]])
    recorder = Recorder()
    with torch.inference_mode():
        model(source, target, probe=recorder)
    is_pad = source == PAD
    for site, weights in recorder.weights.items():
        torch.testing.assert_close(weights.sum(-1), torch.ones(weights.shape[:-1]), atol=1e-5, rtol=0)
        if not site.endswith(".self_attn") or site.startswith("encoder"):
            assert torch.all(weights.permute(0, 3, 1, 2)[is_pad] == 0), site
            assert torch.all(weights.permute(0, 3, 1, 2)[~is_pad] > 0), site


@PROPERTY_SETTINGS
@given(sources=batch_of_sentences, extra=extra_padding, target=st.lists(tokens, min_size=0, max_size=6))
def test_batched_equals_unbatched(model: Transformer, sources: list[list[int]], extra: int, target: list[int]) -> None:
    source = _pad(sources, extra)
    decoder_input = torch.tensor([[BOS, *target]]).expand(len(sources), -1)
    with torch.inference_mode():
        memory = model.encode(source)
        logits = model(source, decoder_input)
        for row, sentence in enumerate(sources):
            alone = torch.tensor([sentence])
            n = len(sentence)
            torch.testing.assert_close(memory[row, :n], model.encode(alone)[0], atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(logits[row], model(alone, decoder_input[:1])[0], atol=1e-4, rtol=1e-5)


@PROPERTY_SETTINGS
@given(
    source=sentence,
    target=st.lists(tokens, min_size=1, max_size=10),
    data=st.data(),
)
def test_causal_invariance(model: Transformer, source: list[int], target: list[int], data: st.DataObject) -> None:
    decoder_input = torch.tensor([[BOS, *target]])
    position = data.draw(st.integers(min_value=1, max_value=len(target)), label="position")
    replacement = data.draw(tokens.filter(lambda t: t != target[position - 1]), label="replacement")
    changed = decoder_input.clone()
    changed[0, position] = replacement
    with torch.inference_mode():
        before = model(torch.tensor([source]), decoder_input)
        after = model(torch.tensor([source]), changed)
    torch.testing.assert_close(after[:, :position], before[:, :position], atol=1e-6, rtol=0)
    assert not torch.allclose(after[:, position], before[:, position], atol=1e-4)


@PROPERTY_SETTINGS
@given(
    lengths=st.lists(st.integers(min_value=1, max_value=8), min_size=1, max_size=4),
    extra=extra_padding,
    t_q=st.integers(min_value=1, max_value=6),
    seed=st.integers(min_value=0, max_value=2**16),
)
def test_attention_rows_on_random_shapes(lengths: list[int], extra: int, t_q: int, seed: int) -> None:
    keys = _pad([[7] * n for n in lengths], extra)
    gen = torch.Generator().manual_seed(seed)
    batch, t_k = keys.shape
    q = torch.randn(batch, 2, t_q, 4, generator=gen) * 3
    k = torch.randn(batch, 2, t_k, 4, generator=gen) * 3
    v = torch.randn(batch, 2, t_k, 4, generator=gen)
    out, weights, _ = scaled_dot_product_attention(q, k, v, key_padding_bias(keys, PAD))
    torch.testing.assert_close(weights.sum(-1), torch.ones(batch, 2, t_q), atol=1e-5, rtol=0)
    for row, n in enumerate(lengths):
        assert torch.all(weights[row, ..., n:] == 0)
        alone, _, _ = scaled_dot_product_attention(q[row : row + 1], k[row : row + 1, :, :n], v[row : row + 1, :, :n])
        torch.testing.assert_close(out[row : row + 1], alone, atol=1e-5, rtol=1e-5)
