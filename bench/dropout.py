"""Dropout benchmark: one CPU training step with the model's `nn.Dropout` against a cheaper-mask dropout, side by side.

    python bench/dropout.py [--repeats N] [--threads N]

Prints one JSON object. The model uses torch's own dropout so that the files a student reads are plain PyTorch.
Earlier profiling found `bernoulli_` (one random float per element) costing about 15% of a CPU training step, so the
peer here draws one 64-bit integer per four elements and keeps an element when its 16 bits clear a threshold. Both
run the same shipping-size model on the same 3,000-token batch (forward, label-smoothed loss, backward), alternating
each round. Only the `nn.Dropout` modules (embeddings, residual branches, feed-forward) are swapped; dropout on the
attention weights is torch's in both, so `saving` is a lower bound of what the cheaper masks would save.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model.nn.config import ModelConfig
from model.nn.transformer import Transformer

_LEVELS = 1 << 16


class CheapMaskDropout(nn.Module):
    """Inverted dropout whose mask takes 16 random bits per element (p rounded to a multiple of 1/65536)."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p <= 0.0:
            return x
        count = x.numel()
        draws = torch.randint(-(2**63), 2**63 - 1, ((count + 3) // 4,), dtype=torch.int64, device=x.device)
        bits = draws.view(torch.int16)[:count].view(x.shape)
        keep = bits >= round(self.p * _LEVELS) - _LEVELS // 2
        return torch.where(keep, x * (1.0 / (1.0 - self.p)), 0.0)


def with_cheap_dropout(model: Transformer) -> Transformer:
    twin = copy.deepcopy(model)
    for module in twin.modules():
        for name, child in module.named_children():
            if isinstance(child, nn.Dropout):
                setattr(module, name, CheapMaskDropout(child.p))
    return twin


def training_step(model: Transformer, source: torch.Tensor, target: torch.Tensor) -> None:
    model.zero_grad(set_to_none=True)
    logits = model(source, target[:, :-1])
    loss = F.cross_entropy(logits.flatten(0, 1), target[:, 1:].flatten(), label_smoothing=0.1)
    loss.backward()


def main() -> dict[str, object]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = Transformer(ModelConfig(dropout=0.3, attention_dropout=0.1)).train()
    cheap = with_cheap_dropout(model).train()
    generator = torch.Generator().manual_seed(0)
    source = torch.randint(4, 8000, (120, 25), generator=generator)
    target = torch.randint(4, 8000, (120, 26), generator=generator)
    times: dict[str, list[float]] = {"torch": [], "cheap": []}
    for candidate in (model, cheap):
        training_step(candidate, source, target)  # warm-up
    for _ in range(args.repeats):
        for name, candidate in (("torch", model), ("cheap", cheap)):
            start = time.perf_counter()
            training_step(candidate, source, target)
            times[name].append((time.perf_counter() - start) * 1000.0)
    torch_ms, cheap_ms = statistics.median(times["torch"]), statistics.median(times["cheap"])
    return {
        "step_ms_median_torch_dropout": torch_ms,
        "step_ms_median_cheap_dropout": cheap_ms,
        "saving": 1.0 - cheap_ms / torch_ms,
        "batch": list(source.shape),
        "repeats": args.repeats,
        "threads": args.threads,
    }


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
