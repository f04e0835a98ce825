"""The encoder-decoder Transformer: encode, decode (with an optional key/value cache) and forward."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from model.nn.attention import KVCache, MultiHeadAttention
from model.nn.config import ModelConfig
from model.nn.dropout import Dropout
from model.nn.embeddings import PositionalEncoding, TokenEmbedding
from model.nn.layers import DecoderLayer, EncoderLayer
from model.nn.masks import additive_bias, decoder_bias, key_padding_bias
from model.nn.probe import AttentionProbe


@dataclass
class DecoderCache:
    """Per decoder layer, the (self-attention, cross-attention) key/value caches, and how many target
    positions have been fed so far."""

    layers: list[tuple[KVCache, KVCache]] = field(default_factory=list)
    length: int = 0


@dataclass(frozen=True)
class EmbeddingParts:
    """What the first layer receives: token embeddings * sqrt(d), positional rows, and their sum. Each [B, T, d]
    except positional [T, d]."""

    token: torch.Tensor
    positional: torch.Tensor
    summed: torch.Tensor


class Transformer(nn.Module):
    """Encoder-decoder Transformer ("Attention Is All You Need") with one tied embedding matrix."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.embedding = TokenEmbedding(config.vocab_size, config.d_model, config.pad_id)
        self.positions = PositionalEncoding(config.max_len, config.d_model)
        self.dropout = Dropout(config.dropout)
        self.encoder_layers = nn.ModuleList(EncoderLayer(config, i) for i in range(config.n_encoder_layers))
        self.decoder_layers = nn.ModuleList(DecoderLayer(config, i) for i in range(config.n_decoder_layers))
        pre_norm = config.norm_placement == "pre"
        self.encoder_norm = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps) if pre_norm else nn.Identity()
        self.decoder_norm = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps) if pre_norm else nn.Identity()

    def embed(self, ids: torch.Tensor, offset: int = 0) -> EmbeddingParts:
        """ids [B, T] at positions offset.. -> the parts of the first layer's input."""
        token = self.embedding(ids)
        positional = self.positions(ids.size(1), offset)
        same_dtype = positional if positional.dtype == token.dtype else positional.to(token.dtype)
        return EmbeddingParts(token=token, positional=positional, summed=token + same_dtype)

    def source_bias(self, source_ids: torch.Tensor) -> torch.Tensor:
        """Additive source padding mask [B, 1, 1, S], in the dtype of the model's weights."""
        return key_padding_bias(source_ids, self.config.pad_id, self.embedding.weight.dtype)

    def encode(
        self,
        source_ids: torch.Tensor,
        source_bias: torch.Tensor | None = None,
        probe: AttentionProbe | None = None,
    ) -> torch.Tensor:
        """source_ids [B, S] -> memory [B, S, d]. probe: this call's edits and recording, if any."""
        if source_bias is None:
            source_bias = self.source_bias(source_ids)
        x = self.dropout(self.embed(source_ids).summed)
        for layer in self.encoder_layers:
            x = layer(x, source_bias, probe)
        return self.encoder_norm(x)

    def new_cache(self) -> DecoderCache:
        return DecoderCache(layers=[(KVCache(), KVCache()) for _ in self.decoder_layers])

    def decode(
        self,
        target_ids: torch.Tensor,
        memory: torch.Tensor,
        source_bias: torch.Tensor,
        cache: DecoderCache | None = None,
        probe: AttentionProbe | None = None,
    ) -> torch.Tensor:
        """target_ids [B, T] (the decoder input, starting with BOS) -> logits [B, T, V]: `decode_hidden`, then
        the tied output projection E^T (softmax gives the next-token distribution)."""
        return self.embedding.project(self.decode_hidden(target_ids, memory, source_bias, cache, probe))

    def decode_hidden(
        self,
        target_ids: torch.Tensor,
        memory: torch.Tensor,
        source_bias: torch.Tensor,
        cache: DecoderCache | None = None,
        probe: AttentionProbe | None = None,
    ) -> torch.Tensor:
        """target_ids [B, T] (the decoder input, starting with BOS) -> the decoder's output vectors [B, T, d]
        (after the final LayerNorm when norm_placement is "pre").

        Without a cache the whole prefix is processed under the combined causal + padding mask. With a cache,
        target_ids are the next positions only; earlier keys and values come from the cache, which is updated.
        """
        offset = cache.length if cache is not None else 0
        length = target_ids.size(1)
        if cache is None:
            self_bias: torch.Tensor | None = decoder_bias(target_ids, self.config.pad_id, self.embedding.weight.dtype)
        elif length == 1:
            self_bias = None  # one new query may see every cached key and itself
        else:
            query_pos = torch.arange(offset, offset + length, device=target_ids.device)
            key_pos = torch.arange(offset + length, device=target_ids.device)
            self_bias = additive_bias(key_pos[None, :] <= query_pos[:, None], self.embedding.weight.dtype)[None, None]
        x = self.dropout(self.embed(target_ids, offset).summed)
        for index, layer in enumerate(self.decoder_layers):
            layer_cache = cache.layers[index] if cache is not None else None
            x = layer(x, memory, self_bias, source_bias, layer_cache, probe)
        if cache is not None:
            cache.length += length
        return self.decoder_norm(x)

    def forward(
        self,
        source_ids: torch.Tensor,
        target_ids: torch.Tensor,
        probe: AttentionProbe | None = None,
    ) -> torch.Tensor:
        """Teacher forcing: source_ids [B, S], target_ids [B, T] -> logits [B, T, V]."""
        source_bias = self.source_bias(source_ids)
        memory = self.encode(source_ids, source_bias, probe)
        return self.decode(target_ids, memory, source_bias, None, probe)

    def attention_modules(self) -> dict[str, MultiHeadAttention]:
        """Every attention module by its site name, encoder first: {'encoder.0.self_attn': ..., ...}."""
        modules = [layer.self_attn for layer in self.encoder_layers]
        for layer in self.decoder_layers:
            modules += [layer.self_attn, layer.cross_attn]
        return {module.site: module for module in modules}

    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.parameters())
