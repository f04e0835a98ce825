"""The one frozen configuration that alone rebuilds a model; saved as JSON beside every checkpoint."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Literal

NormPlacement = Literal["post", "pre"]


@dataclass(frozen=True)
class ModelConfig:
    """Hyper-parameters of the encoder-decoder Transformer.

    Defaults are the size of both shipped models: d_model 256, 8 heads (d_k = 32), 3 encoder and 3 decoder layers,
    d_ff 512, one joint vocabulary of 8,000 entries shared by source, target and output projection. Every model
    folder states its own size in its config.json.
    """

    vocab_size: int = 8000
    d_model: int = 256
    n_heads: int = 8
    n_encoder_layers: int = 3
    n_decoder_layers: int = 3
    d_ff: int = 512
    dropout: float = 0.1
    attention_dropout: float = 0.1
    max_len: int = 256
    norm_placement: NormPlacement = "post"
    layer_norm_eps: float = 1e-5
    pad_id: int = 0
    unk_id: int = 1
    bos_id: int = 2
    eos_id: int = 3

    def __post_init__(self) -> None:
        problems: list[str] = []
        for name in ("vocab_size", "d_model", "n_heads", "n_encoder_layers", "n_decoder_layers", "d_ff", "max_len"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                problems.append(f"{name} must be a positive integer, got {value!r}")
        if not problems and self.d_model % self.n_heads != 0:
            problems.append(f"d_model ({self.d_model}) must be divisible by n_heads ({self.n_heads})")
        for name in ("dropout", "attention_dropout"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
                problems.append(f"{name} must be in [0, 1), got {value!r}")
        if self.norm_placement not in ("post", "pre"):
            problems.append(f"norm_placement must be 'post' or 'pre', got {self.norm_placement!r}")
        special = {"pad_id": self.pad_id, "unk_id": self.unk_id, "bos_id": self.bos_id, "eos_id": self.eos_id}
        if len(set(special.values())) != len(special):
            problems.append(f"special-token ids must be distinct, got {special}")
        if not problems:
            for name, value in special.items():
                if not isinstance(value, int) or not 0 <= value < self.vocab_size:
                    problems.append(f"{name} must be an id in [0, {self.vocab_size}), got {value!r}")
        if problems:
            raise ValueError("invalid ModelConfig: " + "; ".join(problems))

    @property
    def d_k(self) -> int:
        """Per-head size of queries, keys and values: d_model / n_heads."""
        return self.d_model // self.n_heads

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown ModelConfig fields: {', '.join(unknown)}")
        return cls(**data)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> ModelConfig:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise ValueError(f"{path} is not valid JSON: {error}") from error
        if not isinstance(data, dict):
            raise ValueError(f"{path} must hold a JSON object")
        return cls.from_dict(data)
