"""Survey every head of a model over a split: `python -m model.heads --model DIR --split val` writes DIR/heads.json.

For each head: its measures averaged over the split's sentences and the label they give (model.inspect.head_measures),
its importance as the drop in corpus BLEU and in the mean reference log-probability when it alone is switched off,
and a pruning curve: BLEU as heads are switched off one at a time, least important first, down to one head per kind.
Never run it on the test split for choosing anything; it reads the split it is given.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from model.data.checkpoint import WEIGHTS_FILE, load_pretrained
from model.data.corpus import SPLITS, file_sha256, load_pairs, split_checksums
from model.data.token_stats import read_token_stats
from model.inspect.ablation import summed_logprobs
from model.inspect.head_measures import HeadMeasures, label_head, mean_measures, measure_trace_heads
from model.inspect.interventions import Interventions
from model.nn.names import ATTENTION_KINDS, HeadRef, every_head
from model.pipeline import InputError, Translator
from model.train.scoring import corpus_scores

HEADS_FILE = "heads.json"
Progress = Callable[[str], None]


def split_measures(translator: Translator, sources: Sequence[str], stats_dir: Path) -> dict[HeadRef, HeadMeasures]:
    """Each head's measures on the model's own translation of every sentence, averaged over the sentences."""
    stats = read_token_stats(stats_dir)
    if stats is None:
        raise InputError(f"{stats_dir} has no readable token_stats.json; run python -m model.stats first")
    config = translator.model.config
    special = {config.pad_id, config.unk_id, config.bos_id, config.eos_id}
    collected: dict[HeadRef, list[HeadMeasures]] = {}
    for text in sources:
        trace = translator.trace(text)
        heads = measure_trace_heads(trace, special, config.eos_id, stats.source_counts, stats.target_counts)
        for ref, measures in heads.items():
            collected.setdefault(ref, []).append(measures)
    return {ref: mean_measures(values) for ref, values in collected.items()}


def reference_logprob_drops(
    translator: Translator, pairs: Sequence[tuple[str, str]], interventions: Interventions | None = None
) -> tuple[float, dict[HeadRef, float]]:
    """Mean log-probability per reference token (teacher-forced on the reference), and its drop with each head
    alone switched off on top of `interventions`."""
    model = translator.model
    heads = every_head(model.config)
    rows: list[HeadRef | None] = [None, *heads]
    totals = np.zeros(len(rows))
    tokens = 0
    for source_text, reference in pairs:
        source_ids = translator.source_ids(source_text)
        output_ids = translator.tokenizer.encode(reference)[1:]  # the reference after <s>, </s> included
        totals += summed_logprobs(model, source_ids, output_ids, rows, interventions)
        tokens += len(output_ids)
    means = totals / max(tokens, 1)
    return float(means[0]), {ref: float(means[0] - means[i + 1]) for i, ref in enumerate(heads)}


def bleu_with(translator: Translator, pairs: Sequence[tuple[str, str]], off: frozenset[HeadRef]) -> float:
    interventions = Interventions(zero_heads=off) if off else None
    hypotheses = translator.translate_batch([s for s, _ in pairs], interventions=interventions)
    return float(corpus_scores(hypotheses, [t for _, t in pairs])["bleu"])


def pruning_curve(
    translator: Translator,
    pairs: Sequence[tuple[str, str]],
    first_importance: dict[HeadRef, float],
    reestimate_every: int,
    reestimate_sentences: int,
    bleu_every: int,
    progress: Progress,
) -> list[dict[str, Any]]:
    """Switch heads off one at a time, least important (log-probability drop) first, keeping one head per kind.
    Importance is re-estimated every `reestimate_every` removals on the first `reestimate_sentences` sentences with
    the heads already off; BLEU is measured every `bleu_every` removals and at the end."""
    heads = every_head(translator.model.config)
    total = len(heads)
    removed: list[HeadRef] = []
    importance = dict(first_importance)
    points = [{"removed": 0, "fraction": 0.0, "bleu": bleu_with(translator, pairs, frozenset())}]
    while True:
        remaining = [ref for ref in heads if ref not in removed]
        per_kind = {kind: sum(ref.kind == kind for ref in remaining) for kind in ATTENTION_KINDS}
        candidates = [ref for ref in remaining if per_kind[ref.kind] > 1]
        if not candidates:
            break
        if removed and len(removed) % reestimate_every == 0:
            off = Interventions(zero_heads=frozenset(removed))
            _, importance = reference_logprob_drops(translator, pairs[:reestimate_sentences], off)
        removed.append(min(candidates, key=lambda ref: (importance[ref], ref)))
        done = len(removed) == total - len(ATTENTION_KINDS)
        if len(removed) % bleu_every == 0 or done:
            bleu = bleu_with(translator, pairs, frozenset(removed))
            points.append({"removed": len(removed), "fraction": len(removed) / total, "bleu": bleu})
            progress(f"pruning: {len(removed)} heads off, BLEU {bleu:.2f}")
    order = [str(ref) for ref in removed]
    for point in points:
        point["heads_off"] = order[: point["removed"]]
    return points


def survey(args: argparse.Namespace, progress: Progress) -> dict[str, Any]:
    start = time.perf_counter()
    pretrained = load_pretrained(args.model)
    translator = Translator(pretrained)
    card = pretrained.card
    languages = (card.get("source_language"), card.get("target_language"))
    if not all(languages):
        raise InputError(f"{args.model}/card.json does not name the languages")
    pairs = load_pairs(args.split, languages[0], languages[1], args.data_dir)
    if args.max_sentences:
        pairs = pairs[: args.max_sentences]
    progress(f"{len(pairs)} sentences: measures")
    measures = split_measures(translator, [s for s, _ in pairs], args.model)
    progress("log-probability importance")
    full_logprob, logprob_drop = reference_logprob_drops(translator, pairs)
    progress("BLEU importance")
    full_bleu = bleu_with(translator, pairs, frozenset())
    bleu_drop = {}
    for ref in every_head(translator.model.config):
        bleu_drop[ref] = full_bleu - bleu_with(translator, pairs, frozenset({ref}))
        progress(f"{ref}: BLEU drop {bleu_drop[ref]:+.2f}")
    curve = pruning_curve(
        translator, pairs, logprob_drop, args.reestimate_every, args.reestimate_sentences, args.bleu_every, progress
    )
    heads = []
    for ref in every_head(translator.model.config):
        label = label_head(measures[ref])
        heads.append(
            {
                "site": ref.site,
                "head": ref.head,
                "kind": ref.kind,
                "layer": ref.layer,
                "label": label.label,
                "rule": label.rule,
                "bleu_drop": round(bleu_drop[ref], 3),
                "logprob_drop": round(logprob_drop[ref], 5),
                "measures": measures[ref].to_dict(),
            }
        )
    return {
        "model": args.model.name,
        "split": args.split,
        "sentences": len(pairs),
        "command": "python -m model.heads " + " ".join(sys.argv[1:] if args.argv is None else args.argv),
        "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "seconds": round(time.perf_counter() - start, 1),
        "threads": torch.get_num_threads(),
        "data_sha256": split_checksums(tuple(languages), (args.split,), args.data_dir),
        "model_sha256": file_sha256(args.model / WEIGHTS_FILE),
        "bleu": full_bleu,
        "mean_logprob": full_logprob,
        "importance_note": "bleu_drop: corpus BLEU of the full model minus BLEU with this head alone off; "
        "logprob_drop: the mean reference log-probability per token, full minus without the head",
        "pruning": {
            "order": "least important first by log-probability drop, keeping at least one head per kind",
            "reestimate_every": args.reestimate_every,
            "reestimate_sentences": args.reestimate_sentences,
            "points": curve,
        },
        "heads": heads,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m model.heads", description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="pretrained folder; heads.json is written there")
    parser.add_argument("--split", choices=SPLITS, default="val")
    parser.add_argument("--data-dir", type=Path, help="Multi30k folder (default: $ATTN_DATA_DIR)")
    parser.add_argument("--max-sentences", type=int, default=0, help="only the first N sentences (0: all)")
    parser.add_argument("--reestimate-every", type=int, default=6, help="pruning: re-estimate importance every N")
    parser.add_argument("--reestimate-sentences", type=int, default=200, help="pruning: sentences to re-estimate on")
    parser.add_argument("--bleu-every", type=int, default=3, help="pruning: measure BLEU every N heads removed")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--out", type=Path, help="where to write (default: MODEL/heads.json)")
    args = parser.parse_args(argv)
    args.argv = argv
    if args.threads:
        torch.set_num_threads(args.threads)

    def progress(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    report = survey(args, progress)
    out = args.out or args.model / HEADS_FILE
    out.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    print(json.dumps({"wrote": str(out), "seconds": report["seconds"], "bleu": report["bleu"]}))
    return 0


if __name__ == "__main__":
    from model.cli import run_cli

    sys.exit(run_cli(main))
