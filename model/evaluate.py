"""Score a pretrained model: `python -m model.evaluate --model DIR --split test_2016_flickr` prints one JSON object.

Translates with batched greedy decoding and scores with sacreBLEU 2.x: cased BLEU, lowercased BLEU (13a) and chrF2.
`--zero-heads SITE:HEAD,...` switches heads off for every sentence; the JSON names them under "zero_heads".
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from model.cli import HEADS_FORMAT, OneLineParser, read_input_lines, run_cli, zero_heads_option
from model.data.checkpoint import Pretrained, load_pretrained
from model.data.corpus import SPLITS, load_pairs, normalize
from model.inspect.interventions import Interventions
from model.pipeline import BatchInputError, InputError, Translator
from model.train.scoring import corpus_scores


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = OneLineParser(prog="python -m model.evaluate", description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="pretrained folder")
    parser.add_argument("--split", choices=SPLITS, help="a Multi30k split in the model's direction")
    parser.add_argument("--src", type=Path, help="source sentences, one per line (instead of --split)")
    parser.add_argument("--ref", type=Path, help="reference translations, line-aligned with --src")
    parser.add_argument("--data-dir", type=Path, help="Multi30k folder (default: $ATTN_DATA_DIR or ../shared/data)")
    parser.add_argument("--output", type=Path, help="also write the translations here, one per line")
    parser.add_argument("--zero-heads", metavar="SITE:HEAD[,...]", help=f"switch these heads off: {HEADS_FORMAT}")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args(argv)
    if (args.split is None) == (args.src is None):
        parser.error("give either --split or --src with --ref")
    if args.src is not None and args.ref is None:
        parser.error("--src needs --ref")
    return args


def read_references(path: Path) -> list[str]:
    """Normalized reference lines; InputError naming the first line that is not UTF-8."""
    lines = read_input_lines(path)
    for number, line in enumerate(lines, start=1):
        try:
            line.encode("utf-8")
        except UnicodeEncodeError:
            raise InputError(f"{path}: line {number} is not valid UTF-8") from None
    return [normalize(line) for line in lines]


def sources_and_references(args: argparse.Namespace, pretrained: Pretrained) -> tuple[list[str], list[str], str]:
    """(sources, references, what they are called in messages) from --split or from --src and --ref."""
    if args.split is not None:
        card = pretrained.card
        source_language, target_language = card.get("source_language"), card.get("target_language")
        if not source_language or not target_language:
            raise InputError(f"{args.model}/card.json does not name the languages; use --src and --ref")
        pairs = load_pairs(args.split, source_language, target_language, args.data_dir)
        return [s for s, _ in pairs], [t for _, t in pairs], f"{args.split}.{source_language}"
    sources, references = read_input_lines(args.src), read_references(args.ref)
    if len(sources) != len(references):
        raise InputError(f"{args.src} has {len(sources)} lines but {args.ref} has {len(references)}")
    return sources, references, str(args.src)


def translate_all(
    translator: Translator, sources: list[str], where: str, interventions: Interventions | None
) -> list[str]:
    """Every source translated; a line the model cannot take stops the run with a message naming its number."""
    try:
        return translator.translate_batch(sources, interventions=interventions)
    except BatchInputError as error:
        raise InputError(f"{where}: {error}") from None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    pretrained = load_pretrained(args.model)
    interventions = zero_heads_option(args.zero_heads, pretrained.config)
    sources, references, where = sources_and_references(args, pretrained)
    if not any(normalize(source) for source in sources):
        raise InputError("nothing to evaluate: the source is empty")
    start = time.perf_counter()
    hypotheses = translate_all(Translator(pretrained), sources, where, interventions)
    seconds = time.perf_counter() - start
    if args.output is not None:
        args.output.write_text("\n".join(hypotheses) + "\n", encoding="utf-8")
    zeroed = sorted(interventions.zero_heads) if interventions is not None else []
    result = {"model": str(args.model), "split": args.split or str(args.src), "zero_heads": [str(h) for h in zeroed]}
    result.update(corpus_scores(hypotheses, references))
    result.update(sentences=len(sources), seconds=round(seconds, 2))
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
