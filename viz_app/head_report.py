"""Reading a model's heads.json for the head lab: rankings, the pruning curve at chosen shares, and how our numbers
compare with what Michel et al. (2019) and Voita et al. (2019) report. Plain values, no torch, no Streamlit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from model.nn.names import ATTENTION_KINDS, HeadRef

KIND_SHORT = {"encoder.self_attn": "encoder self", "decoder.self_attn": "decoder self", "decoder.cross_attn": "cross"}


def head_of(entry: dict[str, Any]) -> HeadRef:
    return HeadRef(entry["kind"], int(entry["layer"]), int(entry["head"]))


def head_title(ref: HeadRef) -> str:
    """'cross · layer 2 · head 5 (decoder.2.cross_attn:5)'."""
    return f"{KIND_SHORT[ref.kind]} · layer {ref.layer} · head {ref.head} ({ref})"


def ranked(survey: dict[str, Any], key: str = "bleu_drop") -> list[dict[str, Any]]:
    """The heads of heads.json, most important first by `key` (ties: by name)."""
    return sorted(survey["heads"], key=lambda e: (-float(e[key]), str(head_of(e))))


def bleu_at(survey: dict[str, Any], fraction: float) -> float | None:
    """Validation BLEU with `fraction` of the heads switched off, read off the pruning curve (linear between its
    points); None beyond its last point."""
    points = survey["pruning"]["points"]
    shares = [float(p["fraction"]) for p in points]
    if fraction > shares[-1] + 1e-9:
        return None
    return float(np.interp(fraction, shares, [float(p["bleu"]) for p in points]))


def removable_share(survey: dict[str, Any], loss: float = 1.0) -> float:
    """The largest share of heads on the pruning curve whose BLEU stays within `loss` points of the full model."""
    full = float(survey["bleu"])
    within = [float(p["fraction"]) for p in survey["pruning"]["points"] if full - float(p["bleu"]) <= loss]
    return max(within, default=0.0)


@dataclass(frozen=True)
class KindSummary:
    kind: str
    mean_bleu_drop: float
    max_bleu_drop: float


def by_kind(survey: dict[str, Any]) -> list[KindSummary]:
    out = []
    for kind in ATTENTION_KINDS:
        drops = [float(e["bleu_drop"]) for e in survey["heads"] if e["kind"] == kind]
        if drops:
            out.append(KindSummary(kind, float(np.mean(drops)), float(np.max(drops))))
    return out


def top_share(survey: dict[str, Any], count: int = 5, key: str = "logprob_drop") -> float:
    """The share of the total positive importance that the `count` most important heads hold."""
    drops = sorted((max(float(e[key]), 0.0) for e in survey["heads"]), reverse=True)
    total = sum(drops)
    return sum(drops[:count]) / total if total > 0 else 0.0


def _a(noun: str) -> str:
    """The noun with its indefinite article: "an encoder self", "a cross"."""
    return ("an " if noun[:1].lower() in "aeiou" else "a ") + noun


def comparison(survey: dict[str, Any]) -> list[str]:
    """Sentences comparing our numbers with the two papers, whichever way they come out."""
    total = len(survey["heads"])
    full = float(survey["bleu"])
    share = removable_share(survey, 1.0)
    kinds = by_kind(survey)
    most = max(kinds, key=lambda k: k.mean_bleu_drop)
    least = min(kinds, key=lambda k: k.mean_bleu_drop)
    lines = [
        f"Pruning the least important heads first, up to {share:.0%} of our {total} heads can be switched off "
        f"while validation BLEU stays within 1 point of the full model's {full:.2f}. Michel et al. (2019, \"Are "
        'Sixteen Heads Really Better than One?") report about 20-40% removable with little loss in their '
        "models; "
        + (
            "ours is in that range."
            if 0.2 <= share <= 0.4
            else ("ours tolerates more." if share > 0.4 else "ours tolerates less.")
        ),
        f"Switched off alone, {_a(KIND_SHORT[most.kind])} head costs {most.mean_bleu_drop:.2f} BLEU on average and "
        f"{_a(KIND_SHORT[least.kind])} head {least.mean_bleu_drop:.2f}. Michel et al. found encoder-decoder (cross) "
        "attention the least removable; "
        + ("so do we." if most.kind == "decoder.cross_attn" else f"here it is {KIND_SHORT[most.kind]} attention."),
        f"The 5 most important heads hold {top_share(survey):.0%} of the total log-probability importance of all "
        f"{total}. Voita et al. (2019) found that a few specialised heads do most of the work; "
        + ("that holds here." if top_share(survey) >= 0.4 else "here the work is spread more evenly."),
    ]
    return lines
