"""Small numpy helpers the pages need beyond the trace: PCA, neighbours, similarities, summaries. No torch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from model.inspect.trace import Trace


@dataclass(frozen=True)
class Projection:
    """2-D PCA of a matrix [N, d]: coords [N, 2] and the share of variance each component explains [2]."""

    coords: np.ndarray
    explained: np.ndarray


def pca_2d(matrix: np.ndarray) -> Projection:
    """Project the rows of matrix [N, d] on its first two principal components (rows centred first)."""
    if matrix.ndim != 2 or matrix.shape[0] < 2:
        raise ValueError(f"PCA needs a [N, d] matrix with N >= 2, got shape {matrix.shape}")
    data = matrix.astype(np.float64)
    centred = data - data.mean(axis=0, keepdims=True)
    _, singular, vt = np.linalg.svd(centred, full_matrices=False)
    components = vt[:2]
    coords = centred @ components.T
    variance = singular**2
    total = variance.sum()
    explained = variance[:2] / total if total > 0 else np.zeros(2)
    if coords.shape[1] < 2:  # d == 1: pad the missing component
        coords = np.pad(coords, ((0, 0), (0, 2 - coords.shape[1])))
        explained = np.pad(explained, (0, 2 - explained.shape[0]))
    return Projection(coords=coords.astype(np.float32), explained=explained.astype(np.float32))


def unit_rows(matrix: np.ndarray) -> np.ndarray:
    """Rows of [N, d] scaled to length 1 (zero rows stay zero)."""
    norms = np.linalg.norm(matrix, axis=-1, keepdims=True)
    return np.divide(matrix, norms, out=np.zeros_like(matrix, dtype=np.float64), where=norms > 0)


def cosine_matrix(vectors: np.ndarray) -> np.ndarray:
    """Cosine similarity between every pair of rows of [T, d] -> [T, T], values in -1..1."""
    unit = unit_rows(vectors.astype(np.float64))
    return np.clip(unit @ unit.T, -1.0, 1.0)


def row_norms(vectors: np.ndarray) -> np.ndarray:
    """Euclidean length of each row of [T, d] -> [T]."""
    return np.linalg.norm(vectors.astype(np.float64), axis=-1)


def nearest_neighbours(
    table: np.ndarray, index: int, k: int = 10, exclude: tuple[int, ...] = ()
) -> tuple[np.ndarray, np.ndarray]:
    """The k rows of table [V, d] most similar (cosine) to row `index`, itself and `exclude` left out.

    Returns (ids [k], similarities [k]), most similar first.
    """
    if not 0 <= index < table.shape[0]:
        raise IndexError(f"row {index} is outside 0..{table.shape[0] - 1}")
    unit = unit_rows(table.astype(np.float64))
    similarity = unit @ unit[index]
    similarity[index] = -np.inf
    for other in exclude:
        if 0 <= other < similarity.shape[0]:
            similarity[other] = -np.inf
    k = max(0, min(k, int(np.isfinite(similarity).sum())))
    top = np.argpartition(-similarity, k - 1)[:k] if k else np.zeros(0, dtype=int)
    top = top[np.argsort(-similarity[top], kind="stable")]
    return top, similarity[top]


def dot_similarity(table: np.ndarray) -> np.ndarray:
    """Dot product between every pair of rows of [P, d] -> [P, P]."""
    data = table.astype(np.float64)
    return data @ data.T


@dataclass(frozen=True)
class Focus:
    """Where one generated token looked: the source positions with the largest averaged weight."""

    output_index: int
    positions: tuple[int, ...]
    weights: tuple[float, ...]


def source_focus(cross_attn: np.ndarray, top: int = 2) -> tuple[np.ndarray, list[Focus]]:
    """Average cross-attention [L, H, T, S] over layers and heads -> ([T, S], the `top` source positions per row)."""
    if cross_attn.ndim != 4:
        raise ValueError(f"expected [L, H, T, S], got shape {cross_attn.shape}")
    mean = cross_attn.mean(axis=(0, 1))
    summaries = []
    for row_index, row in enumerate(mean):
        order = np.argsort(-row, kind="stable")[: max(1, min(top, row.shape[0]))]
        summaries.append(
            Focus(
                output_index=row_index,
                positions=tuple(int(i) for i in order),
                weights=tuple(float(row[i]) for i in order),
            )
        )
    return mean, summaries


KIND_NAMES = {
    "encoder.self_attn": "Encoder self-attention",
    "decoder.self_attn": "Decoder masked self-attention",
    "decoder.cross_attn": "Cross-attention (decoder queries, encoder keys)",
}


def allowed_keys(kind: str, source_padding_mask: np.ndarray, causal_mask: np.ndarray, queries: int) -> np.ndarray:
    """bool [T_q, T_k], True where the mask lets a query see a key, for one attention kind.

    source_padding_mask [S] (True at real tokens), causal_mask [T, T] (True on and below the diagonal).
    """
    if kind == "decoder.self_attn":
        return causal_mask.astype(bool)
    if kind in ("encoder.self_attn", "decoder.cross_attn"):
        return np.broadcast_to(source_padding_mask.astype(bool), (queries, source_padding_mask.shape[0])).copy()
    raise KeyError(f"unknown attention kind {kind!r}")


@dataclass(frozen=True)
class StepSeries:
    """Every step of greedy decoding for one decoder layer and head, as the decoding page moves through it.

    T steps, S source tokens, H heads, k candidates per step.
    prefix_labels [T]: the decoder input positions ('0:<s>', '1:▁Ein', ...); source_labels [S].
    scores [T, T]: the head's scaled scores Q Kᵀ / √d_k; row t is what step t computed (keys 0..t), NaN above the
    diagonal, where decoding step by step never computes anything (those keys do not exist yet).
    weights [T, T]: row t is the new self-attention row of step t over keys 0..t, NaN above the diagonal.
    cross [T, H, S]: the new cross-attention row of every head of the layer at each step.
    top_tokens [T][k], top_probs [T, k]: the likeliest next tokens at each step, most likely first.
    chosen_tokens [T], chosen_probs [T], eos [T]: the token each step took, its probability, whether it ends.
    """

    layer: int
    head: int
    prefix_labels: tuple[str, ...]
    source_labels: tuple[str, ...]
    scores: np.ndarray
    weights: np.ndarray
    cross: np.ndarray
    top_tokens: tuple[tuple[str, ...], ...]
    top_probs: np.ndarray
    chosen_tokens: tuple[str, ...]
    chosen_probs: np.ndarray
    eos: tuple[bool, ...]

    @property
    def steps(self) -> int:
        return len(self.prefix_labels)


def lower_triangle(matrix: np.ndarray) -> np.ndarray:
    """float32 copy of a square [T, T] matrix with NaN above the diagonal."""
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"expected a square [T, T] matrix, got shape {matrix.shape}")
    keep = np.tril(np.ones(matrix.shape, dtype=bool))
    return np.where(keep, matrix, np.nan).astype(np.float32)


def step_series(trace: Trace, layer: int, head: int, top_k: int) -> StepSeries:
    """The numbers of every decoding step for decoder layer `layer`, head `head`, with `top_k` candidates a step.

    Scores come from the head's recorded stages (row t is exactly what step t computed); weights, cross-attention
    rows and candidates from the step records themselves.
    """
    from model.nn.names import HeadRef  # here, not at the top: importing model loads torch

    steps = trace.steps
    count = len(steps)
    stage = trace.stages[HeadRef("decoder.self_attn", layer, head)]
    weights = np.full((count, count), np.nan, dtype=np.float32)
    for record in steps:
        weights[record.step, : record.step + 1] = record.self_attn[layer, head]
    k = max(1, min(top_k, min(len(record.top_tokens) for record in steps)))
    return StepSeries(
        layer=layer,
        head=head,
        prefix_labels=tuple(trace.target.labels),
        source_labels=tuple(trace.source.labels),
        scores=lower_triangle(stage.scaled_scores[:count, :count]),
        weights=weights,
        cross=np.stack([record.cross_attn[layer] for record in steps]).astype(np.float32),
        top_tokens=tuple(tuple(record.top_tokens[:k]) for record in steps),
        top_probs=np.stack([np.asarray(record.top_probs[:k], dtype=np.float32) for record in steps]),
        chosen_tokens=tuple(record.chosen_token for record in steps),
        chosen_probs=np.asarray([record.chosen_prob for record in steps], dtype=np.float32),
        eos=tuple(bool(record.is_eos) for record in steps),
    )
