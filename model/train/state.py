"""Resumable training state in safetensors + JSON (no pickle): weights, AdamW moments, RNG, progress."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

STATE_WEIGHTS = "weights.safetensors"
STATE_OPTIMIZER = "optimizer.safetensors"
STATE_PROGRESS = "progress.json"


def save_state(directory: Path, model: nn.Module, optimizer: torch.optim.Optimizer, progress: dict[str, Any]) -> None:
    """Write the three files atomically enough: into a temp folder, then renamed over the old one."""
    temporary = directory.with_name(directory.name + ".tmp")
    temporary.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().contiguous() for k, v in model.state_dict().items()}, str(temporary / STATE_WEIGHTS))
    optimizer_state = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {"rng.torch": torch.get_rng_state()}
    for index, slots in optimizer_state["state"].items():
        for slot, value in slots.items():
            tensors[f"state.{index}.{slot}"] = torch.as_tensor(value).detach().contiguous()
    save_file(tensors, str(temporary / STATE_OPTIMIZER))
    groups = [{k: v for k, v in group.items()} for group in optimizer_state["param_groups"]]
    (temporary / STATE_PROGRESS).write_text(
        json.dumps({"progress": progress, "param_groups": groups}, indent=1), encoding="utf-8"
    )
    if directory.exists():
        for child in directory.iterdir():
            child.unlink()
        directory.rmdir()
    temporary.rename(directory)


def load_state(directory: Path, model: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """Restore what save_state wrote; returns the progress dict."""
    model.load_state_dict(load_file(str(directory / STATE_WEIGHTS)))
    tensors = load_file(str(directory / STATE_OPTIMIZER))
    saved = json.loads((directory / STATE_PROGRESS).read_text(encoding="utf-8"))
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith("state."):
            _, index, slot = key.split(".", 2)
            state.setdefault(int(index), {})[slot] = value
    optimizer.load_state_dict({"state": state, "param_groups": saved["param_groups"]})
    torch.set_rng_state(tensors["rng.torch"])
    return saved["progress"]
