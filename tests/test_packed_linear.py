"""The oneDNN-packed output projection: same numbers as F.linear, repacked when the weight changes, and never in
the way of autograd."""

from __future__ import annotations

import copy

import torch
from torch.nn import functional as F

from model.packed_linear import PackedWeight


def _weight() -> torch.Tensor:
    return torch.nn.Parameter(torch.randn(300, 32, generator=torch.Generator().manual_seed(0)))


def test_packed_product_equals_f_linear_at_inference() -> None:
    weight, packed = _weight(), PackedWeight()
    x = torch.randn(2, 5, 32)
    with torch.inference_mode():
        out = packed.linear(x, weight)
        assert out.shape == (2, 5, 300)
        torch.testing.assert_close(out, F.linear(x, weight), rtol=1e-5, atol=1e-5)


def test_a_changed_weight_is_packed_again() -> None:
    weight, packed = _weight(), PackedWeight()
    x = torch.randn(3, 32)
    with torch.no_grad():
        before = packed.linear(x, weight)
        weight.mul_(2.0)
        after = packed.linear(x, weight)
    torch.testing.assert_close(after, 2.0 * before, rtol=1e-5, atol=1e-5)


def test_gradients_flow_when_training() -> None:
    weight, packed = _weight(), PackedWeight()
    x = torch.randn(4, 32, requires_grad=True)
    packed.linear(x, weight).square().sum().backward()
    assert weight.grad is not None and x.grad is not None
    torch.testing.assert_close(x.grad, (2 * F.linear(x, weight)) @ weight, rtol=1e-4, atol=1e-4)


def test_copies_and_inference_tensors_work() -> None:
    weight, packed = _weight(), PackedWeight()
    x = torch.randn(1, 32)
    with torch.inference_mode():
        packed.linear(x, weight)
        twin = copy.deepcopy(packed)
        torch.testing.assert_close(twin.linear(x, weight), F.linear(x, weight), rtol=1e-5, atol=1e-5)
        made_here = torch.randn(300, 32)  # an inference tensor: no version counter, so never packed
        torch.testing.assert_close(packed.linear(x, made_here), F.linear(x, made_here), rtol=0, atol=0)
