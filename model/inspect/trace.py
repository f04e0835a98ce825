"""The trace: everything the app shows about one sentence going through the model, as numpy arrays."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from model.nn.names import HeadRef


def index_labels(tokens: tuple[str, ...] | list[str]) -> list[str]:
    """Unique axis labels: ["0:the", "1:dog", "2:the"], so repeated tokens stay distinct."""
    return [f"{i}:{token}" for i, token in enumerate(tokens)]


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        if value.dtype == np.bool_:
            return value.tolist()
        return np.where(np.isfinite(value), value, None).tolist() if value.dtype.kind == "f" else value.tolist()
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        return value.item()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "to_dict"):
        return value.to_dict()
    return value


class _ToDict:
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict: arrays become nested lists, -inf becomes None."""
        return {f.name: _jsonable(getattr(self, f.name)) for f in fields(self)}  # type: ignore[arg-type]


@dataclass(frozen=True)
class SequenceView(_ToDict):
    """One side (source or decoder input): ids, token strings and the parts of the first layer's input.

    token_embeddings, positional, summed: float32 [T, d]; summed = token_embeddings + positional.
    """

    ids: tuple[int, ...]
    tokens: tuple[str, ...]
    token_embeddings: np.ndarray
    positional: np.ndarray
    summed: np.ndarray

    @property
    def labels(self) -> list[str]:
        return index_labels(self.tokens)


@dataclass(frozen=True)
class AttentionStages(_ToDict):
    """Scaled dot-product attention of one head, stage by stage, with the model's numbers.

    q [T_q, d_k], k and v [T_k, d_k]; raw_scores = q k^T, scaled_scores = raw / sqrt(d_k) (divided also by the
    temperature when one is set), masked_scores = scaled + mask (-inf where masked), weights = softmax, all
    [T_q, T_k]; output = weights v [T_q, d_k].
    """

    site: str
    head: int
    q: np.ndarray
    k: np.ndarray
    v: np.ndarray
    raw_scores: np.ndarray
    scaled_scores: np.ndarray
    masked_scores: np.ndarray
    weights: np.ndarray
    output: np.ndarray


@dataclass(frozen=True)
class ResidualStream(_ToDict):
    """One stack's residual stream for one sentence: what enters each sub-layer, what the sub-layer adds, and its
    LayerNorm, at every layer and position.

    side: 'encoder' or 'decoder'. sublayers: a layer's sub-layers in order, ('self_attn', 'feed_forward') or
    ('self_attn', 'cross_attn', 'feed_forward'); K of them. norm_placement: 'post' (the paper) or 'pre'.
    stream_in float32 [L, K, T, d]: the residual stream arriving at sub-layer k of layer l.
    addition [L, K, T, d]: what that sub-layer adds to the stream (its output; residual dropout is off here).
    summed [L, K, T, d]: stream_in + addition.
    normed [L, K, T, d]: the output of that sub-layer's LayerNorm, gain and bias applied: LayerNorm(summed)
    post-norm, LayerNorm(stream_in) pre-norm.
    relu_off_share float32 [L, T]: the share of the d_ff feed-forward units at 0 after the ReLU, per position.
    T is S for the encoder, the decoder input length for the decoder.
    """

    side: str
    sublayers: tuple[str, ...]
    norm_placement: str
    stream_in: np.ndarray
    addition: np.ndarray
    summed: np.ndarray
    normed: np.ndarray
    relu_off_share: np.ndarray

    @property
    def norm_input(self) -> np.ndarray:
        """[L, K, T, d]: what each LayerNorm receives: summed post-norm, stream_in pre-norm."""
        return self.summed if self.norm_placement == "post" else self.stream_in

    @property
    def sublayer_input(self) -> np.ndarray:
        """[L, K, T, d]: what each sub-layer is given: stream_in post-norm, normed pre-norm."""
        return self.stream_in if self.norm_placement == "post" else self.normed

    @property
    def stream_out(self) -> np.ndarray:
        """[L, K, T, d]: the residual stream leaving each sub-layer: normed post-norm, summed pre-norm."""
        return self.normed if self.norm_placement == "post" else self.summed

    @property
    def layer_output(self) -> np.ndarray:
        """[L, T, d]: what each layer hands on (for the last layer: before the stack's final LayerNorm, pre-norm)."""
        return self.stream_out[:, -1]


@dataclass(frozen=True)
class StepRecord(_ToDict):
    """One step t of greedy decoding (t from 0).

    prefix_ids: the decoder input so far, BOS first, length t+1. self_attn [L, H, t+1]: the new row of decoder
    self-attention; cross_attn [L, H, S]: the new row of cross-attention. top_*: the k most likely next tokens,
    top_probs float32 [k]. chosen_*: the argmax, which becomes the next input unless it is EOS.
    """

    step: int
    prefix_ids: tuple[int, ...]
    prefix_tokens: tuple[str, ...]
    self_attn: np.ndarray
    cross_attn: np.ndarray
    top_ids: tuple[int, ...]
    top_tokens: tuple[str, ...]
    top_probs: np.ndarray
    chosen_id: int
    chosen_token: str
    chosen_prob: float
    is_eos: bool

    @property
    def causal_mask(self) -> np.ndarray:
        """bool [t+1, t+1] the prefix sees at this step: True on and below the diagonal."""
        return np.tril(np.ones((self.step + 1, self.step + 1), dtype=bool))

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        data["causal_mask"] = self.causal_mask.tolist()
        return data


@dataclass(frozen=True)
class Trace(_ToDict):
    """One sentence through the model.

    source: the encoder's side, S tokens. target: the decoder input (BOS then every chosen token but the last),
    T tokens; output_ids / output_tokens: what the decoder produced at each of the T positions.
    encoder_self_attn [L_enc, H, S, S]; decoder_self_attn [L_dec, H, T, T]; cross_attn [L_dec, H, T, S]:
    queries on axis -2, keys on axis -1, weights before dropout.
    source_padding_mask bool [S]; causal_mask bool [T, T]; decoder_mask bool [T, T] (causal AND not padding).
    logits float32 [T, V]: the decoder's next-token logits at each position. steps: one StepRecord per step.
    stages: for the heads asked for, keyed by HeadRef (in JSON by its text, e.g. "decoder.1.cross_attn:3").
    encoder_stream / decoder_stream: the residual stream of the encoder pass over the source (T = S) and of the
    recorded teacher-forced decoder pass (T positions, row t is step t).
    """

    source: SequenceView
    target: SequenceView
    output_ids: tuple[int, ...]
    output_tokens: tuple[str, ...]
    translation: str
    stop_reason: str
    encoder_self_attn: np.ndarray
    decoder_self_attn: np.ndarray
    cross_attn: np.ndarray
    source_padding_mask: np.ndarray
    causal_mask: np.ndarray
    decoder_mask: np.ndarray
    logits: np.ndarray
    steps: tuple[StepRecord, ...]
    encoder_stream: ResidualStream
    decoder_stream: ResidualStream
    stages: dict[HeadRef, AttentionStages] = field(default_factory=dict)

    @property
    def probabilities(self) -> np.ndarray:
        """Softmax of the logits, float32 [T, V]."""
        shifted = self.logits - self.logits.max(axis=-1, keepdims=True)
        exp = np.exp(shifted)
        return exp / exp.sum(axis=-1, keepdims=True)

    @property
    def output_logprobs(self) -> np.ndarray:
        """log p of each output token at its step, float32 [T] (the decoding's logits; never-emitted tokens at -inf)."""
        shifted = self.logits - self.logits.max(axis=-1, keepdims=True)
        log_norm = np.log(np.exp(shifted).sum(axis=-1))
        return shifted[np.arange(len(self.output_ids)), list(self.output_ids)] - log_norm

    def attention(self, kind: str) -> np.ndarray:
        """'encoder.self_attn' | 'decoder.self_attn' | 'decoder.cross_attn' -> [L, H, T_q, T_k]."""
        by_kind = {
            "encoder.self_attn": self.encoder_self_attn,
            "decoder.self_attn": self.decoder_self_attn,
            "decoder.cross_attn": self.cross_attn,
        }
        if kind not in by_kind:
            raise KeyError(f"unknown attention kind {kind!r}; expected one of {sorted(by_kind)}")
        return by_kind[kind]

    def axis_labels(self, kind: str) -> tuple[list[str], list[str]]:
        """(query labels, key labels) for an attention kind."""
        if kind == "encoder.self_attn":
            return self.source.labels, self.source.labels
        if kind == "decoder.self_attn":
            return self.target.labels, self.target.labels
        if kind == "decoder.cross_attn":
            return self.target.labels, self.source.labels
        raise KeyError(f"unknown attention kind {kind!r}")
