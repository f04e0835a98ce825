"""Writes a pretrained folder at the end of training: fp16 weights, config, tokenizer, card.json, README.md."""

from __future__ import annotations

import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

from model.data.checkpoint import (
    CONFIG_FILE,
    TOKENIZER_FILE,
    WEIGHTS_FILE,
    load_pretrained,
    save_pretrained,
    write_card,
)
from model.data.corpus import LANGUAGE_NAMES, file_sha256, load_pairs, split_checksums
from model.data.token_stats import count_tokens, write_token_stats
from model.data.tokenizer import SubwordTokenizer
from model.nn.transformer import Transformer
from model.pipeline import Translator
from model.train.config import TrainConfig
from model.train.scoring import corpus_scores

TEST_SPLIT = "test_2016_flickr"


def hardware() -> dict[str, Any]:
    info: dict[str, Any] = {
        "machine": platform.machine(),
        "processor": platform.processor() or "unknown",
        "cpu_count": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
    }
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["processor"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def scores_on(translator: Translator, pairs: list[tuple[str, str]]) -> dict[str, Any]:
    return corpus_scores(translator.translate_batch([s for s, _ in pairs]), [t for _, t in pairs])


def export_pretrained(
    out_dir: Path,
    model: Transformer,
    tokenizer: SubwordTokenizer,
    config: TrainConfig,
    progress: dict[str, Any],
    selection: str,
    candidate_val_bleu: dict[str, float],
    data_directory: Path,
    command: str,
    world_size: int,
) -> None:
    """Save fp16 weights, then score the saved folder itself so the card matches what users load."""
    languages = (config.source_language, config.target_language)
    val_pairs = load_pairs("val", *languages, data_directory)
    test_pairs = load_pairs(TEST_SPLIT, *languages, data_directory)
    fp32_val = scores_on(Translator(_as_pretrained(model, tokenizer)), val_pairs)
    save_pretrained(out_dir, model, tokenizer, card=None, dtype=torch.float16)
    train_pairs = load_pairs("train", *languages, data_directory)
    write_token_stats(out_dir, count_tokens(tokenizer, train_pairs, *languages), data_directory)
    shipped = Translator(load_pretrained(out_dir))
    fp16_val = scores_on(shipped, val_pairs)
    test = scores_on(shipped, test_pairs)
    direction = f"{config.source_language}-{config.target_language}"
    card = {
        "name": f"multi30k-{direction}",
        "source_language": config.source_language,
        "target_language": config.target_language,
        "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": command,
        "data": {
            "name": "Multi30k task 1 (Elliott et al., 2016)",
            "train_pairs": len(train_pairs),
            "val_pairs": len(val_pairs),
            "test_pairs": len(test_pairs),
            "sha256": split_checksums(languages, directory=data_directory),
        },
        "tokenizer": {
            "kind": "joint BPE (tokenizers)",
            "vocab_size": tokenizer.vocab_size,
            "trained_on": "train split",
        },
        "model": model.config.to_dict(),
        "parameters": model.parameter_count(),
        "training": config.to_dict(),
        "world_size": world_size,
        "hardware": hardware(),
        "wall_time_minutes": round(progress["elapsed_seconds"] / 60.0, 1),
        "epochs_run": progress["epoch"],
        "curve": progress["history"],
        "selection": {"chosen": selection, "val_bleu": candidate_val_bleu},
        "storage": {"dtype": "float16", "val_bleu_float32": fp32_val["bleu"], "val_bleu_float16": fp16_val["bleu"]},
        "test": {"split": TEST_SPLIT, "decoding": "greedy", **test},
        "files_sha256": {name: file_sha256(out_dir / name) for name in (WEIGHTS_FILE, CONFIG_FILE, TOKENIZER_FILE)},
    }
    write_card(out_dir, card)
    (out_dir / "README.md").write_text(model_card_text(card), encoding="utf-8")


def _as_pretrained(model: Transformer, tokenizer: SubwordTokenizer) -> Any:
    from model.data.checkpoint import Pretrained

    return Pretrained(path=Path("."), model=model, tokenizer=tokenizer, card={})


def model_card_text(card: dict[str, Any]) -> str:
    source = LANGUAGE_NAMES.get(card["source_language"], card["source_language"])
    target = LANGUAGE_NAMES.get(card["target_language"], card["target_language"])
    test = card["test"]
    m = card["model"]
    return f"""# {card["name"]}: {source} to {target}

A small encoder-decoder Transformer ({card["parameters"]:,} parameters: d_model {m["d_model"]}, {m["n_heads"]} heads,
{m["n_encoder_layers"]}+{m["n_decoder_layers"]} layers, d_ff {m["d_ff"]}, {m["norm_placement"]}-norm), written from
scratch for Attention Explorer and trained from random weights on Multi30k.

## Data
Multi30k task 1 (Elliott, Frank, Sima'an, Specia 2016, "Multi30K: Multilingual English-German Image
Descriptions"): {card["data"]["train_pairs"]:,} training pairs of image captions from Flickr30k. The validation
split chose the checkpoint; `{test["split"]}` was used only for the scores below. The dataset is distributed for
research and education; this model inherits that condition. SHA-256 of every file used is in `card.json`.

## Scores on {test["split"]} (greedy decoding, sacreBLEU)
| metric | value |
|---|---|
| BLEU, lowercased | {test["bleu_lowercase"]} |
| BLEU, cased | {test["bleu"]} |
| chrF2 | {test["chrf"]} |

Signatures: `{test["signatures"]["bleu"]}`; `{test["signatures"]["chrf"]}`.
Reproduce: `python -m model.evaluate --model pretrained/{card["name"]} --split {test["split"]}`.

## Training
`{card["command"]}`: {card["epochs_run"]} epochs in {card["wall_time_minutes"]} minutes on
{card["hardware"]["processor"]} ({card["world_size"]} process(es), {card["training"]["threads"]} torch thread(s)
each). Chosen checkpoint: {card["selection"]["chosen"]}.
Weights are stored in float16 (validation BLEU {card["storage"]["val_bleu_float32"]} in float32,
{card["storage"]["val_bleu_float16"]} as stored). The full per-epoch curve is in `card.json`.

## Intended use and limits
For teaching and for inspecting attention in the Attention Explorer app. It knows the vocabulary of short
image captions (people, animals, streets, sports) and translates other text poorly: long, abstract or technical
sentences, names and rare words come out wrong or as unknown tokens. It is not a production translator.
"""
