"""Decoding benchmark on a random model of shipping size; prints one JSON object to stdout.

    python bench/decode.py [--repeats N] [--quick] [--threads N] [--budget SECONDS] [--shipped DIR]

Measures (medians of time.perf_counter over repeated runs, after warm-up):
  trace_ms_median    trace_sentence of a 20-token source decoded to exactly 20 tokens, every attention and the
                     stages of every head kept, as the app asks for it (cached greedy decoding, then one recorded
                     teacher-forced pass).
  greedy_ms_median   the same sentence by cached greedy decoding, nothing recorded; trace_overhead = trace / greedy.
  importance_ms_median  every head's importance on that sentence (72 heads switched off one at a time, one batched
                     teacher-forced pass); importance_ratio = importance / trace.
  hf_ratio           our trace / Hugging Face MarianMTModel of the same dimensions (random weights) running
                     generate(..., output_attentions=True, return_dict_in_generate=True) for the same 20 tokens.
                     Needs `pip install -r requirements-bench.txt`; without transformers it is null.
  cache_speedup      greedy decoding of 40 tokens without the cache / with it (interleaved runs).
  torch_ratio        teacher-forced 64 x 20 batch: our Transformer.forward / torch.nn.Transformer doing the same work.
  threads            every number again under torch.set_num_threads(1) and (2).
  shipped            with --shipped pretrained/NAME: trace and greedy decoding per validation sentence.

The headline numbers use --threads (default 1: on a small shared machine a second OpenMP thread waits at every
barrier for a core another process holds, which makes one-token steps many times slower).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model.decode import greedy_decode, greedy_decode_uncached
from model.inspect.ablation import head_importance
from model.inspect.tracing import trace_sentence
from model.nn.config import ModelConfig
from model.nn.embeddings import sinusoidal_table
from model.nn.names import every_head
from model.nn.transformer import Transformer

SEED = 0
SOURCE_LEN = 20
TRACE_TOKENS = 20
GREEDY_TOKENS = 40
BATCH = 64
TARGETS = {"trace_overhead": 1.25, "importance_ratio": 5.0, "hf_ratio": 0.8, "cache_speedup": 2.0, "torch_ratio": 1.2}
AT_LEAST = {"cache_speedup"}


class TorchReference(nn.Module):
    """torch.nn.Transformer wrapped like ours: scaled embedding lookup, sinusoidal positions, tied output projection."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.embedding = nn.Parameter(torch.randn(config.vocab_size, config.d_model) * config.d_model**-0.5)
        self.register_buffer("table", sinusoidal_table(config.max_len, config.d_model), persistent=False)
        self.scale = math.sqrt(config.d_model)
        self.transformer = nn.Transformer(
            d_model=config.d_model,
            nhead=config.n_heads,
            num_encoder_layers=config.n_encoder_layers,
            num_decoder_layers=config.n_decoder_layers,
            dim_feedforward=config.d_ff,
            dropout=config.dropout,
            batch_first=True,
        )

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        return nn.functional.embedding(ids, self.embedding) * self.scale + self.table[: ids.size(1)]

    def forward(self, source_ids: torch.Tensor, target_ids: torch.Tensor) -> torch.Tensor:
        length = target_ids.size(1)
        causal = nn.Transformer.generate_square_subsequent_mask(length, device=target_ids.device)
        hidden = self.transformer(self.embed(source_ids), self.embed(target_ids), tgt_mask=causal, tgt_is_causal=True)
        return nn.functional.linear(hidden, self.embedding)


def timed_ms(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return (time.perf_counter() - start) * 1000.0, result


def interleaved_medians(
    fns: dict[str, Callable[[], Any]], repeats: int, warmup: int, budget_s: float
) -> dict[str, float]:
    """Run the functions side by side, one of each per round, so that load changes hit them alike.

    Up to `repeats` rounds; stops early (after at least 3) once `budget_s` seconds are spent, so that a loaded
    machine cannot make the run take forever. The number of rounds done is reported under "runs".
    """
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    start = time.perf_counter()
    for round_index in range(repeats):
        for name, fn in fns.items():
            times[name].append(timed_ms(fn)[0])
        if round_index >= 2 and time.perf_counter() - start > budget_s:
            break
    medians = {name: statistics.median(values) for name, values in times.items()}
    medians["runs"] = len(times[next(iter(fns))])
    return medians


def random_ids(generator: torch.Generator, shape: tuple[int, ...], vocab_size: int) -> torch.Tensor:
    """Ordinary token ids (no special tokens 0..3)."""
    return torch.randint(4, vocab_size, shape, generator=generator)


@dataclass(frozen=True)
class Timing:
    """How each measurement is repeated: timed runs (at most), untimed warm-up runs, seconds before stopping early."""

    repeats: int
    warmup: int
    budget_s: float


def marian_twin(config: ModelConfig) -> tuple[Any, str | None]:
    """Hugging Face MarianMTModel of our dimensions (random weights, ReLU, tied embeddings), or (None, why not)."""
    try:
        from transformers import MarianConfig, MarianMTModel
        from transformers.utils import logging as hf_logging
    except ImportError:
        return None, "transformers is not installed (pip install -r requirements-bench.txt)"
    hf_logging.set_verbosity_error()
    hf_config = MarianConfig(
        vocab_size=config.vocab_size,
        d_model=config.d_model,
        encoder_layers=config.n_encoder_layers,
        decoder_layers=config.n_decoder_layers,
        encoder_attention_heads=config.n_heads,
        decoder_attention_heads=config.n_heads,
        encoder_ffn_dim=config.d_ff,
        decoder_ffn_dim=config.d_ff,
        activation_function="relu",
        max_position_embeddings=config.max_len,
        pad_token_id=config.pad_id,
        bos_token_id=config.bos_id,
        eos_token_id=config.eos_id,
        decoder_start_token_id=config.bos_id,
        forced_eos_token_id=None,
        scale_embedding=True,
        tie_word_embeddings=True,
        share_encoder_decoder_embeddings=True,
    )
    torch.manual_seed(SEED)
    model = MarianMTModel(hf_config).eval()
    model.set_attn_implementation("eager")  # the attention implementation that can return the weights
    return model, None


def bench_trace(model: Transformer, marian: Any, source: list[int], timing: Timing) -> dict[str, Any]:
    """The trace as the app asks for it, cached greedy decoding alone, and Marian's generate with attentions."""
    heads = every_head(model.config)
    source_ids = torch.tensor([source])

    def trace() -> None:
        result = trace_sentence(model, source, max_new_tokens=TRACE_TOKENS, stage_heads=heads)
        assert len(result.output_ids) == TRACE_TOKENS and result.stop_reason == "max_length", result.output_ids

    def greedy() -> None:
        assert len(greedy_decode(model, source_ids, TRACE_TOKENS).output_ids) == TRACE_TOKENS

    def hf() -> None:
        with torch.inference_mode():
            out = marian.generate(
                source_ids,
                max_new_tokens=TRACE_TOKENS,
                min_new_tokens=TRACE_TOKENS,
                num_beams=1,
                do_sample=False,
                output_attentions=True,
                return_dict_in_generate=True,
            )
        assert len(out.cross_attentions) == TRACE_TOKENS

    output_ids = greedy_decode(model, source_ids, TRACE_TOKENS).output_ids

    def importance() -> None:
        assert len(head_importance(model, source, output_ids)) == len(heads)

    fns = {"trace": trace, "greedy": greedy, "importance": importance}
    if marian is not None:
        fns["hf"] = hf
    medians = interleaved_medians(fns, timing.repeats, timing.warmup, timing.budget_s)
    return {
        "trace_ms_median": medians["trace"],
        "greedy_ms_median": medians["greedy"],
        "trace_overhead": medians["trace"] / medians["greedy"],
        "importance_ms_median": medians["importance"],
        "importance_ratio": medians["importance"] / medians["trace"],
        "hf_ms_median": medians.get("hf"),
        "hf_ratio": medians["trace"] / medians["hf"] if "hf" in medians else None,
        "trace_runs": medians["runs"],
    }


def bench_shipped(folder: Path, sentences: int, timing: Timing) -> dict[str, Any]:
    """The trace and plain cached greedy decoding on a shipped model's validation sentences (all of both per round)."""
    from model.data.checkpoint import load_pretrained
    from model.data.corpus import read_lines, split_path
    from model.pipeline import Translator

    translator = Translator(load_pretrained(folder))
    model = translator.model
    heads = every_head(model.config)
    source_language = json.loads((folder / "card.json").read_text(encoding="utf-8"))["source_language"]
    lines = read_lines(split_path("val", source_language))[:sentences]
    sources = [translator.source_ids(line) for line in lines]

    def trace_all() -> None:
        for ids in sources:
            trace_sentence(model, ids, stage_heads=heads)

    def greedy_all() -> None:
        for ids in sources:
            greedy_decode(model, torch.tensor([ids]))

    medians = interleaved_medians(
        {"trace": trace_all, "greedy": greedy_all}, max(3, timing.repeats // 5), 1, timing.budget_s
    )
    return {
        "model": folder.name,
        "sentences": len(sources),
        "mean_source_tokens": statistics.mean(len(ids) for ids in sources),
        "trace_ms_per_sentence_median": medians["trace"] / len(sources),
        "greedy_ms_per_sentence_median": medians["greedy"] / len(sources),
        "trace_overhead": medians["trace"] / medians["greedy"],
        "runs": medians["runs"],
    }


def bench_cache(model: Transformer, source: torch.Tensor, timing: Timing) -> dict[str, float]:
    cached_ids = greedy_decode(model, source, GREEDY_TOKENS).output_ids
    assert len(cached_ids) == GREEDY_TOKENS and cached_ids == greedy_decode_uncached(model, source, GREEDY_TOKENS)
    medians = interleaved_medians(
        {
            "cached": lambda: greedy_decode(model, source, GREEDY_TOKENS),
            "uncached": lambda: greedy_decode_uncached(model, source, GREEDY_TOKENS),
        },
        timing.repeats,
        timing.warmup,
        timing.budget_s,
    )
    return {
        "cached_ms_median": medians["cached"],
        "uncached_ms_median": medians["uncached"],
        "cache_speedup": medians["uncached"] / medians["cached"],
        "cache_runs": medians["runs"],
    }


def bench_forward(
    model: Transformer, reference: TorchReference, source: torch.Tensor, target: torch.Tensor, timing: Timing
) -> dict[str, float]:
    with torch.inference_mode():
        assert model(source, target).shape == reference(source, target).shape
        medians = interleaved_medians(
            {"ours": lambda: model(source, target), "torch": lambda: reference(source, target)},
            timing.repeats,
            timing.warmup,
            timing.budget_s,
        )
    return {
        "ours_forward_ms_median": medians["ours"],
        "torch_forward_ms_median": medians["torch"],
        "torch_ratio": medians["ours"] / medians["torch"],
        "forward_runs": medians["runs"],
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeats", type=int, default=None, help="timed runs per measurement (default 25, quick 5)")
    parser.add_argument("--quick", action="store_true", help="few repeats, one warm-up, small time budget")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for the headline numbers (default 1)")
    parser.add_argument("--budget", type=float, default=None, help="seconds per measurement before stopping early")
    parser.add_argument(
        "--shipped", type=Path, default=None, help="also trace validation sentences with this pretrained/ folder"
    )
    parser.add_argument("--sentences", type=int, default=50, help="validation sentences for --shipped (default 50)")
    args = parser.parse_args(argv)
    repeats = args.repeats if args.repeats is not None else (5 if args.quick else 25)
    budget = args.budget if args.budget is not None else (5.0 if args.quick else 30.0)
    timing = Timing(repeats=repeats, warmup=1 if args.quick else 3, budget_s=budget)
    sweep_timing = Timing(repeats=repeats, warmup=1, budget_s=budget / 2)

    config = ModelConfig()
    torch.manual_seed(SEED)
    model = Transformer(config).eval()
    reference = TorchReference(config).eval()
    generator = torch.Generator().manual_seed(SEED)
    source = random_ids(generator, (1, SOURCE_LEN), config.vocab_size)
    batch_source = random_ids(generator, (BATCH, SOURCE_LEN), config.vocab_size)
    bos = torch.full((BATCH, 1), config.bos_id)
    batch_target = torch.cat((bos, random_ids(generator, (BATCH, SOURCE_LEN - 1), config.vocab_size)), dim=1)
    marian, marian_missing = marian_twin(config)
    load_before = os.getloadavg()[0]

    torch.set_num_threads(args.threads)
    result: dict[str, Any] = {
        **bench_trace(model, marian, source[0].tolist(), timing),
        **bench_cache(model, source, timing),
        **bench_forward(model, reference, batch_source, batch_target, timing),
    }
    if args.shipped is not None:
        result["shipped"] = bench_shipped(args.shipped, args.sentences, timing)
    threads: dict[str, dict[str, float]] = {}
    for count in (1, 2):
        torch.set_num_threads(count)
        threads[str(count)] = {
            **bench_trace(model, marian, source[0].tolist(), sweep_timing),
            **bench_cache(model, source, sweep_timing),
            **bench_forward(model, reference, batch_source, batch_target, sweep_timing),
        }
    result.update(
        threads=threads,
        torch_threads=args.threads,
        torch_version=torch.__version__,
        cpu_count=os.cpu_count(),
        load_average_1min={"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)},
        repeats=timing.repeats,
        warmup=timing.warmup,
        budget_s=timing.budget_s,
        hf_missing=marian_missing,
        targets={name: {"target": bound, "met": _meets(name, result[name], bound)} for name, bound in TARGETS.items()},
    )
    return result


def _meets(name: str, value: float | None, bound: float) -> bool | None:
    if value is None:
        return None
    return value >= bound if name in AT_LEAST else value <= bound


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
