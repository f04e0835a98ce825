"""The training CLI: it learns (a tiny run overfits 64 pairs), resumes, and trains data-parallel under torchrun."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from model.data.corpus import load_pairs
from model.data.tokenizer import SubwordTokenizer
from model.decode import greedy_decode_batch
from model.nn.config import ModelConfig
from model.nn.transformer import Transformer
from model.train.config import TrainConfig
from model.train.loop import lr_at

pytestmark = pytest.mark.data
REPO = Path(__file__).resolve().parents[1]
TINY = {
    "model": {
        "d_model": 64,
        "n_heads": 4,
        "n_encoder_layers": 1,
        "n_decoder_layers": 1,
        "d_ff": 128,
        "dropout": 0.0,
        "attention_dropout": 0.0,
        "max_len": 128,
    },
    "vocab_size": 500,
    "batch_tokens": 4000,
    "peak_lr": 0.003,
    "warmup_steps": 10,
    "label_smoothing": 0.0,
    "average_last": 1,
    "max_train_pairs": 64,
    "max_val_pairs": 8,
    "threads": 1,
    "bf16": "off",
}


def run_training(tmp_path: Path, overrides: dict, launcher: list[str] | None = None, extra: list[str] = ()) -> Path:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({**TINY, **overrides}), encoding="utf-8")
    run_dir = tmp_path / "run"
    command = [
        *(launcher or [sys.executable, "-m"]),
        "model.train",
        "--config",
        str(config),
        "--run-dir",
        str(run_dir),
        *extra,
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return run_dir


def load_run_model(run_dir: Path, weights: str = "final.safetensors") -> Transformer:
    model = Transformer(ModelConfig.load(run_dir / "config.json"))
    model.load_state_dict(load_file(str(run_dir / weights)))
    return model.eval()


def test_schedule_warms_up_then_decays() -> None:
    config = TrainConfig(peak_lr=1e-3, warmup_steps=100)
    assert lr_at(1, config, 1000) == pytest.approx(1e-5)
    assert lr_at(100, config, 1000) == pytest.approx(1e-3)
    assert lr_at(400, config, 1000) == pytest.approx(5e-4)


def test_cosine_schedule_reaches_its_floor_at_the_last_step() -> None:
    config = TrainConfig(peak_lr=1e-3, warmup_steps=100, schedule="cosine", min_lr_ratio=0.01)
    assert lr_at(50, config, 1100) == pytest.approx(5e-4)
    assert lr_at(100, config, 1100) == pytest.approx(1e-3)
    assert lr_at(600, config, 1100) == pytest.approx(5e-4)
    assert lr_at(1100, config, 1100) == pytest.approx(1e-5)
    assert lr_at(5000, config, 1100) == pytest.approx(1e-5)
    steps = [lr_at(s, config, 1100) for s in range(100, 1101)]
    assert all(a >= b for a, b in itertools.pairwise(steps))
    with pytest.raises(ValueError, match="schedule"):
        TrainConfig(schedule="linear")


def test_tiny_run_overfits_64_pairs(tmp_path: Path) -> None:
    run_dir = run_training(tmp_path, {"epochs": 150, "bleu_from_epoch": 150})
    model = load_run_model(run_dir)
    tokenizer = SubwordTokenizer.load(run_dir / "tokenizer.json")
    pairs = load_pairs("train", "en", "de")[:64]
    encoded = [tokenizer.encode(s) for s, _ in pairs]
    batch = torch.zeros(len(encoded), max(map(len, encoded)), dtype=torch.long)
    for row, ids in enumerate(encoded):
        batch[row, : len(ids)] = torch.tensor(ids)
    outputs = tokenizer.decode_batch(greedy_decode_batch(model, batch, max_new_tokens=120))
    exact = sum(out == target for out, (_, target) in zip(outputs, pairs, strict=True))
    assert exact == 64, [(o, t) for o, (_, t) in zip(outputs, pairs, strict=True) if o != t][:3]
    history = json.loads((run_dir / "last" / "progress.json").read_text())["progress"]["history"]
    assert history[-1]["train_loss"] < 0.1 * history[0]["train_loss"]


def test_resume_continues_where_it_stopped(tmp_path: Path) -> None:
    first = run_training(tmp_path, {"epochs": 2})
    saved = tmp_path / "after_two"
    shutil.copytree(first, saved)
    run_training(tmp_path, {"epochs": 3})
    progress = json.loads((first / "last" / "progress.json").read_text())["progress"]
    assert [record["epoch"] for record in progress["history"]] == [1, 2, 3]
    assert progress["step"] == 3 * json.loads((saved / "last" / "progress.json").read_text())["progress"]["step"] / 2


def test_torchrun_two_processes_end_with_identical_weights(tmp_path: Path) -> None:
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m"]
    run_dir = run_training(tmp_path, {"epochs": 2, "max_train_pairs": 200}, launcher, ["--dump-rank-weights"])
    rank0, rank1 = load_file(str(run_dir / "rank_0.safetensors")), load_file(str(run_dir / "rank_1.safetensors"))
    assert rank0.keys() == rank1.keys()
    assert all(torch.equal(rank0[name], rank1[name]) for name in rank0)
    initial = Transformer(ModelConfig.load(run_dir / "config.json")).state_dict()
    assert not torch.equal(initial["embedding.weight"], rank0["embedding.weight"])  # it did train
