"""Training hyper-parameters: one frozen dataclass read from a JSON file, with command-line overrides."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run needs besides the data; saved in the run folder and the model card."""

    source_language: str = "en"
    target_language: str = "de"
    model: dict[str, Any] = field(default_factory=dict)  # ModelConfig fields other than vocab_size
    vocab_size: int = 8000
    epochs: int = 40
    max_minutes: float = 90.0
    batch_tokens: int = 3000
    peak_lr: float = 1e-3
    warmup_steps: int = 800
    min_lr_ratio: float = 0.0
    schedule: str = "inverse_sqrt"  # after warm-up: "inverse_sqrt", or "cosine" to min_lr_ratio at the last epoch
    adam_betas: tuple[float, float] = (0.9, 0.98)
    adam_eps: float = 1e-9
    weight_decay: float = 1e-4
    label_smoothing: float = 0.1
    clip_norm: float = 1.0
    bf16: str = "auto"  # "auto": bf16 autocast on GPUs and on CPUs with native bf16 (avx512_bf16/amx); "on"; "off"
    seed: int = 1234
    average_last: int = 5
    bleu_from_epoch: int = 1
    max_train_pairs: int = 0  # 0 = the whole split; small numbers for tests
    max_val_pairs: int = 0
    threads: int = 0  # 0 = torch's default

    def __post_init__(self) -> None:
        if self.source_language == self.target_language:
            raise ValueError("source and target language must differ")
        for name in ("vocab_size", "epochs", "batch_tokens", "warmup_steps"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if not 0 <= self.label_smoothing < 1:
            raise ValueError("label_smoothing must be in [0, 1)")
        if self.schedule not in ("inverse_sqrt", "cosine"):
            raise ValueError(f"schedule must be 'inverse_sqrt' or 'cosine', got {self.schedule!r}")
        if self.bf16 not in ("auto", "on", "off"):
            raise ValueError(f"bf16 must be 'auto', 'on' or 'off', got {self.bf16!r}")
        if "vocab_size" in self.model:
            raise ValueError("set vocab_size at the top level, not under 'model'")
        object.__setattr__(self, "adam_betas", tuple(self.adam_betas))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown training options: {', '.join(unknown)}")
        return cls(**data)

    @classmethod
    def load(cls, path: str | Path) -> TrainConfig:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))

    def with_overrides(self, **overrides: Any) -> TrainConfig:
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})
