"""The hand-written attention against torch's own: scaled dot-product attention and a whole multi-head layer."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from model.inspect.recording import Recorder
from model.nn.attention import KVCache, MultiHeadAttention, scaled_dot_product_attention
from model.nn.masks import additive_bias, key_padding_bias

ATOL = 1e-5


def _qkv(
    seed: int, batch: int = 2, heads: int = 4, t_q: int = 5, t_k: int = 7, d_k: int = 8
) -> tuple[torch.Tensor, ...]:
    gen = torch.Generator().manual_seed(seed)
    q = torch.randn(batch, heads, t_q, d_k, generator=gen)
    k = torch.randn(batch, heads, t_k, d_k, generator=gen)
    v = torch.randn(batch, heads, t_k, d_k, generator=gen)
    return q, k, v


def _random_allowed(seed: int, shape: tuple[int, ...]) -> torch.Tensor:
    """A random bool mask with at least one allowed key per query row (the last key)."""
    allowed = torch.rand(shape, generator=torch.Generator().manual_seed(seed)) > 0.4
    allowed[..., -1] = True
    return allowed


def test_sdpa_matches_torch_without_mask() -> None:
    q, k, v = _qkv(0)
    out, weights, stages = scaled_dot_product_attention(q, k, v)
    expected = F.scaled_dot_product_attention(q, k, v)
    torch.testing.assert_close(out, expected, atol=ATOL, rtol=0)
    torch.testing.assert_close(weights, torch.softmax(q @ k.transpose(-2, -1) / 8**0.5, dim=-1), atol=ATOL, rtol=0)
    assert stages is None


@pytest.mark.parametrize("mask_shape", [(2, 4, 5, 7), (2, 1, 1, 7), (5, 7)])
def test_sdpa_matches_torch_with_bool_and_additive_mask(mask_shape: tuple[int, ...]) -> None:
    q, k, v = _qkv(1)
    allowed = _random_allowed(2, mask_shape)
    bias = additive_bias(allowed)
    out, weights, _ = scaled_dot_product_attention(q, k, v, bias)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=allowed), atol=ATOL, rtol=0)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=bias), atol=ATOL, rtol=0)
    assert torch.all(weights[~allowed.expand_as(weights)] == 0)


def _torch_twin(ours: MultiHeadAttention) -> nn.MultiheadAttention:
    """torch.nn.MultiheadAttention holding exactly our in_proj and out_proj parameters."""
    twin = nn.MultiheadAttention(ours.d_model, ours.n_heads, dropout=0.0, batch_first=True)
    with torch.no_grad():
        twin.in_proj_weight.copy_(ours.in_proj_weight)
        twin.in_proj_bias.copy_(ours.in_proj_bias)
        twin.out_proj.weight.copy_(ours.out_proj.weight)
        twin.out_proj.bias.copy_(ours.out_proj.bias)
    return twin.eval()


def _layer(seed: int, d_model: int = 32, n_heads: int = 4) -> MultiHeadAttention:
    torch.manual_seed(seed)
    layer = MultiHeadAttention(d_model, n_heads, attention_dropout=0.1, site="encoder.0.self_attn").eval()
    with torch.no_grad():
        layer.in_proj_bias.normal_()  # non-zero biases, so that a bias mix-up between q, k and v would show
        layer.out_proj.bias.normal_()
    return layer


@pytest.mark.parametrize("kind", ["self", "cross"])
def test_multihead_layer_matches_torch(kind: str) -> None:
    ours = _layer(3)
    twin = _torch_twin(ours)
    gen = torch.Generator().manual_seed(4)
    query = torch.randn(3, 6, 32, generator=gen)
    keys = query if kind == "self" else torch.randn(3, 9, 32, generator=gen)
    lengths = [keys.size(1), keys.size(1) - 2, 1]
    key_ids = torch.zeros(3, keys.size(1), dtype=torch.long)
    for row, length in enumerate(lengths):
        key_ids[row, :length] = 7  # any non-pad id; pad id 0 marks the padding
    recorder = Recorder()
    with torch.no_grad():
        out = ours(query, None if kind == "self" else keys, key_padding_bias(key_ids, 0), probe=recorder)
        expected, per_head = twin(
            query, keys, keys, key_padding_mask=key_ids == 0, need_weights=True, average_attn_weights=False
        )
        _, averaged = twin(query, keys, keys, key_padding_mask=key_ids == 0, need_weights=True)
    weights = recorder.weights[ours.site]
    assert weights.shape == (3, 4, 6, keys.size(1))
    torch.testing.assert_close(out, expected, atol=ATOL, rtol=0)
    torch.testing.assert_close(weights, per_head, atol=ATOL, rtol=0)
    torch.testing.assert_close(weights.mean(dim=1), averaged, atol=ATOL, rtol=0)


def test_multihead_layer_matches_torch_with_causal_mask() -> None:
    ours = _layer(5)
    twin = _torch_twin(ours)
    x = torch.randn(2, 7, 32, generator=torch.Generator().manual_seed(6))
    allowed = torch.ones(7, 7, dtype=torch.bool).tril()
    recorder = Recorder()
    with torch.no_grad():
        out = ours(x, None, additive_bias(allowed), probe=recorder)
        expected, per_head = twin(x, x, x, attn_mask=~allowed, average_attn_weights=False)
    torch.testing.assert_close(out, expected, atol=ATOL, rtol=0)
    torch.testing.assert_close(recorder.weights[ours.site], per_head, atol=ATOL, rtol=0)


def test_rows_sum_to_one_and_padding_keys_get_exactly_zero() -> None:
    q, k, v = _qkv(7, t_k=6)
    key_ids = torch.tensor([[5, 6, 7, 8, 0, 0], [5, 0, 0, 0, 0, 0]])
    _, weights, _ = scaled_dot_product_attention(q, k, v, key_padding_bias(key_ids, 0))
    torch.testing.assert_close(weights.sum(dim=-1), torch.ones(2, 4, 5), atol=ATOL, rtol=0)
    assert torch.all(weights[0, :, :, 4:] == 0)
    assert torch.all(weights[1, :, :, 1:] == 0)
    assert torch.all(weights[1, :, :, 0] == 1)
    assert torch.all(weights[0, :, :, :4] > 0)


def test_keep_stages_are_consistent() -> None:
    q, k, v = _qkv(8)
    allowed = _random_allowed(9, (2, 1, 5, 7))
    out, weights, stages = scaled_dot_product_attention(q, k, v, additive_bias(allowed), keep_stages=True)
    assert stages is not None
    assert set(stages) == {"raw_scores", "scaled_scores", "masked_scores", "weights"}
    torch.testing.assert_close(stages["raw_scores"], q @ k.transpose(-2, -1), atol=ATOL, rtol=0)
    torch.testing.assert_close(stages["scaled_scores"], stages["raw_scores"] / 8**0.5, atol=ATOL, rtol=0)
    assert stages["masked_scores"].shape == (2, 4, 5, 7)
    assert torch.equal(torch.isinf(stages["masked_scores"]), ~allowed.expand(2, 4, 5, 7))
    assert torch.equal(stages["weights"], weights)
    torch.testing.assert_close(out, weights @ v, atol=ATOL, rtol=0)


def test_kv_cache_appends_like_concatenation_across_growth() -> None:
    """Chunks of 1, 5, 30 and 40 positions cross the buffer's first capacities; the filled part always equals
    torch.cat of everything appended, and views returned earlier keep their values."""
    cache = KVCache()
    gen = torch.Generator().manual_seed(3)
    appended_k: list[torch.Tensor] = []
    appended_v: list[torch.Tensor] = []
    first_view = None
    for size in (1, 5, 30, 40, 1):
        k, v = torch.randn(2, 4, size, 8, generator=gen), torch.randn(2, 4, size, 8, generator=gen)
        appended_k.append(k)
        appended_v.append(v)
        all_k, all_v = cache.append(k, v)
        first_view = first_view if first_view is not None else all_k.clone()
        torch.testing.assert_close(all_k, torch.cat(appended_k, dim=2), rtol=0, atol=0)
        torch.testing.assert_close(all_v, torch.cat(appended_v, dim=2), rtol=0, atol=0)
        assert cache.length == sum(t.size(2) for t in appended_k)
        assert cache.keys is not None and cache.keys.shape == all_k.shape
    torch.testing.assert_close(cache.keys[:, :, :1], first_view, rtol=0, atol=0)
