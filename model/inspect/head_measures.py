"""What one attention head does on one sentence, from its weights alone: measures and a plain label with its rule.

Pure numpy, no model. Every function takes one head's weights [T_q, T_k] (rows are queries and sum to 1 over the
keys the mask allows) and returns numbers; `label_head` turns them into a label and the rule that gave it.
Sources of the criteria: Voita et al. 2019 ("Analyzing Multi-Head Self-Attention"): confidence, positional heads
(one relative offset takes at least 90% of the queries), rare-word heads; Clark et al. 2019 for heads that park
their weight on special tokens and punctuation ("sink" heads here).
"""

from __future__ import annotations

import unicodedata
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from model.inspect.trace import Trace
from model.nn.names import ATTENTION_KINDS, HeadRef

OFFSETS = (-2, -1, 0, 1, 2)
POSITIONAL_SHARE = 0.9  # Voita et al.: one offset takes at least 90% of the queries
SINK_WEIGHT = 0.5  # more than half of the weight, on average, on special tokens and punctuation
RARE_SHARE = 0.4  # the rarest token is the argmax for at least 40% of the queries ...
RARE_OVER_CHANCE = 3.0  # ... and at least 3 times as often as a uniformly random key would be
ALIGNMENT_SPEARMAN = 0.7  # argmax source positions rise with the query position
ALIGNMENT_BAND = 0.5  # and at least half of the queries fall inside the diagonal band
BROAD_ENTROPY = 0.75  # mean row entropy at least 75% of the largest possible (uniform over the allowed keys)


def row_entropy(weights: np.ndarray) -> np.ndarray:
    """Entropy in nats of each query row of weights [T_q, T_k] -> [T_q] (0 log 0 = 0)."""
    w = weights.astype(np.float64)
    logs = np.log(w, out=np.zeros_like(w), where=w > 0)
    return -(w * logs).sum(axis=-1)


def max_entropy(weights: np.ndarray) -> np.ndarray:
    """log of the number of keys each row may attend (weight > 0 or allowed): the entropy of a uniform row, [T_q]."""
    allowed = (weights > 0).sum(axis=-1)
    return np.log(np.maximum(allowed, 1))


def confidence(weights: np.ndarray, exclude_queries: np.ndarray | None = None) -> float:
    """Voita et al.'s confidence: the mean over queries of the largest weight, queries marked in exclude_queries
    bool [T_q] (the end token) left out."""
    keep = np.ones(weights.shape[0], dtype=bool) if exclude_queries is None else ~exclude_queries
    if not keep.any():
        keep = np.ones(weights.shape[0], dtype=bool)
    return float(weights[keep].max(axis=-1).mean())


def offset_shares(weights: np.ndarray, offsets: tuple[int, ...] = OFFSETS) -> dict[int, float]:
    """Self-attention: the share of queries i whose largest weight falls on key i + offset, for each offset."""
    argmax = weights.argmax(axis=-1)
    relative = argmax - np.arange(weights.shape[0])
    return {offset: float((relative == offset).mean()) for offset in offsets}


def weight_on(weights: np.ndarray, keys: np.ndarray) -> float:
    """The mean over queries of the total weight on the keys marked in keys bool [T_k]."""
    return float(weights[:, keys].sum(axis=-1).mean())


def argmax_share(weights: np.ndarray, key: int) -> float:
    """The share of queries whose largest weight falls on one key index."""
    return float((weights.argmax(axis=-1) == key).mean())


def chance_share(weights: np.ndarray) -> float:
    """How often a key would be the argmax if each query chose uniformly among its allowed keys."""
    allowed = np.maximum((weights > 0).sum(axis=-1), 1)
    return float((1.0 / allowed).mean())


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman rank correlation of two equal-length vectors (average ranks at ties); 0 when either is constant."""
    if len(x) < 2:
        return 0.0
    rx, ry = _ranks(np.asarray(x, dtype=np.float64)), _ranks(np.asarray(y, dtype=np.float64))
    if rx.std() == 0 or ry.std() == 0:
        return 0.0
    return float(np.corrcoef(rx, ry)[0, 1])


def _ranks(values: np.ndarray) -> np.ndarray:
    order = values.argsort(kind="stable")
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.arange(len(values), dtype=np.float64)
    for value in np.unique(values):  # average ranks of ties
        tied = values == value
        ranks[tied] = ranks[tied].mean()
    return ranks


def band_share(weights: np.ndarray, band: float | None = None) -> float:
    """Cross-attention: the share of queries i whose argmax source position j lies within `band` positions of the
    diagonal i * (S - 1) / (T - 1). Default band: max(1, 15% of the source length)."""
    t_q, t_k = weights.shape
    if band is None:
        band = max(1.0, 0.15 * t_k)
    diagonal = np.arange(t_q) * ((t_k - 1) / max(t_q - 1, 1))
    return float((np.abs(weights.argmax(axis=-1) - diagonal) <= band).mean())


@dataclass(frozen=True)
class HeadMeasures:
    """The numbers behind a head's label on one sentence (or their means over many).

    entropy: mean row entropy in nats; entropy_ratio: that over the mean largest possible entropy (1 = uniform);
    confidence: Voita et al.'s; offsets: share of queries per relative offset (self-attention; empty for cross);
    special_weight: mean weight on special tokens and punctuation; rare_share: how often the rarest token is the
    argmax, rare_chance: how often a random allowed key would be; spearman and band: cross-attention alignment.
    """

    entropy: float
    entropy_ratio: float
    confidence: float
    offsets: dict[int, float]
    special_weight: float
    rare_share: float
    rare_chance: float
    spearman: float | None
    band: float | None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["offsets"] = {str(k): v for k, v in self.offsets.items()}
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HeadMeasures:
        return cls(**{**data, "offsets": {int(k): float(v) for k, v in data["offsets"].items()}})


def measure_head(
    weights: np.ndarray,
    cross: bool,
    special_keys: np.ndarray,
    rarest_key: int | None,
    exclude_queries: np.ndarray | None = None,
) -> HeadMeasures:
    """Every measure of one head: weights [T_q, T_k]; cross: cross-attention (no offsets, alignment instead);
    special_keys bool [T_k]: special tokens and punctuation among the keys; rarest_key: index of the sentence's
    rarest key token (None if there is none); exclude_queries bool [T_q]: the end token's query."""
    entropy = row_entropy(weights)
    largest = max_entropy(weights)
    ratio = float(entropy.mean() / largest.mean()) if largest.mean() > 0 else 0.0
    queries = np.arange(weights.shape[0])
    return HeadMeasures(
        entropy=float(entropy.mean()),
        entropy_ratio=ratio,
        confidence=confidence(weights, exclude_queries),
        offsets={} if cross else offset_shares(weights),
        special_weight=weight_on(weights, special_keys),
        rare_share=argmax_share(weights, rarest_key) if rarest_key is not None else 0.0,
        rare_chance=chance_share(weights) if rarest_key is not None else 0.0,
        spearman=spearman(queries, weights.argmax(axis=-1)) if cross else None,
        band=band_share(weights) if cross else None,
    )


def mean_measures(measures: list[HeadMeasures]) -> HeadMeasures:
    """The mean of each measure over sentences (offsets per offset; alignment where present)."""
    if not measures:
        raise ValueError("no measures to average")

    def mean(values: list[float | None]) -> float | None:
        present = [v for v in values if v is not None]
        return float(np.mean(present)) if present else None

    offsets = sorted({k for m in measures for k in m.offsets})
    return HeadMeasures(
        entropy=float(np.mean([m.entropy for m in measures])),
        entropy_ratio=float(np.mean([m.entropy_ratio for m in measures])),
        confidence=float(np.mean([m.confidence for m in measures])),
        offsets={k: float(np.mean([m.offsets.get(k, 0.0) for m in measures])) for k in offsets},
        special_weight=float(np.mean([m.special_weight for m in measures])),
        rare_share=float(np.mean([m.rare_share for m in measures])),
        rare_chance=float(np.mean([m.rare_chance for m in measures])),
        spearman=mean([m.spearman for m in measures]),
        band=mean([m.band for m in measures]),
    )


@dataclass(frozen=True)
class HeadLabel:
    """A plain label ('positional -1', 'alignment', 'sink', 'rare-word', 'broad', 'mixed') and the rule with the
    numbers that gave it, as one sentence."""

    label: str
    rule: str


def label_head(m: HeadMeasures) -> HeadLabel:
    """The first rule that holds, in this order: positional (self-attention), alignment (cross-attention), sink,
    rare-word, broad; otherwise mixed."""
    if m.offsets:
        offset, share = max(m.offsets.items(), key=lambda item: item[1])
        if share >= POSITIONAL_SHARE:
            name = "same position" if offset == 0 else f"{'previous' if offset < 0 else 'next'} {abs(offset)}"
            return HeadLabel(
                f"positional {offset:+d}",
                f"{share:.0%} of the queries put their largest weight on offset {offset:+d} ({name}); "
                f"positional needs one offset with at least {POSITIONAL_SHARE:.0%}",
            )
    if m.spearman is not None and m.band is not None:
        if m.spearman >= ALIGNMENT_SPEARMAN and m.band >= ALIGNMENT_BAND:
            return HeadLabel(
                "alignment",
                f"the source position it looks at most rises with the target position (Spearman {m.spearman:.2f} "
                f">= {ALIGNMENT_SPEARMAN}) and {m.band:.0%} of the queries fall inside the diagonal band "
                f"(needs {ALIGNMENT_BAND:.0%})",
            )
    if m.special_weight > SINK_WEIGHT:
        return HeadLabel(
            "sink",
            f"on average {m.special_weight:.0%} of its weight goes to special tokens and punctuation "
            f"(sink: more than {SINK_WEIGHT:.0%})",
        )
    if m.rare_share >= RARE_SHARE and m.rare_share >= RARE_OVER_CHANCE * m.rare_chance:
        return HeadLabel(
            "rare-word",
            f"the sentence's rarest token takes the largest weight for {m.rare_share:.0%} of the queries, "
            f"{m.rare_share / max(m.rare_chance, 1e-9):.1f} times chance ({m.rare_chance:.0%}); rare-word needs "
            f"{RARE_SHARE:.0%} and {RARE_OVER_CHANCE:.0f} times chance",
        )
    if m.entropy_ratio >= BROAD_ENTROPY:
        return HeadLabel(
            "broad",
            f"its rows keep {m.entropy_ratio:.0%} of the largest possible entropy (broad: at least "
            f"{BROAD_ENTROPY:.0%}); it spreads its weight",
        )
    return HeadLabel(
        "mixed",
        f"no rule holds: best offset share {max(m.offsets.values(), default=0.0):.0%}, weight on special tokens "
        f"{m.special_weight:.0%}, entropy {m.entropy_ratio:.0%} of the largest, confidence {m.confidence:.2f}",
    )


def is_punctuation(token: str) -> bool:
    """A token made only of punctuation once the word-start mark '▁' is removed ('.', '▁,', '"')."""
    text = token.replace("▁", "")
    return bool(text) and all(unicodedata.category(char).startswith("P") for char in text)


@dataclass(frozen=True)
class SideTokens:
    """What the measures need to know of one side's tokens: special bool [T] (special tokens and punctuation),
    end bool [T] (the end token), counts int [T] (training-split frequency of each token on its side)."""

    special: np.ndarray
    end: np.ndarray
    counts: np.ndarray

    def rarest(self) -> int | None:
        """Index of the rarest ordinary token (ties: the first), or None when every token is special."""
        ordinary = np.flatnonzero(~self.special)
        if ordinary.size == 0:
            return None
        return int(ordinary[np.argmin(self.counts[ordinary])])  # argmin takes the first of equal counts


def side_tokens(
    ids: tuple[int, ...], tokens: tuple[str, ...], special_ids: set[int], eos_id: int, counts: np.ndarray
) -> SideTokens:
    """SideTokens of one sequence of the trace; counts int [V] are the training frequencies of that side."""
    id_array = np.asarray(ids, dtype=np.int64)
    special = np.array([i in special_ids or is_punctuation(t) for i, t in zip(ids, tokens, strict=True)], dtype=bool)
    return SideTokens(special=special, end=id_array == eos_id, counts=counts[id_array])


def measure_trace(
    attention: dict[str, np.ndarray], source: SideTokens, target: SideTokens
) -> dict[HeadRef, HeadMeasures]:
    """Every head of a trace: attention maps each kind ('encoder.self_attn', ...) to its weights [L, H, T_q, T_k].

    Encoder heads look at the source; decoder self-attention at the
    decoder input; cross-attention at the source from the decoder input.
    """
    sides = {
        "encoder.self_attn": (source, source, False),
        "decoder.self_attn": (target, target, False),
        "decoder.cross_attn": (target, source, True),
    }
    result: dict[HeadRef, HeadMeasures] = {}
    for kind, weights in attention.items():
        queries, keys, cross = sides[kind]
        rarest = keys.rarest()
        for layer in range(weights.shape[0]):
            for head in range(weights.shape[1]):
                result[HeadRef(kind, layer, head)] = measure_head(
                    weights[layer, head], cross, keys.special, rarest, queries.end
                )
    return result


def measure_trace_heads(
    trace: Trace, special_ids: set[int], eos_id: int, source_counts: np.ndarray, target_counts: np.ndarray
) -> dict[HeadRef, HeadMeasures]:
    """Every head's measures on one trace; counts int [V] are the training-split token frequencies of each side."""
    source = side_tokens(trace.source.ids, trace.source.tokens, special_ids, eos_id, source_counts)
    target = side_tokens(trace.target.ids, trace.target.tokens, special_ids, eos_id, target_counts)
    return measure_trace({kind: trace.attention(kind) for kind in ATTENTION_KINDS}, source, target)


SUMMARY_NAMES = (
    "entropy / largest",
    "confidence",
    "best offset share (self) or diagonal band share (cross)",
    "weight on special tokens",
    "rarest-token share",
)


def summary_values(m: HeadMeasures) -> list[float]:
    """The measures that lie in 0..1, in the order of SUMMARY_NAMES, for drawing side by side."""
    where = max(m.offsets.values(), default=0.0) if m.offsets else (m.band or 0.0)
    return [m.entropy_ratio, m.confidence, where, m.special_weight, m.rare_share]
