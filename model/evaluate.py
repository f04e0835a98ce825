"""Score a pretrained model: `python -m model.evaluate --model DIR --split test_2016_flickr` prints one JSON object.

Translates with batched greedy decoding and scores with sacreBLEU 2.x: cased BLEU, lowercased BLEU (13a) and chrF2.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from model.cli import run_cli
from model.data.checkpoint import load_pretrained
from model.data.corpus import SPLITS, load_pairs, read_lines
from model.pipeline import InputError, Translator
from model.train.scoring import corpus_scores


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m model.evaluate", description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="pretrained folder")
    parser.add_argument("--split", choices=SPLITS, help="a Multi30k split in the model's direction")
    parser.add_argument("--src", type=Path, help="source sentences, one per line (instead of --split)")
    parser.add_argument("--ref", type=Path, help="reference translations, line-aligned with --src")
    parser.add_argument("--data-dir", type=Path, help="Multi30k folder (default: $ATTN_DATA_DIR or ../shared/data)")
    parser.add_argument("--output", type=Path, help="also write the translations here, one per line")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args(argv)
    if (args.split is None) == (args.src is None):
        parser.error("give either --split or --src with --ref")
    if args.src is not None and args.ref is None:
        parser.error("--src needs --ref")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    pretrained = load_pretrained(args.model)
    card = pretrained.card
    if args.split is not None:
        source_language, target_language = card.get("source_language"), card.get("target_language")
        if not source_language or not target_language:
            raise InputError(f"{args.model}/card.json does not name the languages; use --src and --ref")
        pairs = load_pairs(args.split, source_language, target_language, args.data_dir)
        sources, references = [s for s, _ in pairs], [t for _, t in pairs]
    else:
        sources, references = read_lines(args.src), read_lines(args.ref)
        if len(sources) != len(references):
            raise InputError(f"{args.src} has {len(sources)} lines but {args.ref} has {len(references)}")
    if not any(sources):
        raise InputError("nothing to evaluate: the source is empty")
    start = time.perf_counter()
    hypotheses = Translator(pretrained).translate_batch(sources)
    seconds = time.perf_counter() - start
    if args.output is not None:
        args.output.write_text("\n".join(hypotheses) + "\n", encoding="utf-8")
    result = {"model": str(args.model), "split": args.split or str(args.src), **corpus_scores(hypotheses, references)}
    result.update(sentences=len(sources), seconds=round(seconds, 2))
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
