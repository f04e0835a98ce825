"""Scaled dot-product attention written out by hand, and multi-head attention with a key/value cache."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from model.nn.probe import AttentionProbe, SiteEdit


@dataclass
class KVCache:
    """Keys and values already computed for one attention site.

    Self-attention appends each step's new keys and values into buffers [B, H, capacity, d_k] that grow by
    doubling, so a step writes only its own row instead of copying the whole prefix. Cross-attention stores the
    encoder's keys and values once. `keys` and `values` are the filled part, [B, H, length, d_k] (None before the
    first call).
    """

    key_buffer: torch.Tensor | None = None
    value_buffer: torch.Tensor | None = None
    length: int = 0

    @property
    def keys(self) -> torch.Tensor | None:
        return _filled(self.key_buffer, self.length)

    @property
    def values(self) -> torch.Tensor | None:
        return _filled(self.value_buffer, self.length)

    def store(self, keys: torch.Tensor, values: torch.Tensor) -> None:
        """Keep keys and values [B, H, T, d_k] as they are (cross-attention: computed once, never appended to)."""
        self.key_buffer, self.value_buffer, self.length = keys, values, keys.size(2)

    def append(self, keys: torch.Tensor, values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Add new keys and values [B, H, T_new, d_k]; returns all of them so far, [B, H, length, d_k]."""
        new_length = self.length + keys.size(2)
        if self.key_buffer is None or self.value_buffer is None or new_length > self.key_buffer.size(2):
            self._grow(keys, max(2 * new_length, 32))
        assert self.key_buffer is not None and self.value_buffer is not None
        self.key_buffer[:, :, self.length : new_length] = keys
        self.value_buffer[:, :, self.length : new_length] = values
        self.length = new_length
        return self.key_buffer[:, :, :new_length], self.value_buffer[:, :, :new_length]

    def _grow(self, like: torch.Tensor, capacity: int) -> None:
        batch, heads, _, d_k = like.shape
        key_buffer = like.new_empty(batch, heads, capacity, d_k)
        value_buffer = like.new_empty(batch, heads, capacity, d_k)
        if self.key_buffer is not None and self.value_buffer is not None and self.length:
            key_buffer[:, :, : self.length] = self.key_buffer[:, :, : self.length]
            value_buffer[:, :, : self.length] = self.value_buffer[:, :, : self.length]
        self.key_buffer, self.value_buffer = key_buffer, value_buffer


def _filled(buffer: torch.Tensor | None, length: int) -> torch.Tensor | None:
    if buffer is None or buffer.size(2) == length:
        return buffer
    return buffer[:, :, :length]


def scaled_dot_product_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    bias: torch.Tensor | None = None,
    dropout_p: float = 0.0,
    edit: SiteEdit | None = None,
    keep_stages: bool = False,
) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor] | None]:
    """softmax(Q K^T / sqrt(d_k) + mask) V, step by step.

    q [B, H, T_q, d_k], k and v [B, H, T_k, d_k]; bias broadcastable to [B, H, T_q, T_k], 0 where a key may be
    attended and -inf where it is masked. Returns (output [B, H, T_q, d_k], weights [B, H, T_q, T_k] before
    dropout, stages or None). The stages, kept only when asked, are raw_scores, scaled_scores, masked_scores
    and weights, all [B, H, T_q, T_k].
    """
    temperature = edit.temperature if edit is not None else 1.0
    raw_scores = q @ k.transpose(-2, -1)
    scaled_scores = raw_scores / (math.sqrt(q.size(-1)) * temperature)
    masked_scores = scaled_scores if bias is None else scaled_scores + bias
    if masked_scores.dtype == torch.float32:
        weights = torch.softmax(masked_scores, dim=-1)
    else:  # half precision: the softmax itself in float32
        weights = torch.softmax(masked_scores, dim=-1, dtype=torch.float32).to(q.dtype)
    if edit is not None and edit.uniform:
        weights = make_heads_uniform(weights, bias, edit.uniform)
    output = (F.dropout(weights, dropout_p) if dropout_p > 0 else weights) @ v
    stages = None
    if keep_stages:
        stages = {
            "raw_scores": raw_scores,
            "scaled_scores": scaled_scores,
            "masked_scores": masked_scores.expand_as(raw_scores) if bias is not None else masked_scores,
            "weights": weights,
        }
    return output, weights, stages


def make_heads_uniform(weights: torch.Tensor, bias: torch.Tensor | None, heads: tuple[int, ...]) -> torch.Tensor:
    """Replace the weights of the given heads by the uniform distribution over the keys the mask allows."""
    if bias is None:
        allowed = torch.ones_like(weights)
    else:
        allowed = torch.isfinite(bias).to(weights.dtype).expand_as(weights)
    uniform = allowed / allowed.sum(dim=-1, keepdim=True)
    chosen = torch.zeros(weights.size(1), dtype=torch.bool, device=weights.device)
    chosen[list(heads)] = True
    return torch.where(chosen[None, :, None, None], uniform, weights)


def switch_off_heads(heads_out: torch.Tensor, edit: SiteEdit) -> torch.Tensor:
    """heads_out [B, H, T, d_k] with the edit's zeroed heads (and its per-row keep [B, H]) applied."""
    keep = torch.ones(heads_out.size(1), dtype=heads_out.dtype, device=heads_out.device)
    if edit.zeroed:
        keep[list(edit.zeroed)] = 0.0
    scale = keep[None, :, None, None]
    if edit.keep is not None:
        scale = scale * edit.keep.to(heads_out)[:, :, None, None]
    return heads_out * scale


class MultiHeadAttention(nn.Module):
    """Multi-head attention with W_Q, W_K, W_V stacked in one [3d, d] matrix (as torch's own layout) and W_O.

    Each head h works on its own d_k = d / H slice of the projected queries, keys and values. `site` is the
    module's name in the model ('decoder.1.cross_attn'), given at construction; it is how probes address it.
    """

    def __init__(self, d_model: int, n_heads: int, attention_dropout: float, site: str = "") -> None:
        super().__init__()
        self.d_model = d_model
        self.n_heads = n_heads
        self.d_k = d_model // n_heads
        self.attention_dropout = attention_dropout
        self.site = site
        self.in_proj_weight = nn.Parameter(torch.empty(3 * d_model, d_model))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * d_model))
        self.out_proj = nn.Linear(d_model, d_model)
        nn.init.xavier_uniform_(self.in_proj_weight)
        nn.init.xavier_uniform_(self.out_proj.weight)
        nn.init.zeros_(self.out_proj.bias)

    @property
    def w_q(self) -> torch.Tensor:
        """W_Q [d, d] (rows are output features, as nn.Linear stores them)."""
        return self.in_proj_weight[: self.d_model]

    @property
    def w_k(self) -> torch.Tensor:
        return self.in_proj_weight[self.d_model : 2 * self.d_model]

    @property
    def w_v(self) -> torch.Tensor:
        return self.in_proj_weight[2 * self.d_model :]

    def _split_heads(self, x: torch.Tensor) -> torch.Tensor:
        """[B, T, d] -> [B, H, T, d_k]."""
        batch, length, _ = x.shape
        return x.view(batch, length, self.n_heads, self.d_k).transpose(1, 2)

    def _project(
        self, query: torch.Tensor, memory: torch.Tensor | None, cache: KVCache | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Queries from `query`; keys and values from `query` (self) or `memory` (cross), reusing the cache."""
        d = self.d_model
        if memory is None:
            q, k, v = F.linear(query, self.in_proj_weight, self.in_proj_bias).chunk(3, dim=-1)
            q, k, v = self._split_heads(q), self._split_heads(k), self._split_heads(v)
            if cache is not None:
                k, v = cache.append(k, v)
            return q, k, v
        q = self._split_heads(F.linear(query, self.w_q, self.in_proj_bias[:d]))
        if cache is not None and cache.keys is not None and cache.values is not None:
            return q, cache.keys, cache.values
        k, v = F.linear(memory, self.in_proj_weight[d:], self.in_proj_bias[d:]).chunk(2, dim=-1)
        k, v = self._split_heads(k), self._split_heads(v)
        if cache is not None:
            cache.store(k, v)
        return q, k, v

    def forward(
        self,
        query: torch.Tensor,
        memory: torch.Tensor | None = None,
        bias: torch.Tensor | None = None,
        cache: KVCache | None = None,
        probe: AttentionProbe | None = None,
    ) -> torch.Tensor:
        """query [B, T_q, d]; memory [B, T_k, d] for cross-attention, None for self-attention.

        bias: additive mask broadcastable to [B, H, T_q, T_k]. cache: keys and values of earlier calls
        (self-attention appends to it; cross-attention computes it once). probe: this call's edits and
        recording. Returns [B, T_q, d].
        """
        q, k, v = self._project(query, memory, cache)
        edit = probe.edit(self.site) if probe is not None else None
        stage_heads = probe.stage_heads(self.site) if probe is not None else ()
        dropout_p = self.attention_dropout if self.training else 0.0
        heads_out, weights, stages = scaled_dot_product_attention(
            q, k, v, bias, dropout_p, edit, keep_stages=bool(stage_heads)
        )
        if edit is not None and (edit.zeroed or edit.keep is not None):
            heads_out = switch_off_heads(heads_out, edit)
        if probe is not None:
            if stages is not None:
                stages.update(q=q, k=k, v=v, output=heads_out)
            probe.record(self.site, weights, stages)
        batch, _, length, _ = heads_out.shape
        concatenated = heads_out.transpose(1, 2).reshape(batch, length, self.d_model)
        return self.out_proj(concatenated)
