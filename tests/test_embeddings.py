"""Positional table against the formula computed independently, scaled token embeddings, the tied projection."""

from __future__ import annotations

import math
import random

import pytest
import torch

from model.nn.embeddings import PositionalEncoding, TokenEmbedding, sinusoidal_table
from model.nn.transformer import Transformer


def _formula(pos: int, dim: int, d_model: int) -> float:
    """PE(pos, 2i) = sin(pos / 10000^(2i/d)), PE(pos, 2i+1) = cos(pos / 10000^(2i/d)), with python math."""
    two_i = dim - dim % 2
    angle = pos / 10000 ** (two_i / d_model)
    return math.sin(angle) if dim % 2 == 0 else math.cos(angle)


@pytest.mark.parametrize("d_model", [32, 256, 7])
def test_positional_table_equals_formula(d_model: int) -> None:
    max_len = 300
    table = sinusoidal_table(max_len, d_model)
    assert table.shape == (max_len, d_model) and table.dtype == torch.float32
    rng = random.Random(d_model)
    samples = [(rng.randrange(max_len), rng.randrange(d_model)) for _ in range(200)]
    samples += [(0, 0), (0, 1), (max_len - 1, d_model - 1), (max_len - 1, d_model - 2), (1, 0), (1, 1)]
    for pos, dim in samples:
        assert float(table[pos, dim]) == pytest.approx(_formula(pos, dim, d_model), abs=1e-6), (pos, dim)


def test_positional_module_slices_rows_and_checks_max_len() -> None:
    module = PositionalEncoding(max_len=10, d_model=8)
    assert torch.equal(module(3, offset=4), sinusoidal_table(10, 8)[4:7])
    assert module(10).shape == (10, 8)
    with pytest.raises(ValueError, match="max_len"):
        module(3, offset=8)
    assert "table" not in module.state_dict()


def test_token_embedding_is_scaled_by_sqrt_d_model() -> None:
    torch.manual_seed(0)
    embedding = TokenEmbedding(vocab_size=20, d_model=16, pad_id=0)
    ids = torch.tensor([[3, 7, 0, 19]])
    out = embedding(ids)
    assert torch.allclose(out, embedding.weight[ids] * 4.0, atol=1e-6, rtol=0)
    assert torch.all(out[0, 2] == 0)  # the pad row starts at zero


def test_model_embed_adds_positions(tiny_model: Transformer) -> None:
    ids = torch.tensor([[5, 6, 7]])
    parts = tiny_model.embed(ids, offset=2)
    scale = math.sqrt(tiny_model.config.d_model)
    torch.testing.assert_close(parts.token, tiny_model.embedding.weight[ids] * scale, atol=1e-6, rtol=0)
    assert torch.equal(parts.positional, tiny_model.positions.table[2:5])
    assert torch.equal(parts.summed, parts.token + parts.positional)


def test_output_projection_is_tied_to_the_embedding(tiny_model: Transformer) -> None:
    vocab, d_model = tiny_model.config.vocab_size, tiny_model.config.d_model
    matrices = [name for name, p in tiny_model.named_parameters() if p.shape == (vocab, d_model)]
    assert matrices == ["embedding.weight"]
    hidden = torch.randn(1, 3, d_model, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(tiny_model.embedding.project(hidden), hidden @ tiny_model.embedding.weight.T)
        source, target = torch.tensor([[5, 6, 7]]), torch.tensor([[2, 5]])
        before = tiny_model(source, target)
        tiny_model.embedding.weight[9].mul_(3.0)
        after = tiny_model(source, target)
    changed = (before != after).any(dim=(0, 1))
    assert changed[9] and changed.sum() == 1  # token 9 is in no input: only its logit column moves
