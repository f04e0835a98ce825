"""Write a pretrained folder's training-split token statistics: `python -m model.stats --model DIR` (see
model.data.token_stats)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from model.cli import run_cli
from model.data.checkpoint import load_pretrained
from model.data.corpus import load_pairs
from model.data.token_stats import count_tokens, write_token_stats
from model.pipeline import InputError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m model.stats", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="pretrained folder (card.json names the languages)")
    parser.add_argument("--data-dir", type=Path, help="Multi30k folder (default: $ATTN_DATA_DIR)")
    args = parser.parse_args(argv)
    pretrained = load_pretrained(args.model)
    source, target = pretrained.card.get("source_language"), pretrained.card.get("target_language")
    if not source or not target:
        raise InputError(f"{args.model}/card.json does not name the languages")
    stats = count_tokens(pretrained.tokenizer, load_pairs("train", source, target, args.data_dir), source, target)
    write_token_stats(args.model, stats, args.data_dir)
    print(json.dumps({"model": str(args.model), "sentences": stats.sentences, "p99": stats.source_length_p99}))
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
