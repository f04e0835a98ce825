"""Translate with a pretrained model: `python -m model.translate --model DIR "A dog runs on the beach."`.

`--input-file F` translates F line by line, one output line per input line (an empty line for an empty one);
`--json` prints the full trace of one sentence as JSON (with the zeroed heads); `--zero-heads SITE:HEAD,...`
switches heads off.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from model.cli import HEADS_FORMAT, OneLineParser, read_input_lines, run_cli, zero_heads_option
from model.data.checkpoint import load_pretrained
from model.data.corpus import REPO_ROOT, language_name
from model.data.familiarity import familiarity, warnings
from model.data.token_stats import read_token_stats
from model.inspect.interventions import Interventions
from model.inspect.trace_json import trace_json
from model.pipeline import InputError, Translator, describe_problems

DEFAULT_MODEL = REPO_ROOT / "pretrained" / "multi30k-en-de"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = OneLineParser(prog="python -m model.translate", description=__doc__.splitlines()[0])
    parser.add_argument("text", nargs="?", help="the sentence to translate")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="pretrained folder")
    parser.add_argument("--input-file", type=Path, help="translate this file line by line")
    parser.add_argument(
        "--keep-going",
        action="store_true",
        help="with --input-file: write an empty line for each line that cannot be translated, name those lines "
        "on stderr and exit 0 (without it such a line stops the run with exit code 2)",
    )
    parser.add_argument("--json", action="store_true", help="print the full trace of the sentence as JSON")
    parser.add_argument("--top-k", type=int, default=5, help="candidates kept per decoding step (with --json)")
    parser.add_argument(
        "--indent", type=int, metavar="N", help="with --json: indent nested fields by N spaces (default: one line)"
    )
    parser.add_argument("--zero-heads", metavar="SITE:HEAD[,...]", help=f"switch these heads off: {HEADS_FORMAT}")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest for one sentence)")
    args = parser.parse_args(argv)
    if (args.text is None) == (args.input_file is None):
        parser.error("give a sentence or --input-file, not both")
    if args.json and args.input_file is not None:
        parser.error("--json traces one sentence; it cannot be combined with --input-file")
    if args.indent is not None and not args.json:
        parser.error("--indent goes with --json")
    if args.indent is not None and not 0 <= args.indent <= 8:
        parser.error("--indent takes 0 to 8 spaces")
    if args.keep_going and args.input_file is None:
        parser.error("--keep-going goes with --input-file")
    return args


def translate_file(translator: Translator, path: Path, keep_going: bool, interventions: Interventions | None) -> int:
    """Print one translation per line of the file, in order; lines it cannot take stop the run unless keep_going,
    when they are printed as empty lines and named on stderr."""
    lines = read_input_lines(path)
    if not any(line.strip() for line in lines):
        raise InputError(f"{path} has no text to translate")
    problems = translator.input_problems(lines)
    if problems and not keep_going:
        raise InputError(f"{path}: {describe_problems(problems)}; nothing was translated (see --keep-going)")
    texts = ["" if index in problems else line for index, line in enumerate(lines)]
    for translation in translator.translate_batch(texts, interventions=interventions):
        print(translation)
    if problems:
        print(f"warning: {path}: {describe_problems(problems)}; written as empty lines", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(max(args.threads, 1))
    translator = Translator(load_pretrained(args.model))
    interventions = zero_heads_option(args.zero_heads, translator.model.config)
    if args.input_file is not None:
        return translate_file(translator, args.input_file, args.keep_going, interventions)
    if args.json:
        trace = translator.trace(args.text, top_k=args.top_k, interventions=interventions)
        zeroed = interventions.zero_heads if interventions is not None else ()
        print(trace_json(trace, zeroed, indent=args.indent))
    else:
        print(translator.translate(args.text, interventions=interventions))
    for note in familiarity_notes(translator, args.model, args.text):
        print(f"note: {note}", file=sys.stderr)
    return 0


def familiarity_notes(translator: Translator, folder: Path, text: str) -> list[str]:
    """Why the translation may not be trusted (too long, unknown pieces, wrong language), from the folder's
    training statistics; none when the folder has no token_stats.json."""
    stats = read_token_stats(folder)
    if stats is None:
        return []
    config = translator.model.config
    specials = (config.pad_id, config.unk_id, config.bos_id, config.eos_id)
    found = familiarity(stats, translator.source_ids(text), specials, config.unk_id)
    return warnings(found, language_name(stats.source_language), language_name(stats.target_language))


if __name__ == "__main__":
    sys.exit(run_cli(main))
