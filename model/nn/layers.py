"""Feed-forward block, encoder layer and decoder layer, each sub-layer wrapped in residual + LayerNorm."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from model.nn.attention import KVCache, MultiHeadAttention
from model.nn.config import ModelConfig
from model.nn.dropout import Dropout
from model.nn.names import site_name, sublayer_name
from model.nn.probe import AttentionProbe, stream_probe


class FeedForward(nn.Module):
    """Position-wise ReLU network: Linear(d, d_ff) -> ReLU -> dropout -> Linear(d_ff, d). [B, T, d] -> [B, T, d].

    `name` is the block's sub-layer name ('encoder.0.feed_forward'), given at construction, as attention's site.
    """

    def __init__(self, d_model: int, d_ff: int, dropout: float, name: str = "") -> None:
        super().__init__()
        self.expand = nn.Linear(d_model, d_ff)
        self.contract = nn.Linear(d_ff, d_model)
        self.dropout = Dropout(dropout)
        self.name = name

    def forward(self, x: torch.Tensor, probe: AttentionProbe | None = None) -> torch.Tensor:
        hidden = F.relu(self.expand(x))  # [B, T, d_ff]
        recorder = stream_probe(probe)
        if recorder is not None:
            recorder.record_feed_forward(self.name, hidden)
        return self.contract(self.dropout(hidden))


class Residual(nn.Module):
    """x + dropout(sublayer(x)) with LayerNorm after the sum ("post", the paper) or on the input ("pre").

    `name` is the name of the sub-layer it wraps ('decoder.1.cross_attn', 'decoder.1.feed_forward').
    """

    def __init__(self, d_model: int, dropout: float, norm_placement: str, eps: float, name: str = "") -> None:
        super().__init__()
        self.norm = nn.LayerNorm(d_model, eps=eps)
        self.dropout = Dropout(dropout)
        self.pre_norm = norm_placement == "pre"
        self.name = name

    def sublayer_input(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x) if self.pre_norm else x

    def combine(
        self, x: torch.Tensor, h: torch.Tensor, sublayer_output: torch.Tensor, probe: AttentionProbe | None = None
    ) -> torch.Tensor:
        """The stream x [B, T, d] plus what the sub-layer made of its input h = sublayer_input(x)."""
        addition = self.dropout(sublayer_output)
        summed = x + addition
        out = summed if self.pre_norm else self.norm(summed)
        recorder = stream_probe(probe)
        if recorder is not None:
            recorder.record_sublayer(self.name, x, addition, summed, h if self.pre_norm else out)
        return out


def _residual(config: ModelConfig, name: str) -> Residual:
    return Residual(config.d_model, config.dropout, config.norm_placement, config.layer_norm_eps, name)


def _attention(config: ModelConfig, kind: str, layer: int) -> MultiHeadAttention:
    return MultiHeadAttention(config.d_model, config.n_heads, config.attention_dropout, site_name(kind, layer))


def _feed_forward(config: ModelConfig, side: str, layer: int) -> FeedForward:
    return FeedForward(config.d_model, config.d_ff, config.dropout, sublayer_name(side, layer, "feed_forward"))


class EncoderLayer(nn.Module):
    """Self-attention over the source, then the feed-forward block. [B, S, d] -> [B, S, d]."""

    def __init__(self, config: ModelConfig, index: int) -> None:
        super().__init__()
        self.self_attn = _attention(config, "encoder.self_attn", index)
        self.feed_forward = _feed_forward(config, "encoder", index)
        self.attn_residual = _residual(config, self.self_attn.site)
        self.ff_residual = _residual(config, self.feed_forward.name)

    def forward(
        self, x: torch.Tensor, source_bias: torch.Tensor | None, probe: AttentionProbe | None = None
    ) -> torch.Tensor:
        h = self.attn_residual.sublayer_input(x)
        x = self.attn_residual.combine(x, h, self.self_attn(h, bias=source_bias, probe=probe), probe)
        h = self.ff_residual.sublayer_input(x)
        return self.ff_residual.combine(x, h, self.feed_forward(h, probe), probe)


class DecoderLayer(nn.Module):
    """Masked self-attention, cross-attention (queries from the decoder, keys and values from the encoder
    output), then the feed-forward block. [B, T, d] -> [B, T, d]."""

    def __init__(self, config: ModelConfig, index: int) -> None:
        super().__init__()
        self.self_attn = _attention(config, "decoder.self_attn", index)
        self.cross_attn = _attention(config, "decoder.cross_attn", index)
        self.feed_forward = _feed_forward(config, "decoder", index)
        self.self_residual = _residual(config, self.self_attn.site)
        self.cross_residual = _residual(config, self.cross_attn.site)
        self.ff_residual = _residual(config, self.feed_forward.name)

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
        x = self.self_residual.combine(x, h, self.self_attn(h, bias=self_bias, cache=self_cache, probe=probe), probe)
        h = self.cross_residual.sublayer_input(x)
        cross = self.cross_attn(h, memory, bias=source_bias, cache=cross_cache, probe=probe)
        x = self.cross_residual.combine(x, h, cross, probe)
        h = self.ff_residual.sublayer_input(x)
        return self.ff_residual.combine(x, h, self.feed_forward(h, probe), probe)
