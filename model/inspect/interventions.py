"""Interventions passed as call arguments (never set on the shared model): head ablation and temperature."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch

from model.nn.names import HeadRef
from model.nn.probe import SiteEdit


@dataclass(frozen=True)
class Interventions:
    """Hashable set of interventions for one call; also a probe (`model.nn.probe`) that records nothing.

    zero_heads: heads whose output is replaced by zeros before W_O.
    uniform_heads: heads whose weights are replaced by the uniform distribution over the keys the mask allows.
    temperature: divides every scaled score before the softmax (1.0 leaves the model as trained).
    """

    zero_heads: frozenset[HeadRef] = frozenset()
    uniform_heads: frozenset[HeadRef] = frozenset()
    temperature: float = 1.0

    def __post_init__(self) -> None:
        if not self.temperature > 0:
            raise ValueError(f"attention temperature must be > 0, got {self.temperature}")
        object.__setattr__(self, "zero_heads", frozenset(self.zero_heads))
        object.__setattr__(self, "uniform_heads", frozenset(self.uniform_heads))

    @property
    def is_identity(self) -> bool:
        return not self.zero_heads and not self.uniform_heads and self.temperature == 1.0

    def edit(self, site: str) -> SiteEdit | None:
        """The change at one site such as 'encoder.0.self_attn', or None when there is nothing to do."""
        if self.is_identity:
            return None
        zeroed = tuple(sorted(ref.head for ref in self.zero_heads if ref.site == site))
        uniform = tuple(sorted(ref.head for ref in self.uniform_heads if ref.site == site))
        if not zeroed and not uniform and self.temperature == 1.0:
            return None
        return SiteEdit(zeroed=zeroed, uniform=uniform, temperature=self.temperature)

    def stage_heads(self, site: str) -> tuple[int, ...]:
        return ()

    def record(self, site: str, weights: torch.Tensor, stages: Mapping[str, torch.Tensor] | None) -> None:
        return None
