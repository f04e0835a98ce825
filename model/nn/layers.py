"""Feed-forward block, encoder layer and decoder layer, each sub-layer wrapped in residual + LayerNorm."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from model.nn.attention import KVCache, MultiHeadAttention
from model.nn.config import ModelConfig
from model.nn.names import site_name
from model.nn.probe import AttentionProbe


class FeedForward(nn.Module):
    """Position-wise ReLU network: Linear(d, d_ff) -> ReLU -> dropout -> Linear(d_ff, d). [B, T, d] -> [B, T, d]."""

    def __init__(self, d_model: int, d_ff: int, dropout: float) -> None:
        super().__init__()
        self.expand = nn.Linear(d_model, d_ff)
        self.contract = nn.Linear(d_ff, d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.contract(self.dropout(F.relu(self.expand(x))))


class Residual(nn.Module):
    """x + dropout(sublayer(x)) with LayerNorm after the sum ("post", the paper) or on the input ("pre")."""

    def __init__(self, d_model: int, dropout: float, norm_placement: str, eps: float) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(d_model, eps=eps)
        self.dropout = nn.Dropout(dropout)
        self.pre_norm = norm_placement == "pre"

    def sublayer_input(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x) if self.pre_norm else x

    def combine(self, x: torch.Tensor, sublayer_output: torch.Tensor) -> torch.Tensor:
        summed = x + self.dropout(sublayer_output)
        return summed if self.pre_norm else self.norm(summed)


def _residual(config: ModelConfig) -> Residual:
    return Residual(config.d_model, config.dropout, config.norm_placement, config.layer_norm_eps)


def _attention(config: ModelConfig, kind: str, layer: int) -> MultiHeadAttention:
    return MultiHeadAttention(config.d_model, config.n_heads, config.attention_dropout, site_name(kind, layer))


class EncoderLayer(nn.Module):
    """Self-attention over the source, then the feed-forward block. [B, S, d] -> [B, S, d]."""

    def __init__(self, config: ModelConfig, index: int) -> None:
        super().__init__()
        self.self_attn = _attention(config, "encoder.self_attn", index)
        self.feed_forward = FeedForward(config.d_model, config.d_ff, config.dropout)
        self.attn_residual = _residual(config)
        self.ff_residual = _residual(config)

    def forward(
        self, x: torch.Tensor, source_bias: torch.Tensor | None, probe: AttentionProbe | None = None
    ) -> torch.Tensor:
        h = self.attn_residual.sublayer_input(x)
        x = self.attn_residual.combine(x, self.self_attn(h, bias=source_bias, probe=probe))
        return self.ff_residual.combine(x, self.feed_forward(self.ff_residual.sublayer_input(x)))


class DecoderLayer(nn.Module):
    """Masked self-attention, cross-attention (queries from the decoder, keys and values from the encoder
    output), then the feed-forward block. [B, T, d] -> [B, T, d]."""

    def __init__(self, config: ModelConfig, index: int) -> None:
        super().__init__()
        self.self_attn = _attention(config, "decoder.self_attn", index)
        self.cross_attn = _attention(config, "decoder.cross_attn", index)
        self.feed_forward = FeedForward(config.d_model, config.d_ff, config.dropout)
        self.self_residual = _residual(config)
        self.cross_residual = _residual(config)
        self.ff_residual = _residual(config)

    def forward(
        self,
        x: torch.Tensor,
        memory: torch.Tensor,
        self_bias: torch.Tensor | None,
        source_bias: torch.Tensor | None,
        cache: tuple[KVCache, KVCache] | None = None,
        probe: AttentionProbe | None = None,
    ) -> torch.Tensor:
        self_cache, cross_cache = cache if cache is not None else (None, None)
        h = self.self_residual.sublayer_input(x)
        x = self.self_residual.combine(x, self.self_attn(h, bias=self_bias, cache=self_cache, probe=probe))
        h = self.cross_residual.sublayer_input(x)
        x = self.cross_residual.combine(x, self.cross_attn(h, memory, bias=source_bias, cache=cross_cache, probe=probe))
        return self.ff_residual.combine(x, self.feed_forward(self.ff_residual.sublayer_input(x)))
