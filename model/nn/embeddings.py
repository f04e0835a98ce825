"""Token embeddings scaled by sqrt(d_model) and the sinusoidal positional-encoding table."""

from __future__ import annotations

import math

import torch
from torch import nn


def sinusoidal_table(max_len: int, d_model: int) -> torch.Tensor:
    """The paper's positional encodings, float32 [max_len, d_model].

    PE(pos, 2i) = sin(pos / 10000^(2i / d_model)) and PE(pos, 2i + 1) = cos(pos / 10000^(2i / d_model)).
    Computed in float64 and rounded once, so every entry is the formula to float32 precision.
    """
    positions = torch.arange(max_len, dtype=torch.float64).unsqueeze(1)  # [P, 1]
    even_dims = torch.arange(0, d_model, 2, dtype=torch.float64)  # [ceil(d/2)], the values 2i
    angles = positions / torch.pow(10000.0, even_dims / d_model)  # [P, ceil(d/2)]
    table = torch.zeros(max_len, d_model, dtype=torch.float64)
    table[:, 0::2] = torch.sin(angles)
    table[:, 1::2] = torch.cos(angles[:, : d_model // 2])
    return table.to(torch.float32)


class TokenEmbedding(nn.Module):
    """One embedding matrix E [V, d] shared by source, target and the output projection.

    Looking a token up returns E[id] * sqrt(d_model); the output projection uses E itself.
    """

    def __init__(self, vocab_size: int, d_model: int, pad_id: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(vocab_size, d_model))
        self.scale = math.sqrt(d_model)
        self.pad_id = pad_id
        nn.init.normal_(self.weight, mean=0.0, std=d_model**-0.5)
        with torch.no_grad():
            self.weight[pad_id].zero_()

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """ids [B, T] -> scaled embeddings [B, T, d]."""
        return nn.functional.embedding(ids, self.weight) * self.scale

    def project(self, hidden: torch.Tensor) -> torch.Tensor:
        """hidden [B, T, d] -> logits [B, T, V] through the tied matrix E^T."""
        return nn.functional.linear(hidden, self.weight)


class PositionalEncoding(nn.Module):
    """Holds the sinusoidal table as a non-persistent buffer [max_len, d] (never saved in checkpoints)."""

    def __init__(self, max_len: int, d_model: int) -> None:
        super().__init__()
        self.register_buffer("table", sinusoidal_table(max_len, d_model), persistent=False)
        self.table: torch.Tensor

    def forward(self, length: int, offset: int = 0) -> torch.Tensor:
        """Rows for positions offset .. offset + length - 1: [length, d]."""
        if offset + length > self.table.size(0):
            raise ValueError(
                f"sequence reaches position {offset + length - 1}, but the model's max_len is {self.table.size(0)}"
            )
        return self.table[offset : offset + length]
