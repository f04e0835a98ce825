"""A per-call collector of attention weights and stages. A value owned by one call, never stored on a module."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch

STAGE_NAMES = ("q", "k", "v", "raw_scores", "scaled_scores", "masked_scores", "weights", "output")


class AttentionRecorder:
    """Collects, per attention site ('encoder.0.self_attn', ...), what one forward call computed.

    weights[site]: the attention weights [B, H, T_q, T_k], taken before dropout.
    stages[(site, head)]: for the heads asked for, each stage of scaled dot-product attention:
      q, k, v [B, T, d_k]; raw_scores, scaled_scores, masked_scores (with -inf), weights [B, T_q, T_k];
      output [B, T_q, d_k] (the head's weighted sum of values, before W_O).
    """

    def __init__(self, keep_weights: bool = True, stage_heads: Iterable[tuple[str, int]] = ()) -> None:
        self.keep_weights = keep_weights
        heads_by_site: dict[str, set[int]] = {}
        for site, head in stage_heads:
            heads_by_site.setdefault(site, set()).add(head)
        self._stage_heads = {site: tuple(sorted(heads)) for site, heads in heads_by_site.items()}
        self.weights: dict[str, torch.Tensor] = {}
        self.stages: dict[tuple[str, int], dict[str, torch.Tensor]] = {}

    def stage_heads_at(self, site: str) -> tuple[int, ...]:
        return self._stage_heads.get(site, ())

    def record_weights(self, site: str, weights: torch.Tensor) -> None:
        if self.keep_weights:
            self.weights[site] = as_recorded(weights)

    def record_stages(self, site: str, head: int, stages: dict[str, torch.Tensor]) -> None:
        self.stages[(site, head)] = {name: as_recorded(stages[name]) for name in STAGE_NAMES}


def stacked_weights(recorder: AttentionRecorder, sites: list[str]) -> np.ndarray:
    """The weights of one sentence at each site, [1, H, T_q, T_k] each, stacked: [len(sites), H, T_q, T_k]."""
    return torch.stack([recorder.weights[site][0] for site in sites]).numpy()


def split_by_side(
    heads: Iterable[tuple[str, int]],
) -> tuple[tuple[tuple[str, int], ...], tuple[tuple[str, int], ...]]:
    """(site, head) pairs -> (the encoder's, the decoder's), for the passes that record each side."""
    heads = tuple(heads)
    encoder = tuple(head for head in heads if head[0].startswith("encoder."))
    return encoder, tuple(head for head in heads if head not in encoder)


def as_recorded(tensor: torch.Tensor) -> torch.Tensor:
    """A float32 tensor cut off from autograd; the tensor itself when it already is one (no call at all, since
    one-token decoding steps record a dozen tensors each)."""
    if tensor.requires_grad:
        tensor = tensor.detach()
    return tensor if tensor.dtype == torch.float32 else tensor.float()
