"""Corpus scores the way the field reports them: sacreBLEU 2.x BLEU (cased and lowercased, 13a) and chrF2."""

from __future__ import annotations

from typing import Any

from sacrebleu.metrics import BLEU, CHRF


def corpus_scores(hypotheses: list[str], references: list[str]) -> dict[str, Any]:
    """{'bleu', 'bleu_lowercase', 'chrf', 'signatures': {...}} for line-aligned hypotheses and references."""
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} references")
    cased = BLEU()
    lowercase = BLEU(lowercase=True)
    chrf = CHRF()
    return {
        "bleu": round(cased.corpus_score(hypotheses, [references]).score, 2),
        "bleu_lowercase": round(lowercase.corpus_score(hypotheses, [references]).score, 2),
        "chrf": round(chrf.corpus_score(hypotheses, [references]).score, 2),
        "signatures": {
            "bleu": str(cased.get_signature()),
            "bleu_lowercase": str(lowercase.get_signature()),
            "chrf": str(chrf.get_signature()),
        },
    }
