"""What one call may ask of the attention modules: edits to some heads, and a record of what they computed.

A probe is an argument of that call (`model(src, tgt, probe=...)`), never state on the shared model, so two
calls on one model at once never see each other's probe. The model only knows this protocol; the interventions
and recorders that implement it live in `model.inspect`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import torch


@dataclass(frozen=True)
class SiteEdit:
    """What to change at one attention site.

    zeroed: heads whose output is replaced by zeros before W_O. uniform: heads whose weights become the uniform
    distribution over the keys the mask allows. temperature: divides every scaled score before the softmax.
    keep: optional per-row head multipliers [B, H] (1 keeps a head, 0 switches it off), so one batched call can
    switch off a different head in each row.
    """

    zeroed: tuple[int, ...] = ()
    uniform: tuple[int, ...] = ()
    temperature: float = 1.0
    keep: torch.Tensor | None = None


class AttentionProbe(Protocol):
    """Asked by every attention module, with its own site name, during one call."""

    def edit(self, site: str) -> SiteEdit | None:
        """The change to make at this site, or None to leave it as trained."""
        ...

    def stage_heads(self, site: str) -> tuple[int, ...]:
        """Heads whose stages of scaled dot-product attention this probe wants; none means record() gets no
        stages."""
        ...

    def record(self, site: str, weights: torch.Tensor, stages: Mapping[str, torch.Tensor] | None) -> None:
        """weights [B, H, T_q, T_k] before dropout. stages, when some heads were asked for, holds every head's:
        q, k, v [B, H, T, d_k]; raw_scores, scaled_scores, masked_scores, weights [B, H, T_q, T_k]; output
        [B, H, T_q, d_k] (each head's weighted sum of values, before W_O)."""
        ...
