"""A per-call recorder of attention weights and stages, and of the residual stream: a probe value owned by one call,
never stored on a module."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import torch

from model.inspect.interventions import Interventions
from model.inspect.trace import ResidualStream
from model.nn.names import SUBLAYERS, HeadRef, sublayer_name
from model.nn.probe import SiteEdit

STAGE_NAMES = ("q", "k", "v", "raw_scores", "scaled_scores", "masked_scores", "weights", "output")


STREAM_PARTS = ("stream_in", "addition", "summed", "normed")


class Recorder:
    """A probe (`model.nn.probe`, both protocols) that applies the call's interventions and keeps what each site
    computed.

    weights[site]: the attention weights [B, H, T_q, T_k] at 'encoder.0.self_attn', ..., taken before dropout.
    site_stages[site]: at sites with a head asked for, each stage of scaled dot-product attention for every head
    (names in STAGE_NAMES, shapes as in `model.nn.probe.AttentionProbe.record`). stages: the same per asked head.
    With keep_stream: sublayers[name], per residual sub-layer ('decoder.1.feed_forward'), its parts by
    STREAM_PARTS, each [B, T, d] (normed: the output of that sub-layer's LayerNorm); relu_off[name], per
    feed-forward block, the share of its d_ff units the ReLU set to 0, [B, T].
    """

    def __init__(
        self,
        interventions: Interventions | None = None,
        keep_weights: bool = True,
        stage_heads: Iterable[HeadRef] = (),
        keep_stream: bool = False,
    ) -> None:
        self.interventions = interventions
        self.keep_weights = keep_weights
        self.keep_stream = keep_stream
        self.sublayers: dict[str, dict[str, torch.Tensor]] = {}
        self.relu_off: dict[str, torch.Tensor] = {}
        heads_by_site: dict[str, set[int]] = {}
        for ref in stage_heads:
            heads_by_site.setdefault(ref.site, set()).add(ref.head)
        self._stage_heads = {site: tuple(sorted(heads)) for site, heads in heads_by_site.items()}
        self.weights: dict[str, torch.Tensor] = {}
        self.site_stages: dict[str, dict[str, torch.Tensor]] = {}

    def edit(self, site: str) -> SiteEdit | None:
        return self.interventions.edit(site) if self.interventions is not None else None

    def stage_heads(self, site: str) -> tuple[int, ...]:
        return self._stage_heads.get(site, ())

    def record(self, site: str, weights: torch.Tensor, stages: Mapping[str, torch.Tensor] | None) -> None:
        if self.keep_weights:
            self.weights[site] = as_recorded(weights)
        if stages is not None and site in self._stage_heads:
            self.site_stages[site] = {name: as_recorded(stages[name]) for name in STAGE_NAMES}

    def record_sublayer(
        self, name: str, stream_in: torch.Tensor, addition: torch.Tensor, summed: torch.Tensor, normed: torch.Tensor
    ) -> None:
        if self.keep_stream:
            parts = (stream_in, addition, summed, normed)
            self.sublayers[name] = {part: as_recorded(t) for part, t in zip(STREAM_PARTS, parts, strict=True)}

    def record_feed_forward(self, name: str, hidden: torch.Tensor) -> None:
        if self.keep_stream:
            self.relu_off[name] = (hidden == 0).float().mean(dim=-1)

    @property
    def stages(self) -> dict[HeadRef, dict[str, torch.Tensor]]:
        """Per asked head: each stage, [B, ...] (the head axis taken out)."""
        return {
            HeadRef.at(site, head): {name: value[:, head] for name, value in self.site_stages[site].items()}
            for site, heads in self._stage_heads.items()
            if site in self.site_stages
            for head in heads
        }

    def asked_heads(self) -> list[HeadRef]:
        """The heads asked for at sites that were recorded, in order."""
        return sorted(
            HeadRef.at(site, h) for site, heads in self._stage_heads.items() if site in self.site_stages for h in heads
        )


def stacked_weights(recorder: Recorder, sites: list[str]) -> np.ndarray:
    """The weights of one sentence at each site, [1, H, T_q, T_k] each, stacked: [len(sites), H, T_q, T_k]."""
    return torch.stack([recorder.weights[site][0] for site in sites]).cpu().numpy()


def as_recorded(tensor: torch.Tensor) -> torch.Tensor:
    """A float32 tensor cut off from autograd; the tensor itself when it already is one."""
    if tensor.requires_grad:
        tensor = tensor.detach()
    return tensor if tensor.dtype == torch.float32 else tensor.float()


def stacked_stream(recorder: Recorder, side: str, n_layers: int, norm_placement: str) -> ResidualStream:
    """One sentence's residual stream through one stack ('encoder' | 'decoder'), from a recorder that kept it:
    one stack and one copy to numpy for every part of every sub-layer."""
    sublayers = SUBLAYERS[side]
    names = [[sublayer_name(side, layer, sub) for sub in sublayers] for layer in range(n_layers)]
    parts = torch.stack(
        [
            torch.stack([torch.stack([recorder.sublayers[name][part][0] for name in row]) for row in names])
            for part in STREAM_PARTS
        ]
    )  # [4, L, K, T, d]
    relu = torch.stack([recorder.relu_off[sublayer_name(side, layer, "feed_forward")][0] for layer in range(n_layers)])
    arrays = parts.cpu().numpy()
    return ResidualStream(
        side=side,
        sublayers=sublayers,
        norm_placement=norm_placement,
        **{part: arrays[i] for i, part in enumerate(STREAM_PARTS)},
        relu_off_share=relu.cpu().numpy(),
    )
