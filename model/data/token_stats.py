"""Training-split statistics stored with a model: how often each token occurs on each side, and how long sentences
are. The head lab reads rarity from them; they are computed when a model is exported, or for a folder with
`python -m model.stats --model DIR`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from model.data.corpus import split_checksums
from model.data.tokenizer import SubwordTokenizer

STATS_FILE = "token_stats.json"


@dataclass(frozen=True)
class TokenStats:
    """source_counts, target_counts int [V]: occurrences of each token id in the training split's source and target
    sentences (special tokens included as the tokenizer adds them). source_length_p99: the 99th percentile of
    source lengths in tokens."""

    source_language: str
    target_language: str
    source_counts: np.ndarray
    target_counts: np.ndarray
    source_length_p99: float
    sentences: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "split": "train",
            "source_language": self.source_language,
            "target_language": self.target_language,
            "sentences": self.sentences,
            "source_length_p99": self.source_length_p99,
            "source_counts": self.source_counts.tolist(),
            "target_counts": self.target_counts.tolist(),
        }


def count_tokens(
    tokenizer: SubwordTokenizer, pairs: list[tuple[str, str]], source_language: str, target_language: str
) -> TokenStats:
    vocab = tokenizer.vocab_size
    sources = tokenizer.encode_batch([s for s, _ in pairs])
    targets = tokenizer.encode_batch([t for _, t in pairs])
    source_counts = np.bincount(np.concatenate([np.asarray(ids) for ids in sources]), minlength=vocab)
    target_counts = np.bincount(np.concatenate([np.asarray(ids) for ids in targets]), minlength=vocab)
    return TokenStats(
        source_language=source_language,
        target_language=target_language,
        source_counts=source_counts.astype(np.int64),
        target_counts=target_counts.astype(np.int64),
        source_length_p99=float(np.percentile([len(ids) for ids in sources], 99)),
        sentences=len(pairs),
    )


def write_token_stats(directory: Path, stats: TokenStats, data_directory: Path | None) -> None:
    data = stats.to_dict()
    data["data_sha256"] = split_checksums((stats.source_language, stats.target_language), ("train",), data_directory)
    (directory / STATS_FILE).write_text(json.dumps(data), encoding="utf-8")


def read_token_stats(directory: str | Path) -> TokenStats | None:
    """The folder's statistics, or None when it has none or they cannot be read."""
    path = Path(directory) / STATS_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return TokenStats(
            source_language=data["source_language"],
            target_language=data["target_language"],
            source_counts=np.asarray(data["source_counts"], dtype=np.int64),
            target_counts=np.asarray(data["target_counts"], dtype=np.int64),
            source_length_p99=float(data["source_length_p99"]),
            sentences=int(data["sentences"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
