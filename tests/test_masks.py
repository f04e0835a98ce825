"""Mask matrices: padding, causal, the combined decoder mask and their additive biases."""

from __future__ import annotations

import math

import torch

from model.nn.masks import additive_bias, causal_mask, decoder_bias, decoder_mask, key_padding_bias, padding_mask


def test_padding_mask_is_true_at_real_tokens() -> None:
    ids = torch.tensor([[5, 6, 0, 0], [0, 7, 8, 9]])
    expected = torch.tensor([[True, True, False, False], [False, True, True, True]])
    assert torch.equal(padding_mask(ids, pad_id=0), expected)
    assert torch.equal(padding_mask(ids, pad_id=7), ids != 7)


def test_causal_mask_values() -> None:
    mask = causal_mask(5)
    assert mask.dtype == torch.bool and mask.shape == (5, 5)
    for i in range(5):
        for j in range(5):
            assert bool(mask[i, j]) == (j <= i), (i, j)
    assert torch.equal(causal_mask(1), torch.tensor([[True]]))


def test_decoder_mask_is_causal_and_not_padding() -> None:
    target = torch.tensor([[2, 5, 6, 0, 0], [2, 5, 6, 7, 8]])
    mask = decoder_mask(target, pad_id=0)
    assert mask.shape == (2, 5, 5)
    for b in range(2):
        for i in range(5):
            for j in range(5):
                assert bool(mask[b, i, j]) == (j <= i and int(target[b, j]) != 0), (b, i, j)


def test_additive_bias_is_zero_or_minus_inf() -> None:
    allowed = torch.tensor([[True, False], [False, True]])
    bias = additive_bias(allowed)
    assert bias.dtype == torch.float32
    assert bias.tolist() == [[0.0, -math.inf], [-math.inf, 0.0]]
    assert additive_bias(allowed, torch.float64).dtype == torch.float64


def test_bias_shapes_broadcast_to_scores() -> None:
    source = torch.tensor([[5, 6, 0], [5, 0, 0]])
    bias = key_padding_bias(source, pad_id=0)
    assert bias.shape == (2, 1, 1, 3)
    assert torch.equal(torch.isinf(bias[:, 0, 0]), source == 0)
    target = torch.tensor([[2, 5, 0, 0]])
    dec = decoder_bias(target, pad_id=0)
    assert dec.shape == (1, 1, 4, 4)
    assert torch.equal(dec[0, 0] == 0, decoder_mask(target, 0)[0])
