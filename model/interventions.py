"""Interventions passed as call arguments (never set on the shared model): head ablation and temperature."""

from __future__ import annotations

from dataclasses import dataclass

ATTENTION_KINDS = ("encoder.self_attn", "decoder.self_attn", "decoder.cross_attn")


def site_name(kind: str, layer: int) -> str:
    """'decoder.cross_attn', 2 -> 'decoder.2.cross_attn', the scheme every trace key follows."""
    side, attention = kind.split(".")
    return f"{side}.{layer}.{attention}"


@dataclass(frozen=True)
class HeadRef:
    """One head of one attention site: kind in ATTENTION_KINDS, layer and head indices from 0."""

    kind: str
    layer: int
    head: int

    def __post_init__(self) -> None:
        if self.kind not in ATTENTION_KINDS:
            raise ValueError(f"attention kind must be one of {ATTENTION_KINDS}, got {self.kind!r}")
        if self.layer < 0 or self.head < 0:
            raise ValueError(f"layer and head must be >= 0, got {self.layer}, {self.head}")

    @property
    def site(self) -> str:
        return site_name(self.kind, self.layer)


@dataclass(frozen=True)
class SiteIntervention:
    """What to do at one attention site: heads whose output is zeroed, heads made uniform, a temperature."""

    zeroed: tuple[int, ...] = ()
    uniform: tuple[int, ...] = ()
    temperature: float = 1.0


@dataclass(frozen=True)
class Interventions:
    """Hashable set of interventions for one call.

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

    @property
    def is_identity(self) -> bool:
        return not self.zero_heads and not self.uniform_heads and self.temperature == 1.0

    def at(self, site: str) -> SiteIntervention | None:
        """The intervention for one site such as 'encoder.0.self_attn', or None when there is nothing to do."""
        if self.is_identity:
            return None
        zeroed = tuple(sorted(ref.head for ref in self.zero_heads if ref.site == site))
        uniform = tuple(sorted(ref.head for ref in self.uniform_heads if ref.site == site))
        if not zeroed and not uniform and self.temperature == 1.0:
            return None
        return SiteIntervention(zeroed=zeroed, uniform=uniform, temperature=self.temperature)
