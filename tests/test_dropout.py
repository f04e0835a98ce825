"""The cheap-mask dropout behaves like inverted dropout."""

from __future__ import annotations

import pytest
import torch

from model.dropout import dropout, dropout_in_training, keep_mask


@pytest.mark.parametrize("p", [0.1, 0.3, 0.5])
def test_keep_mask_keeps_one_minus_p_of_the_elements(p: float) -> None:
    torch.manual_seed(0)
    mask = keep_mask(torch.Size([400, 1000]), p, torch.device("cpu"))
    assert mask.dtype == torch.bool and mask.shape == (400, 1000)
    assert abs(mask.float().mean().item() - (1 - p)) < 0.003
    # neighbours (which share one 64-bit draw) are independent: their joint keep rate is the product
    pairs = (mask[:, 0::2] & mask[:, 1::2]).float().mean().item()
    assert abs(pairs - (1 - p) ** 2) < 0.004


def test_dropout_zeroes_or_scales_and_preserves_the_mean() -> None:
    torch.manual_seed(1)
    x = torch.randn(300, 777) + 2.0
    y = dropout(x, 0.25)
    kept = y != 0
    assert torch.allclose(y[kept], x[kept] / 0.75)
    assert abs(y.mean().item() - x.mean().item()) < 0.02


def test_dropout_gradient_follows_the_mask() -> None:
    torch.manual_seed(2)
    x = torch.randn(50, 64, requires_grad=True)
    y = dropout(x, 0.5)
    y.sum().backward()
    expected = (y != 0).float() / 0.5
    assert torch.equal(x.grad, expected)


def test_edge_probabilities_and_evaluation_mode() -> None:
    x = torch.randn(5, 7)
    assert dropout(x, 0.0) is x
    assert torch.count_nonzero(dropout(x, 1.0)) == 0
    assert dropout_in_training(x, 0.5, training=False) is x
    torch.manual_seed(3)
    odd = dropout(torch.ones(3, 5, 7), 0.2)  # element count not a multiple of four
    assert odd.shape == (3, 5, 7)
