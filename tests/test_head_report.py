"""The head lab's comparison with Michel et al. (2019) and Voita et al. (2019) follows the numbers in heads.json,
whichever way they come out."""

from __future__ import annotations

from typing import Any

import pytest

from viz_app.head_report import bleu_at, by_kind, comparison, removable_share


def survey(drops: dict[str, list[float]], curve: list[tuple[float, float]], full: float = 30.0) -> dict[str, Any]:
    """A small heads.json: per kind a list of BLEU drops (log-probability drop the same), and (fraction, BLEU)."""
    heads = [
        {
            "kind": kind,
            "site": f"{kind.split('.')[0]}.0.{kind.split('.')[1]}",
            "layer": 0,
            "head": h,
            "bleu_drop": d,
            "logprob_drop": d,
        }
        for kind, values in drops.items()
        for h, d in enumerate(values)
    ]
    points = [{"removed": round(f * len(heads)), "fraction": f, "bleu": b, "heads_off": []} for f, b in curve]
    return {"bleu": full, "heads": heads, "pruning": {"points": points}}


CURVE = [(0.0, 30.0), (1 / 6, 29.5), (2 / 6, 28.2), (3 / 6, 20.0), (4 / 6, 5.0)]


def test_removable_share_is_the_last_point_within_the_loss() -> None:
    s = survey({"encoder.self_attn": [0.1, 0.2]}, CURVE)
    assert removable_share(s, 1.0) == pytest.approx(1 / 6)
    assert removable_share(s, 2.0) == pytest.approx(2 / 6)
    assert bleu_at(s, 0.25) == pytest.approx((29.5 + 28.2) / 2)
    assert bleu_at(s, 0.9) is None


def test_the_kind_that_matters_most_is_named_with_its_article() -> None:
    s = survey(
        {"encoder.self_attn": [0.4, 0.6], "decoder.self_attn": [0.0, 0.1], "decoder.cross_attn": [-0.1, -0.04]},
        CURVE,
    )
    kinds = {k.kind: k for k in by_kind(s)}
    assert kinds["encoder.self_attn"].mean_bleu_drop == pytest.approx(0.5)
    lines = comparison(s)
    assert "an encoder self head costs 0.50 BLEU" in lines[1]
    assert "a cross head -0.07" in lines[1]
    assert "here it is encoder self attention." in lines[1]
    assert "up to 17% of our 6 heads" in lines[0] and lines[0].endswith("ours tolerates less.")


def test_cross_attention_mattering_most_agrees_with_michel() -> None:
    s = survey(
        {"encoder.self_attn": [0.1, 0.1], "decoder.self_attn": [0.0, 0.0], "decoder.cross_attn": [0.9, 0.7]},
        [(0.0, 30.0), (0.5, 29.4), (1.0, 0.0)],
    )
    lines = comparison(s)
    assert "a cross head costs 0.80 BLEU" in lines[1] and lines[1].endswith("so do we.")
    assert "up to 50%" in lines[0] and lines[0].endswith("ours tolerates more.")
    # All positive importance sits in the 5 largest of 6 heads but one (0.0 + 0.0 contribute nothing).
    assert "hold 100%" in lines[2] and lines[2].endswith("that holds here.")
