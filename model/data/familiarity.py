"""How far a source sentence is from what the model saw in training, judged against the training-split statistics
stored with the model (token_stats.json): too long, several unknown pieces, or probably the wrong language.

Checked on the validation split (2026-12-02): the wrong-language rule flags 1 in 1,014 English sentences for the
English -> German model and every one of their German references; for German -> English, none of the German
sentences and 99.9% of the English ones. About 1% of validation sentences are longer than the 99th percentile.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from model.data.token_stats import TokenStats

SEVERAL_UNKNOWN = 2  # this many <unk> pieces or more
MIN_PIECES_FOR_LANGUAGE = 3  # shorter sentences are too few pieces to judge their language


@dataclass(frozen=True)
class Familiarity:
    """What was measured about one source sentence (ids as the encoder reads them, <s> and </s> included)."""

    length: int
    length_p99: float
    unknown: int
    pieces: int  # pieces that occur in the training data (specials excluded)
    target_leaning: int  # of those, pieces relatively more frequent on the training data's target side

    @property
    def too_long(self) -> bool:
        return self.length > self.length_p99

    @property
    def many_unknown(self) -> bool:
        return self.unknown >= SEVERAL_UNKNOWN

    @property
    def wrong_language(self) -> bool:
        return self.pieces >= MIN_PIECES_FOR_LANGUAGE and 2 * self.target_leaning > self.pieces


def familiarity(stats: TokenStats, ids: Sequence[int], special_ids: Sequence[int], unk_id: int) -> Familiarity:
    """Compare the sentence's pieces with how often each occurs per side of the training split.

    A piece leans to the target side when its share of the target side's tokens is larger than its share of the
    source side's (shares, so that the sides' different token totals do not decide).
    """
    source_rate = stats.source_counts / max(int(stats.source_counts.sum()), 1)
    target_rate = stats.target_counts / max(int(stats.target_counts.sum()), 1)
    specials = set(special_ids)
    content = np.asarray([i for i in ids if i not in specials and 0 <= i < len(source_rate)], dtype=np.int64)
    seen = content[(source_rate[content] + target_rate[content]) > 0]
    return Familiarity(
        length=len(ids),
        length_p99=stats.source_length_p99,
        unknown=sum(1 for i in ids if i == unk_id),
        pieces=len(seen),
        target_leaning=int((target_rate[seen] > source_rate[seen]).sum()),
    )


def warnings(found: Familiarity, source_name: str, target_name: str) -> list[str]:
    """One plain sentence per reason to distrust the translation; empty when the input looks like training data."""
    notes = []
    if found.too_long:
        notes.append(
            f"This sentence is {found.length} tokens long (with <s> and </s>), longer than 99% of the training "
            f"sentences (at most {found.length_p99:g} tokens): translations this long are less reliable."
        )
    if found.many_unknown:
        notes.append(
            f"{found.unknown} pieces of this sentence are unknown to the model (<unk>): it cannot read what they were."
        )
    if found.wrong_language:
        notes.append(
            f"{found.target_leaning} of its {found.pieces} pieces are more frequent in the {target_name} side of the "
            f"training data than in the {source_name} side: it is probably not {source_name}, and this model "
            f"translates {source_name} -> {target_name}: its output may read fluently and still be wrong."
        )
    return notes
