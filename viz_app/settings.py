"""Where models live, which one opens first, and the example sentences offered in the sidebar."""

from __future__ import annotations

import os
from pathlib import Path

from model.data.corpus import LANGUAGE_NAMES

REPO_ROOT = Path(__file__).resolve().parent.parent
MODELS_DIR_ENV = "ATTN_MODELS_DIR"
DEFAULT_MODELS_DIR = REPO_ROOT / "pretrained"
DEFAULT_MODEL = "multi30k-en-de"
TRACE_TOP_K = 10  # every trace keeps the 10 likeliest next tokens; pages show as many as asked

# Image captions like the ones the models learned from: people, dogs, streets, sports. Same order in each language.
EXAMPLES: dict[str, tuple[str, ...]] = {
    "en": (
        "A brown dog is running through the grass with a ball in its mouth.",
        "Two young men are playing soccer on a green field.",
        "A woman in a red jacket is walking down a busy city street.",
        "A group of children are sitting on the steps in front of a building.",
        "A man on a bicycle rides past a fruit stand.",
    ),
    "de": (
        "Ein brauner Hund rennt mit einem Ball im Maul durch das Gras.",
        "Zwei junge Männer spielen Fußball auf einem grünen Feld.",
        "Eine Frau in einer roten Jacke geht eine belebte Straße entlang.",
        "Eine Gruppe Kinder sitzt auf den Stufen vor einem Gebäude.",
        "Ein Mann auf einem Fahrrad fährt an einem Obststand vorbei.",
    ),
}


def models_dir() -> Path:
    """The folder holding one subfolder per model: $ATTN_MODELS_DIR, else pretrained/ in the repository."""
    override = os.environ.get(MODELS_DIR_ENV)
    return Path(override) if override else DEFAULT_MODELS_DIR


def available_models(directory: Path | None = None) -> list[str]:
    """Names of the model folders, the default model first, then alphabetical; hidden folders skipped."""
    directory = directory or models_dir()
    if not directory.is_dir():
        return []
    names = sorted(p.name for p in directory.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))
    if DEFAULT_MODEL in names:
        names.remove(DEFAULT_MODEL)
        names.insert(0, DEFAULT_MODEL)
    return names


def language_pair(model_name: str, card: dict | None = None) -> tuple[str, str]:
    """(source, target) language codes from the card, else from a name like 'multi30k-en-de', else ('en', 'de')."""
    card = card or {}
    source, target = card.get("source_language"), card.get("target_language")
    if isinstance(source, str) and isinstance(target, str):
        return source, target
    parts = model_name.split("-")
    if len(parts) >= 2 and parts[-2] in LANGUAGE_NAMES and parts[-1] in LANGUAGE_NAMES:
        return parts[-2], parts[-1]
    return "en", "de"


def examples_for(language: str) -> tuple[str, ...]:
    return EXAMPLES.get(language, EXAMPLES["en"])
