"""Translate with a pretrained model: `python -m model.translate --model DIR "A dog runs on the beach."`.

`--input-file F` translates F line by line; `--json` prints the full trace of one sentence as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from model.cli import run_cli
from model.data.checkpoint import load_pretrained
from model.data.corpus import REPO_ROOT
from model.pipeline import InputError, Translator

DEFAULT_MODEL = REPO_ROOT / "pretrained" / "multi30k-en-de"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m model.translate", description=__doc__.splitlines()[0])
    parser.add_argument("text", nargs="?", help="the sentence to translate")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="pretrained folder")
    parser.add_argument("--input-file", type=Path, help="translate this file line by line")
    parser.add_argument("--json", action="store_true", help="print the full trace of the sentence as JSON")
    parser.add_argument("--top-k", type=int, default=5, help="candidates kept per decoding step (with --json)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest for one sentence)")
    args = parser.parse_args(argv)
    if (args.text is None) == (args.input_file is None):
        parser.error("give a sentence or --input-file, not both")
    if args.json and args.input_file is not None:
        parser.error("--json traces one sentence; it cannot be combined with --input-file")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(max(args.threads, 1))
    translator = Translator(load_pretrained(args.model))
    if args.input_file is not None:
        lines = args.input_file.read_text(encoding="utf-8").splitlines()
        if not any(line.strip() for line in lines):
            raise InputError(f"{args.input_file} has no text to translate")
        for translation in translator.translate_batch(lines):
            print(translation)
        return 0
    if args.json:
        print(json.dumps(translator.trace(args.text, top_k=args.top_k).to_dict(), ensure_ascii=False))
    else:
        print(translator.translate(args.text))
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
