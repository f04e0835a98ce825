"""Feed-forward block, encoder layer and decoder layer, each sub-layer wrapped in residual + LayerNorm."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from model.attention import KVCache, MultiHeadAttention
from model.config import ModelConfig
from model.dropout import dropout_in_training
from model.interventions import Interventions
from model.recording import AttentionRecorder


class FeedForward(nn.Module):
    """Position-wise ReLU network: Linear(d, d_ff) -> ReLU -> dropout -> Linear(d_ff, d). [B, T, d] -> [B, T, d]."""

    def __init__(self, d_model: int, d_ff: int, dropout: float) -> None:
        super().__init__()
        self.expand = nn.Linear(d_model, d_ff)
        self.contract = nn.Linear(d_ff, d_model)
        self.dropout_p = dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.contract(dropout_in_training(torch.relu(self.expand(x)), self.dropout_p, self.training))


class Residual(nn.Module):
    """x + dropout(sublayer(x)) with LayerNorm after the sum ("post", the paper) or on the input ("pre")."""

    def __init__(self, d_model: int, dropout: float, norm_placement: str, eps: float) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(d_model, eps=eps)
        self.dropout_p = dropout
        self.pre_norm = norm_placement == "pre"

    def _normalise(self, x: torch.Tensor) -> torch.Tensor:
        norm = self.norm
        return F.layer_norm(x, norm.normalized_shape, norm.weight, norm.bias, norm.eps)

    def sublayer_input(self, x: torch.Tensor) -> torch.Tensor:
        return self._normalise(x) if self.pre_norm else x

    def combine(self, x: torch.Tensor, sublayer_output: torch.Tensor) -> torch.Tensor:
        summed = x + dropout_in_training(sublayer_output, self.dropout_p, self.training)
        return summed if self.pre_norm else self._normalise(summed)


class EncoderLayer(nn.Module):
    """Self-attention over the source, then the feed-forward block. [B, S, d] -> [B, S, d]."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.self_attn = MultiHeadAttention(config.d_model, config.n_heads, config.attention_dropout)
        self.feed_forward = FeedForward(config.d_model, config.d_ff, config.dropout)
        self.attn_residual = Residual(config.d_model, config.dropout, config.norm_placement, config.layer_norm_eps)
        self.ff_residual = Residual(config.d_model, config.dropout, config.norm_placement, config.layer_norm_eps)

    def forward(
        self,
        x: torch.Tensor,
        source_bias: torch.Tensor | None,
        index: int,
        recorder: AttentionRecorder | None = None,
        interventions: Interventions | None = None,
    ) -> torch.Tensor:
        site = f"encoder.{index}.self_attn"
        intervention = interventions.at(site) if interventions is not None else None
        h = self.attn_residual.sublayer_input(x)
        x = self.attn_residual.combine(x, self.self_attn(h, None, source_bias, None, site, recorder, intervention))
        return self.ff_residual.combine(x, self.feed_forward(self.ff_residual.sublayer_input(x)))


class DecoderLayer(nn.Module):
    """Masked self-attention, cross-attention (queries from the decoder, keys and values from the encoder
    output), then the feed-forward block. [B, T, d] -> [B, T, d]."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.self_attn = MultiHeadAttention(config.d_model, config.n_heads, config.attention_dropout)
        self.cross_attn = MultiHeadAttention(config.d_model, config.n_heads, config.attention_dropout)
        self.feed_forward = FeedForward(config.d_model, config.d_ff, config.dropout)
        args = (config.d_model, config.dropout, config.norm_placement, config.layer_norm_eps)
        self.self_residual = Residual(*args)
        self.cross_residual = Residual(*args)
        self.ff_residual = Residual(*args)

    def forward(
        self,
        x: torch.Tensor,
        memory: torch.Tensor,
        self_bias: torch.Tensor | None,
        source_bias: torch.Tensor | None,
        index: int,
        cache: tuple[KVCache, KVCache] | None = None,
        recorder: AttentionRecorder | None = None,
        interventions: Interventions | None = None,
    ) -> torch.Tensor:
        self_site, cross_site = f"decoder.{index}.self_attn", f"decoder.{index}.cross_attn"
        self_cache, cross_cache = cache if cache is not None else (None, None)
        at = interventions.at if interventions is not None else (lambda _site: None)
        h = self.self_residual.sublayer_input(x)
        x = self.self_residual.combine(
            x, self.self_attn(h, None, self_bias, self_cache, self_site, recorder, at(self_site))
        )
        h = self.cross_residual.sublayer_input(x)
        x = self.cross_residual.combine(
            x, self.cross_attn(h, memory, source_bias, cross_cache, cross_site, recorder, at(cross_site))
        )
        return self.ff_residual.combine(x, self.feed_forward(self.ff_residual.sublayer_input(x)))
