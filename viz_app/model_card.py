"""A model folder's card (card.json, and the limits section of README.md) as plain values for the Overview page.

Every field may be missing: a folder made by hand or by a test has a card with little in it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SCORE_NAMES = {"bleu": "BLEU, cased", "bleu_lowercase": "BLEU, lowercased", "chrf": "chrF2"}
LIMITS_HEADING = "## Intended use and limits"


@dataclass(frozen=True)
class Score:
    """One test score: metric name as shown, value, and sacreBLEU's signature ('' when the card has none)."""

    metric: str
    value: float
    signature: str


@dataclass(frozen=True)
class ModelCard:
    """What the card says: data, test scores, training time and hardware, the training curve, use and limits."""

    data: str = ""
    train_pairs: int | None = None
    val_pairs: int | None = None
    test_pairs: int | None = None
    parameters: int | None = None
    test_split: str = ""
    decoding: str = ""
    scores: tuple[Score, ...] = ()
    wall_time_minutes: float | None = None
    epochs_run: int | None = None
    hardware: str = ""
    command: str = ""
    curve_epochs: tuple[int, ...] = ()
    curve_val_bleu: tuple[float | None, ...] = ()
    curve_train_loss: tuple[float | None, ...] = ()
    curve_val_loss: tuple[float | None, ...] = ()
    limits: str = ""


def _section(readme: str, heading: str) -> str:
    """The text under one '## ' heading of a README, up to the next heading; '' when there is none."""
    lines = readme.splitlines()
    if heading not in (line.strip() for line in lines):
        return ""
    start = [line.strip() for line in lines].index(heading) + 1
    body = []
    for line in lines[start:]:
        if line.startswith("#"):
            break
        body.append(line)
    return " ".join(" ".join(body).split())


def _hardware(card: dict[str, Any]) -> str:
    hardware = card.get("hardware") or {}
    threads = (card.get("training") or {}).get("threads")
    parts = [str(hardware.get("processor") or hardware.get("machine") or "")]
    if hardware.get("cpu_count"):
        parts.append(f"{hardware['cpu_count']} CPU cores")
    if card.get("world_size"):
        parts.append(f"{card['world_size']} process(es)")
    if threads:
        parts.append(f"{threads} torch thread(s) each")
    if hardware.get("torch"):
        parts.append(f"torch {hardware['torch']}")
    return ", ".join(part for part in parts if part)


def read_model_card(card: dict[str, Any], readme: str = "") -> ModelCard:
    """The card's values, with '' / None / () where the card is silent."""
    data = card.get("data") or {}
    test = card.get("test") or {}
    signatures = test.get("signatures") or {}
    scores = tuple(
        Score(label, float(test[key]), str(signatures.get(key, "")))
        for key, label in SCORE_NAMES.items()
        if isinstance(test.get(key), (int, float))
    )
    curve = [row for row in card.get("curve") or [] if isinstance(row, dict) and "epoch" in row]
    return ModelCard(
        data=str(data.get("name", "")),
        train_pairs=data.get("train_pairs"),
        val_pairs=data.get("val_pairs"),
        test_pairs=data.get("test_pairs"),
        parameters=card.get("parameters"),
        test_split=str(test.get("split", "")),
        decoding=str(test.get("decoding", "")),
        scores=scores,
        wall_time_minutes=card.get("wall_time_minutes"),
        epochs_run=card.get("epochs_run"),
        hardware=_hardware(card),
        command=str(card.get("command", "")),
        curve_epochs=tuple(int(row["epoch"]) for row in curve),
        curve_val_bleu=tuple(row.get("val_bleu") for row in curve),
        curve_train_loss=tuple(row.get("train_loss") for row in curve),
        curve_val_loss=tuple(row.get("val_loss") for row in curve),
        limits=_section(readme, LIMITS_HEADING),
    )
