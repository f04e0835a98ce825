"""Train a translation model on Multi30k: `python -m model.train --config configs/en-de.json --out DIR`.

Runs on one process, or data-parallel under `torchrun --nproc_per_node=N -m model.train ...` (gloo on CPU,
nccl on GPU). Progress goes to a tqdm bar; each epoch ends with validation loss and BLEU; the best weights and
the last ones are kept in the run folder, from which a run can resume.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from safetensors.torch import load_file, save_file
from torch.nn import functional as F
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from model.data.checkpoint import Pretrained
from model.data.corpus import data_dir, load_pairs
from model.data.tokenizer import SubwordTokenizer
from model.nn.config import ModelConfig
from model.nn.transformer import Transformer
from model.pipeline import Translator
from model.train.batching import EncodedPair, collate, token_buckets
from model.train.config import TrainConfig
from model.train.export import export_pretrained
from model.train.scoring import corpus_scores
from model.train.state import load_state, save_state

MAX_TRAIN_TOKENS = 128


def lr_at(step: int, config: TrainConfig, total_steps: int) -> float:
    """Linear warm-up to peak_lr over warmup_steps, then the configured decay (step counts from 1).

    "inverse_sqrt": peak_lr * sqrt(warmup_steps / step), never below min_lr_ratio * peak_lr.
    "cosine": half a cosine from peak_lr at the end of warm-up to min_lr_ratio * peak_lr at total_steps.
    """
    step = max(step, 1)
    if step <= config.warmup_steps:
        return config.peak_lr * step / config.warmup_steps
    if config.schedule == "inverse_sqrt":
        factor = math.sqrt(config.warmup_steps / step)
    else:
        done = min(1.0, (step - config.warmup_steps) / max(total_steps - config.warmup_steps, 1))
        factor = 0.5 * (1.0 + math.cos(math.pi * done))
    return config.peak_lr * max(factor, config.min_lr_ratio)


def cpu_has_native_bf16() -> bool:
    """True on CPUs with bf16 matrix instructions; elsewhere bf16 is emulated and several times slower."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def wants_bf16(setting: str, device: torch.device) -> bool:
    if setting != "auto":
        return setting == "on"
    return device.type == "cuda" or cpu_has_native_bf16()


class Distributed:
    """Rank and world size; a single process when not launched by torchrun."""

    def __init__(self, device: torch.device) -> None:
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        if self.world > 1:
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()

    def any(self, flag: bool) -> bool:
        """True on every rank when the flag is set on any rank."""
        if self.world == 1:
            return flag
        value = torch.tensor([1.0 if flag else 0.0])
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return bool(value.item() > 0)

    def close(self) -> None:
        if self.world > 1:
            dist.destroy_process_group()


def encode_pairs(tokenizer: SubwordTokenizer, pairs: list[tuple[str, str]]) -> list[EncodedPair]:
    sources = tokenizer.encode_batch([s for s, _ in pairs])
    targets = tokenizer.encode_batch([t for _, t in pairs])
    return [
        (s, t)
        for s, t in zip(sources, targets, strict=True)
        if len(s) <= MAX_TRAIN_TOKENS and len(t) <= MAX_TRAIN_TOKENS
    ]


@torch.inference_mode()
def validation_loss(model: Transformer, encoded: list[EncodedPair], batch_tokens: int, use_bf16: bool) -> float:
    """Mean cross-entropy per target token (no label smoothing) over the validation pairs."""
    model.eval()
    pad = model.config.pad_id
    device = next(model.parameters()).device
    total, count = 0.0, 0
    for batch in token_buckets([(len(s), len(t)) for s, t in encoded], batch_tokens * 2, seed=0, shuffle=False):
        source, decoder_input, labels = collate([encoded[i] for i in batch], pad)
        labels = labels.to(device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
            logits = model(source.to(device), decoder_input.to(device))
        total += float(
            F.cross_entropy(logits.float().flatten(0, 1), labels.flatten(), ignore_index=pad, reduction="sum")
        )
        count += int((labels != pad).sum())
    return total / max(count, 1)


def translation_scores(model: Transformer, tokenizer: SubwordTokenizer, pairs: list[tuple[str, str]]) -> dict[str, Any]:
    translator = Translator(Pretrained(path=Path("."), model=model, tokenizer=tokenizer, card={}))
    hypotheses = translator.translate_batch([s for s, _ in pairs])
    return corpus_scores(hypotheses, [t for _, t in pairs])


def average_weights(paths: list[Path]) -> dict[str, torch.Tensor]:
    """Element-wise mean of several saved state dicts (float32)."""
    total: dict[str, torch.Tensor] = {}
    for path in paths:
        for name, tensor in load_file(str(path)).items():
            total[name] = total.get(name, 0) + tensor.float()
    return {name: tensor / len(paths) for name, tensor in total.items()}


def build_tokenizer(
    config: TrainConfig, run_dir: Path, train_pairs: list[tuple[str, str]], ddp: Distributed
) -> SubwordTokenizer:
    path = run_dir / "tokenizer.json"
    if ddp.is_main and not path.exists():
        texts = [side for pair in train_pairs for side in pair]
        SubwordTokenizer.train(texts, vocab_size=config.vocab_size).save(path)
    ddp.barrier()
    return SubwordTokenizer.load(path)


def train(
    config: TrainConfig,
    run_dir: Path,
    out_dir: Path | None,
    data_directory: Path,
    command: str,
    dump_rank_weights: bool = False,
) -> None:
    if config.threads:
        torch.set_num_threads(config.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    ddp = Distributed(device)
    torch.manual_seed(config.seed + ddp.rank)
    run_dir.mkdir(parents=True, exist_ok=True)
    if ddp.is_main:
        (run_dir / "train_config.json").write_text(json.dumps(config.to_dict(), indent=2), encoding="utf-8")
    languages = (config.source_language, config.target_language)
    train_pairs = load_pairs("train", *languages, data_directory)
    val_pairs = load_pairs("val", *languages, data_directory)
    if config.max_train_pairs:
        train_pairs = train_pairs[: config.max_train_pairs]
    if config.max_val_pairs:
        val_pairs = val_pairs[: config.max_val_pairs]
    tokenizer = build_tokenizer(config, run_dir, train_pairs, ddp)
    model_config = ModelConfig(**{**config.model, "vocab_size": tokenizer.vocab_size})
    torch.manual_seed(config.seed)  # identical initial weights on every rank
    model = Transformer(model_config).to(device)
    if ddp.is_main:
        model_config.save(run_dir / "config.json")
    torch.manual_seed(config.seed + 1000 * (ddp.rank + 1))  # different dropout masks per rank
    train_encoded = encode_pairs(tokenizer, train_pairs)
    val_encoded = encode_pairs(tokenizer, val_pairs)
    decay = [p for n, p in model.named_parameters() if p.dim() > 1]
    no_decay = [p for n, p in model.named_parameters() if p.dim() <= 1]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=config.peak_lr,
        betas=config.adam_betas,
        eps=config.adam_eps,
    )
    progress: dict[str, Any] = {"epoch": 0, "step": 0, "elapsed_seconds": 0.0, "history": [], "best_bleu": -1.0}
    last_dir = run_dir / "last"
    if (last_dir / "progress.json").exists():
        progress = load_state(last_dir, model, optimizer)
        torch.manual_seed(config.seed + 1000 * (ddp.rank + 1) + progress["step"])
        if ddp.is_main:
            print(f"resumed from {last_dir}: epoch {progress['epoch']}, step {progress['step']}", flush=True)
    trainable = DistributedDataParallel(model) if ddp.world > 1 else model
    use_bf16 = wants_bf16(config.bf16, device)
    autocast_device = device.type
    lengths = [(len(s), len(t)) for s, t in train_encoded]
    # batch sizes depend only on the sorted lengths, so every epoch has the same number of steps
    total_steps = config.epochs * (len(token_buckets(lengths, config.batch_tokens, seed=config.seed)) // ddp.world)
    budget_seconds = config.max_minutes * 60.0
    session_start = time.perf_counter() - progress["elapsed_seconds"]
    epochs_dir = run_dir / "epochs"
    epochs_dir.mkdir(exist_ok=True)
    pad = model_config.pad_id
    out_of_time = False
    for epoch in range(progress["epoch"] + 1, config.epochs + 1):
        batches = token_buckets(lengths, config.batch_tokens, seed=config.seed + epoch)
        batches = batches[: len(batches) // ddp.world * ddp.world][ddp.rank :: ddp.world]
        model.train()
        epoch_start = time.perf_counter()
        loss_sum, token_count, batches_done = 0.0, 0, 0
        bar = tqdm(
            batches,
            desc=f"epoch {epoch}/{config.epochs}",
            disable=not ddp.is_main,
            dynamic_ncols=True,
            mininterval=1.0 if sys.stderr.isatty() else 30.0,
            file=sys.stderr,
        )
        for batch in bar:
            if ddp.any(time.perf_counter() - session_start > budget_seconds):
                out_of_time = True
                break
            progress["step"] += 1
            for group in optimizer.param_groups:
                group["lr"] = lr_at(progress["step"], config, total_steps)
            source, decoder_input, labels = collate([train_encoded[i] for i in batch], pad)
            source, decoder_input, labels = source.to(device), decoder_input.to(device), labels.to(device)
            with torch.autocast(autocast_device, dtype=torch.bfloat16, enabled=use_bf16):
                logits = trainable(source, decoder_input)
            loss = F.cross_entropy(
                logits.float().flatten(0, 1), labels.flatten(), ignore_index=pad, label_smoothing=config.label_smoothing
            )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.clip_norm)
            optimizer.step()
            tokens = int((labels != pad).sum())
            loss_sum += float(loss.detach()) * tokens
            token_count += tokens
            batches_done += 1
            seconds = time.perf_counter() - epoch_start
            bar.set_postfix(
                loss=f"{loss_sum / token_count:.3f}",
                tok_s=f"{token_count * ddp.world / seconds:,.0f}",
                lr=f"{lr_at(progress['step'], config, total_steps):.2e}",
                refresh=False,
            )
        bar.close()
        if batches_done == 0:
            break
        train_seconds = time.perf_counter() - epoch_start
        if ddp.is_main:
            record: dict[str, Any] = {
                "epoch": epoch,
                "step": progress["step"],
                "train_loss": round(loss_sum / max(token_count, 1), 4),
                "tokens_per_second": round(token_count * ddp.world / train_seconds),
                "train_seconds": round(train_seconds, 1),
                "partial": out_of_time,
            }
            record["val_loss"] = round(validation_loss(model, val_encoded, config.batch_tokens, use_bf16), 4)
            weights_path = epochs_dir / f"epoch_{epoch:03d}.safetensors"
            save_file({k: v.detach().float().contiguous() for k, v in model.state_dict().items()}, str(weights_path))
            for old in sorted(epochs_dir.glob("epoch_*.safetensors"))[: -max(config.average_last, 1)]:
                old.unlink()
            if epoch >= config.bleu_from_epoch:
                record["val_bleu"] = translation_scores(model, tokenizer, val_pairs)["bleu"]
                if record["val_bleu"] > progress["best_bleu"]:
                    progress["best_bleu"] = record["val_bleu"]
                    progress["best_epoch"] = epoch
                    save_file(load_file(str(weights_path)), str(run_dir / "best.safetensors"))
            record["elapsed_minutes"] = round((time.perf_counter() - session_start) / 60.0, 2)
            progress["history"].append(record)
            progress["epoch"] = epoch
            progress["elapsed_seconds"] = time.perf_counter() - session_start
            save_state(last_dir, model, optimizer, progress)
            print(" ".join(f"{k}={v}" for k, v in record.items()), flush=True)
        ddp.barrier()
        if out_of_time:
            break
    if dump_rank_weights:
        save_file(
            {k: v.detach().float().contiguous() for k, v in model.state_dict().items()},
            str(run_dir / f"rank_{ddp.rank}.safetensors"),
        )
    if ddp.is_main:
        progress = json.loads((last_dir / "progress.json").read_text())["progress"]
        finish(config, run_dir, out_dir, model, tokenizer, val_pairs, progress, data_directory, command, ddp.world)
    ddp.barrier()
    ddp.close()


def finish(
    config: TrainConfig,
    run_dir: Path,
    out_dir: Path | None,
    model: Transformer,
    tokenizer: SubwordTokenizer,
    val_pairs: list[tuple[str, str]],
    progress: dict[str, Any],
    data_directory: Path,
    command: str,
    world: int,
) -> None:
    """Choose on validation BLEU between the best epoch and averages of the last 2..N epochs, then export."""
    model.eval()
    candidates: dict[str, tuple[dict[str, torch.Tensor], float]] = {}
    if (run_dir / "best.safetensors").exists():
        candidates["best_epoch"] = (load_file(str(run_dir / "best.safetensors")), progress.get("best_bleu", -1.0))
    recent = sorted((run_dir / "epochs").glob("epoch_*.safetensors"))[-config.average_last :]
    if config.average_last < 2:
        recent = []
    for window in range(2, len(recent) + 1):
        averaged = average_weights(recent[-window:])
        model.load_state_dict(averaged)
        candidates[f"average_last_{window}"] = (averaged, translation_scores(model, tokenizer, val_pairs)["bleu"])
    if not candidates:
        candidates["last"] = ({k: v.clone() for k, v in model.state_dict().items()}, -1.0)
    choice = max(candidates, key=lambda name: candidates[name][1])
    model.load_state_dict(candidates[choice][0])
    print(
        "selection on val BLEU: " + ", ".join(f"{k}={v[1]}" for k, v in candidates.items()) + f" -> {choice}",
        flush=True,
    )
    save_file({k: v.contiguous() for k, v in candidates[choice][0].items()}, str(run_dir / "final.safetensors"))
    if out_dir is not None:
        export_pretrained(
            out_dir,
            model,
            tokenizer,
            config,
            progress,
            choice,
            {k: v[1] for k, v in candidates.items()},
            data_directory,
            command,
            world,
        )
        print(f"wrote {out_dir}", flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m model.train", description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, help="JSON file of TrainConfig fields")
    parser.add_argument("--run-dir", type=Path, required=True, help="folder for checkpoints; resumes if it has one")
    parser.add_argument("--out", type=Path, help="pretrained folder to write at the end")
    parser.add_argument(
        "--data-dir", type=Path, help="Multi30k folder (default: $ATTN_DATA_DIR or ../shared/data/multi30k)"
    )
    parser.add_argument("--source-language")
    parser.add_argument("--target-language")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--max-minutes", type=float)
    parser.add_argument("--batch-tokens", type=int)
    parser.add_argument("--peak-lr", type=float)
    parser.add_argument("--warmup-steps", type=int)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--average-last", type=int)
    parser.add_argument("--max-train-pairs", type=int)
    parser.add_argument("--max-val-pairs", type=int)
    parser.add_argument("--threads", type=int)
    parser.add_argument("--dump-rank-weights", action="store_true", help="each process saves its final weights (tests)")
    parser.add_argument("--bf16", choices=("auto", "on", "off"), help="bf16 autocast (auto: where native)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        config = TrainConfig.load(args.config) if args.config else TrainConfig()
        config = config.with_overrides(
            source_language=args.source_language,
            target_language=args.target_language,
            epochs=args.epochs,
            max_minutes=args.max_minutes,
            batch_tokens=args.batch_tokens,
            peak_lr=args.peak_lr,
            warmup_steps=args.warmup_steps,
            seed=args.seed,
            average_last=args.average_last,
            max_train_pairs=args.max_train_pairs,
            max_val_pairs=args.max_val_pairs,
            threads=args.threads,
            bf16=args.bf16,
        )
        directory = data_dir(args.data_dir)
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    train(
        config,
        args.run_dir,
        args.out,
        directory,
        "python -m model.train " + " ".join(sys.argv[1:]),
        args.dump_rank_weights,
    )
    return 0
