"""Attention masks as matrices of their own: True where a query may attend to a key."""

from __future__ import annotations

import torch


def padding_mask(ids: torch.Tensor, pad_id: int) -> torch.Tensor:
    """ids [B, T] -> bool [B, T], True at real tokens and False at padding."""
    return ids != pad_id


def causal_mask(length: int, device: torch.device | None = None) -> torch.Tensor:
    """bool [T, T], True on and below the diagonal: position i may attend to positions 0 .. i."""
    return torch.ones(length, length, dtype=torch.bool, device=device).tril()


def decoder_mask(target_ids: torch.Tensor, pad_id: int) -> torch.Tensor:
    """The combined decoder self-attention mask: causal AND key is not padding, bool [B, T, T]."""
    length = target_ids.size(1)
    return causal_mask(length, target_ids.device).unsqueeze(0) & padding_mask(target_ids, pad_id).unsqueeze(1)


def additive_bias(allowed: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """bool mask -> float tensor of the same shape holding 0 where allowed and -inf where masked.

    Added to the scaled scores before the softmax, -inf makes the masked weights exactly 0.
    """
    bias = torch.zeros(allowed.shape, dtype=dtype, device=allowed.device)
    return bias.masked_fill_(~allowed, float("-inf"))


def key_padding_bias(source_ids: torch.Tensor, pad_id: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Bias for attention over source keys, broadcastable to scores: [B, 1, 1, S]."""
    return additive_bias(padding_mask(source_ids, pad_id), dtype)[:, None, None, :]


def decoder_bias(target_ids: torch.Tensor, pad_id: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Bias for decoder self-attention over a whole target prefix: [B, 1, T, T]."""
    return additive_bias(decoder_mask(target_ids, pad_id), dtype)[:, None, :, :]
