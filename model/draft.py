"""A fast, approximate copy of the decoder that proposes greedy tokens for an exact float32 pass to check.

Decoding one token at a time is memory-bound on a small CPU: every step reads all decoder weights and the
8,000-row output projection (about 19 MB in float32), which is more than the cache holds. The draft keeps those
matrices as int8 with one float scale per output row (about 4.8 MB, which stays in cache), runs each matrix
product in bfloat16 and everything else (attention, softmax, LayerNorm, the key/value cache) in float32.

Its numbers are never shown: `model.speculative` checks every token it proposes against one float32
teacher-forced pass of the real model and corrects the first token that differs.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch.nn import functional as F

from model.attention import make_heads_uniform
from model.interventions import Interventions, SiteIntervention
from model.layers import DecoderLayer, Residual
from model.transformer import Transformer

ACTIVATION_DTYPE = torch.bfloat16


INT8_BLOCK = 16  # torch 2.13's CPU _weight_int8pack_mm reads rows in blocks of 16: other widths give garbage or crash


@dataclass(frozen=True)
class DraftLinear:
    """y = x W^T + b for W [N, K]: int8 rows times one bfloat16 scale per row (scales [N]) when K is a multiple
    of INT8_BLOCK, otherwise W kept in float32 (scales None)."""

    weight: torch.Tensor
    scales: torch.Tensor | None
    bias: torch.Tensor | None

    @classmethod
    def quantize(cls, weight: torch.Tensor, bias: torch.Tensor | None = None) -> DraftLinear:
        """Round each row of weight [N, K] to int8 with its own scale, just over max|row| / 127."""
        weight = weight.detach().float()
        bias = bias.detach().float().clone() if bias is not None else None
        if weight.size(1) % INT8_BLOCK != 0:
            return cls(weight=weight.clone(), scales=None, bias=bias)
        # Rounded up to bfloat16 so that no entry of a row needs more than +-127.
        scales = (weight.abs().amax(dim=1).clamp_min(1e-30) / 127.0 * (1 + 2**-8)).to(ACTIVATION_DTYPE)
        quantized = torch.round(weight / scales.float()[:, None]).clamp_(-127, 127).to(torch.int8).contiguous()
        return cls(weight=quantized, scales=scales, bias=bias)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """x [M, K] float32 -> [M, N] float32 (adding the float32 bias to the bfloat16 product promotes it)."""
        if self.scales is None:
            return F.linear(x, self.weight, self.bias)
        y = torch.ops.aten._weight_int8pack_mm(x.to(ACTIVATION_DTYPE), self.weight, self.scales)
        return y.float() if self.bias is None else self.bias.add(y)


@dataclass(frozen=True)
class LayerNormParams:
    weight: torch.Tensor
    bias: torch.Tensor
    eps: float

    @classmethod
    def of(cls, residual: Residual) -> LayerNormParams:
        norm = residual.norm
        return cls(norm.weight.detach().clone(), norm.bias.detach().clone(), norm.eps)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, self.weight.shape, self.weight, self.bias, self.eps)


@dataclass(frozen=True)
class DraftLayer:
    """One decoder layer's weights for the draft. Cross-attention keys and values are computed from the
    float32 weights once per sentence (w_cross_kv), so only the per-step matrices are int8."""

    self_qkv: DraftLinear
    self_out: DraftLinear
    cross_q: DraftLinear
    cross_out: DraftLinear
    w_cross_kv: torch.Tensor
    b_cross_kv: torch.Tensor
    expand: DraftLinear
    contract: DraftLinear
    self_norm: LayerNormParams
    cross_norm: LayerNormParams
    ff_norm: LayerNormParams

    @classmethod
    def of(cls, layer: DecoderLayer) -> DraftLayer:
        """Copy one decoder layer, folding 1 / sqrt(d_k) into the query rows."""
        d = layer.self_attn.d_model
        cross = layer.cross_attn
        query_scale = torch.ones(3 * d)
        query_scale[:d] = layer.self_attn.d_k**-0.5
        return cls(
            self_qkv=DraftLinear.quantize(
                layer.self_attn.in_proj_weight * query_scale[:, None], layer.self_attn.in_proj_bias * query_scale
            ),
            self_out=DraftLinear.quantize(layer.self_attn.out_proj.weight, layer.self_attn.out_proj.bias),
            cross_q=DraftLinear.quantize(
                cross.in_proj_weight[:d] * query_scale[0], cross.in_proj_bias[:d] * query_scale[0]
            ),
            cross_out=DraftLinear.quantize(cross.out_proj.weight, cross.out_proj.bias),
            w_cross_kv=cross.in_proj_weight[d:].detach(),
            b_cross_kv=cross.in_proj_bias[d:].detach().clone(),
            expand=DraftLinear.quantize(layer.feed_forward.expand.weight, layer.feed_forward.expand.bias),
            contract=DraftLinear.quantize(layer.feed_forward.contract.weight, layer.feed_forward.contract.bias),
            self_norm=LayerNormParams.of(layer.self_residual),
            cross_norm=LayerNormParams.of(layer.cross_residual),
            ff_norm=LayerNormParams.of(layer.ff_residual),
        )


class DraftDecoder:
    """Greedy proposals from the int8 copy of one model's decoder (never used for anything shown)."""

    def __init__(self, model: Transformer) -> None:
        config = model.config
        self.config = config
        self.pre_norm = config.norm_placement == "pre"
        self.embedding = model.embedding.weight.detach().float()  # shared with the model, not copied
        self.embedding_scale = model.embedding.scale
        self.positions = model.positions.table.detach().float()
        self.layers = [DraftLayer.of(layer) for layer in model.decoder_layers]
        self.output = DraftLinear.quantize(model.embedding.weight)
        final = model.decoder_norm
        self.final_norm = (
            LayerNormParams(final.weight.detach().clone(), final.bias.detach().clone(), final.eps)
            if self.pre_norm
            else None
        )
        self.banned = [config.pad_id, config.bos_id]

    def _residual(
        self, norm: LayerNormParams, x: torch.Tensor, sublayer: Callable[..., torch.Tensor], *args: Any
    ) -> torch.Tensor:
        """x [1, d] -> x + sublayer(LayerNorm(x)) (pre-norm) or LayerNorm(x + sublayer(x)) (post-norm)."""
        if self.pre_norm:
            return x + sublayer(norm(x), *args)
        return norm(x + sublayer(x, *args))

    def _self_attention(
        self,
        h: torch.Tensor,
        layer: DraftLayer,
        keys: torch.Tensor,
        values: torch.Tensor,
        position: int,
        intervention: SiteIntervention | None,
    ) -> torch.Tensor:
        """h [1, d] at `position`; keys and values [H, capacity, d_k] receive this position's row."""
        q, k, v = layer.self_qkv(h).view(3, self.config.n_heads, self.config.d_k).unbind(0)
        keys[:, position] = k
        values[:, position] = v
        end = position + 1
        return layer.self_out(self._attend(q, keys[:, :end], values[:, :end], None, intervention))

    def _cross_attention(
        self,
        h: torch.Tensor,
        layer: DraftLayer,
        keys_values: tuple[torch.Tensor, torch.Tensor],
        source_bias: torch.Tensor | None,
        intervention: SiteIntervention | None,
    ) -> torch.Tensor:
        q = layer.cross_q(h).view(self.config.n_heads, self.config.d_k)
        return layer.cross_out(self._attend(q, *keys_values, source_bias, intervention))

    @staticmethod
    def _feed_forward(h: torch.Tensor, layer: DraftLayer) -> torch.Tensor:
        return layer.contract(torch.relu_(layer.expand(h)))

    @staticmethod
    def _attend(
        q: torch.Tensor,
        keys: torch.Tensor,
        values: torch.Tensor,
        bias: torch.Tensor | None,
        intervention: SiteIntervention | None,
    ) -> torch.Tensor:
        """One query per head: q [H, d_k] (already divided by sqrt(d_k)), keys and values [H, T_k, d_k],
        bias [T_k] or None -> the heads' outputs concatenated, [1, H * d_k]."""
        scores = torch.bmm(q.unsqueeze(1), keys.transpose(1, 2))  # [H, 1, T_k]
        if intervention is not None and intervention.temperature != 1.0:
            scores = scores / intervention.temperature
        if bias is not None:
            scores = scores + bias
        weights = torch.softmax(scores, dim=-1)
        if intervention is not None and intervention.uniform:
            weights = make_heads_uniform(weights[None], bias, intervention.uniform)[0]
        heads_out = torch.bmm(weights, values)  # [H, 1, d_k]
        if intervention is not None and intervention.zeroed:
            heads_out[list(intervention.zeroed)] = 0.0
        return heads_out.view(1, -1)

    def _cross_keys_values(self, memory: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """memory [1, S, d] -> per layer, cross-attention keys and values [H, S, d_k] in float32."""
        heads, d_k = self.config.n_heads, self.config.d_k
        result = []
        for layer in self.layers:
            k, v = F.linear(memory[0].float(), layer.w_cross_kv, layer.b_cross_kv).chunk(2, dim=-1)
            result.append(
                (
                    k.reshape(-1, heads, d_k).transpose(0, 1).contiguous(),
                    v.reshape(-1, heads, d_k).transpose(0, 1).contiguous(),
                )
            )
        return result

    @torch.inference_mode()
    def propose(
        self,
        memory: torch.Tensor,
        source_bias: torch.Tensor,
        prefix: list[int],
        max_new_tokens: int,
        interventions: Interventions | None = None,
    ) -> list[int]:
        """Greedy continuation of the decoder input `prefix` (BOS first) for one sentence.

        memory [1, S, d] and source_bias [1, 1, 1, S] as the real model computes them. Returns the new tokens
        only, stopping after EOS or once prefix and new tokens together hold max_new_tokens + 1 entries.
        """
        config = self.config
        capacity = max_new_tokens + 1
        at = interventions.at if interventions is not None else (lambda _site: None)
        # What each layer's two sites do, resolved once per call rather than at every step.
        layer_interventions = [
            (at(f"decoder.{index}.self_attn"), at(f"decoder.{index}.cross_attn")) for index in range(len(self.layers))
        ]
        cross = self._cross_keys_values(memory)
        key_bias = source_bias.float().reshape(-1)
        cross_bias = None if bool(torch.isfinite(key_bias).all()) else key_bias
        self_keys = [torch.empty(config.n_heads, capacity, config.d_k) for _ in self.layers]
        self_values = [torch.empty(config.n_heads, capacity, config.d_k) for _ in self.layers]
        tokens = list(prefix)
        for position in range(capacity - 1):  # feeding position p chooses the token at p + 1
            if position >= len(tokens):
                break
            token = tokens[position]
            x = self.embedding[token : token + 1] * self.embedding_scale + self.positions[position : position + 1]
            for index, layer in enumerate(self.layers):
                self_intervention, cross_intervention = layer_interventions[index]
                x = self._residual(
                    layer.self_norm,
                    x,
                    self._self_attention,
                    layer,
                    self_keys[index],
                    self_values[index],
                    position,
                    self_intervention,
                )
                x = self._residual(
                    layer.cross_norm, x, self._cross_attention, layer, cross[index], cross_bias, cross_intervention
                )
                x = self._residual(layer.ff_norm, x, self._feed_forward, layer)
            if position + 1 < len(tokens):
                continue  # still reading the given prefix
            if self.final_norm is not None:
                x = self.final_norm(x)
            logits = self.output(x)[0]
            logits[self.banned] = float("-inf")
            chosen = int(torch.argmax(logits))
            tokens.append(chosen)
            if chosen == config.eos_id:
                break
        return tokens[len(prefix) :]


_DRAFTS: weakref.WeakKeyDictionary[Transformer, tuple[tuple[int, ...], DraftDecoder]] = weakref.WeakKeyDictionary()


def draft_for(model: Transformer) -> DraftDecoder:
    """The draft of one model, built on first use and rebuilt whenever a weight has changed in place since."""
    parameters = list(model.parameters())
    if any(p.is_inference() for p in parameters):
        return DraftDecoder(model)  # weights made under inference_mode have no version counter: never cached
    versions = tuple(p._version for p in parameters)
    cached = _DRAFTS.get(model)
    if cached is not None and cached[0] == versions:
        return cached[1]
    draft = DraftDecoder(model)
    _DRAFTS[model] = (versions, draft)
    return draft
