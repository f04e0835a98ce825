"""Multi30k on disk: where it is, how its text is cleaned, and how a split is read as sentence pairs."""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATA_DIR = REPO_ROOT.parent / "shared" / "data" / "multi30k"
DATA_DIR_ENV = "ATTN_DATA_DIR"
SPLITS = ("train", "val", "test_2016_flickr")
LANGUAGES = ("en", "de", "fr")
LANGUAGE_NAMES = {"en": "English", "de": "German", "fr": "French"}
_WHITESPACE = re.compile(r"\s+")


def data_dir(override: str | Path | None = None) -> Path:
    """The Multi30k folder: the explicit override, else $ATTN_DATA_DIR, else ../shared/data/multi30k."""
    if override:
        return Path(override)
    from_env = os.environ.get(DATA_DIR_ENV)
    return Path(from_env) if from_env else DEFAULT_DATA_DIR


def normalize(text: str) -> str:
    """Unicode NFC, non-breaking spaces and tabs to plain spaces, runs of whitespace to one, trimmed."""
    return _WHITESPACE.sub(" ", unicodedata.normalize("NFC", text).replace("\u00a0", " ")).strip()


def split_path(split: str, language: str, directory: str | Path | None = None) -> Path:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r}; expected one of {', '.join(LANGUAGES)}")
    return data_dir(directory) / f"{split}.{language}"


def read_lines(path: str | Path) -> list[str]:
    """The normalized lines of a UTF-8 text file, one sentence each (a trailing newline adds no line)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such data file: {path}")
    return [normalize(line) for line in path.read_text(encoding="utf-8").splitlines()]


def load_pairs(
    split: str, source_language: str, target_language: str, directory: str | Path | None = None
) -> list[tuple[str, str]]:
    """Line-aligned (source, target) sentence pairs of one split."""
    sources = read_lines(split_path(split, source_language, directory))
    targets = read_lines(split_path(split, target_language, directory))
    if len(sources) != len(targets):
        raise ValueError(f"{split}: {len(sources)} {source_language} lines but {len(targets)} {target_language} lines")
    return list(zip(sources, targets, strict=True))


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def split_checksums(
    languages: tuple[str, ...], splits: tuple[str, ...] = SPLITS, directory: str | Path | None = None
) -> dict[str, str]:
    """{'train.en': sha256, ...} for the files a model was trained and scored on."""
    return {
        f"{split}.{language}": file_sha256(split_path(split, language, directory))
        for split in splits
        for language in languages
    }


def language_name(code: str) -> str:
    """'de' -> 'German'; an unknown code is returned as it is."""
    return LANGUAGE_NAMES.get(code, code)
