"""What one call may ask of the model's modules: edits to some heads, and a record of what they computed.

A probe is an argument of that call (`model(src, tgt, probe=...)`), never state on the shared model, so two
calls on one model at once never see each other's probe. The model only knows these protocols; the interventions
and recorders that implement them live in `model.inspect`. `AttentionProbe` is asked by the attention modules;
`StreamProbe`, which a probe may implement as well, by the residual sub-layers and the feed-forward blocks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol, cast

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


class StreamProbe(Protocol):
    """What a probe may also be asked by the residual sub-layers and feed-forward blocks, during the same call.

    A probe that only edits or records attention (an `AttentionProbe` alone) need not have these methods; the
    layers ask `stream_probe(probe)` first. Names come from `model.nn.names.sublayer_name`.
    """

    def record_sublayer(
        self,
        name: str,
        stream_in: torch.Tensor,
        addition: torch.Tensor,
        summed: torch.Tensor,
        normed: torch.Tensor,
    ) -> None:
        """One residual sub-layer, each [B, T, d]: stream_in, the residual stream arriving; addition, the
        sub-layer's output after residual dropout; summed = stream_in + addition; normed, the output of this
        sub-layer's LayerNorm: LayerNorm(summed), which leaves the sub-layer, post-norm; LayerNorm(stream_in), which
        the sub-layer is given, pre-norm (summed leaves it)."""
        ...

    def record_feed_forward(self, name: str, hidden: torch.Tensor) -> None:
        """hidden [B, T, d_ff]: the feed-forward block's ReLU output, max(0, x W1 + b1), before dropout."""
        ...


def stream_probe(probe: AttentionProbe | None) -> StreamProbe | None:
    """The probe as a StreamProbe when it records the residual stream, else None. A cheap attribute check, made
    at every sub-layer, so probes that never record the stream cost nothing."""
    if probe is not None and hasattr(probe, "record_sublayer"):
        return cast(StreamProbe, probe)
    return None
