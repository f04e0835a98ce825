"""Pretrained folders: model.safetensors + config.json + tokenizer.json + card.json, written and read safely.

Nothing here unpickles: weights are safetensors, everything else JSON. Every file is read through `read_file`, so
a file the operating system will not hand over (permission denied, an I/O error) is a one-line ModelLoadError that
names it, never "corrupt".
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load, save_file

from model.data.tokenizer import SubwordTokenizer, TokenizerError, cannot_read
from model.nn.config import ModelConfig
from model.nn.transformer import Transformer

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
TOKENIZER_FILE = "tokenizer.json"
CARD_FILE = "card.json"


class ModelLoadError(ValueError):
    """A pretrained folder that cannot be used; the message is one line a user can act on."""


@dataclass(frozen=True)
class Pretrained:
    """A loaded model (eval mode, float32) with its tokenizer and card."""

    path: Path
    model: Transformer
    tokenizer: SubwordTokenizer
    card: dict[str, Any]

    @property
    def config(self) -> ModelConfig:
        return self.model.config


def state_for_saving(model: Transformer, dtype: torch.dtype = torch.float16) -> dict[str, torch.Tensor]:
    """The model's persistent tensors, contiguous, in the storage dtype (the tied embedding stored once)."""
    return {name: tensor.detach().to(dtype).contiguous() for name, tensor in model.state_dict().items()}


def save_weights(model: Transformer, path: str | Path, dtype: torch.dtype = torch.float16) -> None:
    save_file(state_for_saving(model, dtype), str(path), metadata={"format": "pt"})


def read_file(path: Path) -> bytes:
    """The bytes of one file of a pretrained folder; ModelLoadError '<path> cannot be read: <reason>' on OSError."""
    try:
        return path.read_bytes()
    except OSError as error:
        raise ModelLoadError(cannot_read(path, error)) from error


def load_weights(model: Transformer, path: str | Path) -> None:
    """Load safetensors weights into model (cast to its dtype); every key and shape must match."""
    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(f"weights file not found: {path}")
    data = read_file(path)
    try:
        tensors = load(data)
    except (SafetensorError, ValueError) as error:
        raise ModelLoadError(f"weights file {path} is corrupt or truncated ({str(error).splitlines()[0]})") from error
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise ModelLoadError(
            f"weights in {path} do not fit config.json: {len(missing)} missing tensors (e.g. {missing[:1]}), "
            f"{len(unexpected)} unexpected (e.g. {unexpected[:1]})"
        )
    for name, tensor in tensors.items():
        if tensor.shape != expected[name].shape:
            raise ModelLoadError(
                f"weights in {path} do not fit config.json: {name} has shape {tuple(tensor.shape)}, "
                f"expected {tuple(expected[name].shape)}"
            )
        if not torch.isfinite(tensor).all():
            raise ModelLoadError(f"weights in {path} are corrupt: {name} holds NaN or infinite values")
    model.load_state_dict({name: t.to(expected[name].dtype) for name, t in tensors.items()})


def save_pretrained(
    directory: str | Path,
    model: Transformer,
    tokenizer: SubwordTokenizer,
    card: dict[str, Any] | None = None,
    dtype: torch.dtype = torch.float16,
) -> Path:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    save_weights(model, directory / WEIGHTS_FILE, dtype)
    model.config.save(directory / CONFIG_FILE)
    tokenizer.save(directory / TOKENIZER_FILE)
    if card is not None:
        write_card(directory, card)
    return directory


def write_card(directory: str | Path, card: dict[str, Any]) -> None:
    (Path(directory) / CARD_FILE).write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def read_json(path: Path, what: str) -> dict[str, Any]:
    """A JSON object from one file; ModelLoadError naming the file when it cannot be read or is not one."""
    data = read_file(path)
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelLoadError(f"{path} ({what}) is not valid JSON: {str(error).splitlines()[0]}") from error
    if not isinstance(value, dict):
        raise ModelLoadError(f"{path} ({what}) must hold a JSON object")
    return value


def read_card(directory: str | Path) -> dict[str, Any]:
    path = Path(directory) / CARD_FILE
    if not path.is_file():
        return {}
    return read_json(path, "the model card")


def check_tokenizer_matches(config: ModelConfig, tokenizer: SubwordTokenizer, where: Path) -> None:
    if tokenizer.vocab_size != config.vocab_size:
        raise ModelLoadError(
            f"tokenizer in {where} has {tokenizer.vocab_size} entries but config.json says vocab_size "
            f"{config.vocab_size}: they do not belong together"
        )
    ours = (tokenizer.pad_id, tokenizer.unk_id, tokenizer.bos_id, tokenizer.eos_id)
    theirs = (config.pad_id, config.unk_id, config.bos_id, config.eos_id)
    if ours != theirs:
        raise ModelLoadError(f"special-token ids differ between tokenizer {ours} and config.json {theirs} in {where}")


def read_config(path: Path) -> ModelConfig:
    if not path.is_file():
        raise ModelLoadError(f"{path} is missing")
    data = read_json(path, "the model config")
    try:
        return ModelConfig.from_dict(data)
    except (ValueError, TypeError) as error:
        raise ModelLoadError(f"{path} is not a valid model config: {str(error).splitlines()[0]}") from error


def check_folder(directory: Path) -> None:
    """ModelLoadError unless directory is a folder whose entries may be listed."""
    if not directory.is_dir():
        raise ModelLoadError(f"model folder not found: {directory}")
    try:
        os.listdir(directory)
    except OSError as error:
        raise ModelLoadError(f"model folder {cannot_read(directory, error)}") from error


def load_pretrained(directory: str | Path, device: str | torch.device = "cpu") -> Pretrained:
    """Read and check a pretrained folder; raises ModelLoadError with a one-line reason when it is unusable.

    That includes a folder or file that cannot be read (permission denied, I/O errors): the message names it.
    """
    directory = Path(directory)
    try:
        return _load_pretrained(directory, device)
    except OSError as error:  # whatever the named reads did not catch, e.g. a stat refused on the way
        where = Path(error.filename) if isinstance(error.filename, str) else directory
        raise ModelLoadError(cannot_read(where, error)) from error


def _load_pretrained(directory: Path, device: str | torch.device) -> Pretrained:
    check_folder(directory)
    config = read_config(directory / CONFIG_FILE)
    try:
        tokenizer = SubwordTokenizer.load(directory / TOKENIZER_FILE)
    except TokenizerError as error:
        raise ModelLoadError(str(error)) from error
    check_tokenizer_matches(config, tokenizer, directory)
    model = Transformer(config)
    load_weights(model, directory / WEIGHTS_FILE)
    model.to(device).eval()
    return Pretrained(path=directory, model=model, tokenizer=tokenizer, card=read_card(directory))
