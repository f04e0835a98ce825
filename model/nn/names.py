"""Names of attention sites and heads, made in one place.

A site is one attention module: 'encoder.0.self_attn', 'decoder.1.self_attn', 'decoder.2.cross_attn'. A head is
a site and a head index; its text form is 'decoder.2.cross_attn:5', as the command line takes it. A sub-layer is one
residual block of a layer: an attention site, or the feed-forward block 'encoder.0.feed_forward'.
"""

from __future__ import annotations

from dataclasses import dataclass

from model.nn.config import ModelConfig

ATTENTION_KINDS = ("encoder.self_attn", "decoder.self_attn", "decoder.cross_attn")


def site_name(kind: str, layer: int) -> str:
    """'decoder.cross_attn', 2 -> 'decoder.2.cross_attn', the scheme every site follows."""
    if kind not in ATTENTION_KINDS:
        raise ValueError(f"attention kind must be one of {', '.join(ATTENTION_KINDS)}; got {kind!r}")
    side, attention = kind.split(".")
    return f"{side}.{layer}.{attention}"


SUBLAYERS = {"encoder": ("self_attn", "feed_forward"), "decoder": ("self_attn", "cross_attn", "feed_forward")}


def sublayer_name(side: str, layer: int, sublayer: str) -> str:
    """'decoder', 1, 'feed_forward' -> 'decoder.1.feed_forward': the name of one residual sub-layer. Attention
    sub-layers share their site's name (sublayer_name('decoder', 2, 'cross_attn') == 'decoder.2.cross_attn')."""
    if sublayer not in SUBLAYERS.get(side, ()):
        raise ValueError(f"{side!r} layers have no sub-layer {sublayer!r}; expected one of {SUBLAYERS}")
    return f"{side}.{layer}.{sublayer}"


def parse_site(site: str) -> tuple[str, int]:
    """'decoder.2.cross_attn' -> ('decoder.cross_attn', 2); ValueError naming the site if it is not one."""
    parts = site.split(".")
    if len(parts) != 3 or not parts[1].isdigit() or f"{parts[0]}.{parts[2]}" not in ATTENTION_KINDS:
        raise ValueError(
            f"{site!r} is not an attention site; sites look like encoder.0.self_attn, decoder.1.self_attn or "
            "decoder.2.cross_attn"
        )
    return f"{parts[0]}.{parts[2]}", int(parts[1])


@dataclass(frozen=True, order=True)
class HeadRef:
    """One head of one attention site: kind in ATTENTION_KINDS, layer and head indices from 0. Hashable, ordered."""

    kind: str
    layer: int
    head: int

    def __post_init__(self) -> None:
        if self.kind not in ATTENTION_KINDS:
            raise ValueError(f"attention kind must be one of {', '.join(ATTENTION_KINDS)}; got {self.kind!r}")
        if self.layer < 0 or self.head < 0:
            raise ValueError(f"layer and head must be >= 0, got {self.layer}, {self.head}")

    @property
    def site(self) -> str:
        return site_name(self.kind, self.layer)

    def __str__(self) -> str:
        return f"{self.site}:{self.head}"

    @classmethod
    def at(cls, site: str, head: int) -> HeadRef:
        kind, layer = parse_site(site)
        return cls(kind, layer, head)

    @classmethod
    def parse(cls, text: str) -> HeadRef:
        """'decoder.2.cross_attn:5' -> HeadRef('decoder.cross_attn', 2, 5); ValueError naming the text."""
        site, sep, head = text.strip().rpartition(":")
        if not sep or not head.isdigit():
            raise ValueError(f"{text!r} is not a head; write SITE:HEAD, for example decoder.2.cross_attn:5")
        return cls.at(site, int(head))


def every_head(config: ModelConfig) -> list[HeadRef]:
    """Every head of every attention site of a model of this shape, kind by kind, layer by layer, head by head."""
    layers = {"encoder.self_attn": config.n_encoder_layers}
    return [
        HeadRef(kind, layer, head)
        for kind in ATTENTION_KINDS
        for layer in range(layers.get(kind, config.n_decoder_layers))
        for head in range(config.n_heads)
    ]
