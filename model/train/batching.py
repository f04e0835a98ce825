"""Token-bucketed batches: sentences of similar length together, each batch holding about N tokens."""

from __future__ import annotations

import random
from collections.abc import Sequence

import torch

EncodedPair = tuple[list[int], list[int]]


def token_buckets(
    lengths: Sequence[tuple[int, int]], max_tokens: int, seed: int, shuffle: bool = True
) -> list[list[int]]:
    """Indices grouped into batches whose padded size, rows x longest side, stays within max_tokens.

    lengths: (source length, target length) per pair. Pairs are sorted by length (random tie-break from seed),
    cut into batches, and the batch order is shuffled, so each epoch sees different neighbours.
    """
    rng = random.Random(seed)
    noise = [rng.random() for _ in lengths] if shuffle else [0.0] * len(lengths)
    order = sorted(range(len(lengths)), key=lambda i: (max(lengths[i]), min(lengths[i]), noise[i]))
    batches: list[list[int]] = []
    current: list[int] = []
    longest = 0
    for index in order:
        size = max(lengths[index])
        if current and max(longest, size) * (len(current) + 1) > max_tokens:
            batches.append(current)
            current, longest = [], 0
        current.append(index)
        longest = max(longest, size)
    if current:
        batches.append(current)
    if shuffle:
        rng.shuffle(batches)
    return batches


def collate(pairs: Sequence[EncodedPair], pad_id: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Encoded (source, target) pairs, each side <s> ... </s> -> (source [B, S], decoder input [B, T-1],
    labels [B, T-1]), right-padded with pad_id. The decoder reads target[:-1] and predicts target[1:]."""
    source_len = max(len(s) for s, _ in pairs)
    target_len = max(len(t) for _, t in pairs)
    source = torch.full((len(pairs), source_len), pad_id, dtype=torch.long)
    target = torch.full((len(pairs), target_len), pad_id, dtype=torch.long)
    for row, (s, t) in enumerate(pairs):
        source[row, : len(s)] = torch.tensor(s)
        target[row, : len(t)] = torch.tensor(t)
    return source, target[:, :-1], target[:, 1:]
