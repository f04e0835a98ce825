"""x W^T through oneDNN with W packed once, for inference on the CPU: the 8,000-row output projection runs 1.4-2.7x
faster than through torch's default float32 matrix product here (bench/decode.py shows the effect end to end).

Training, autograd, other devices and other dtypes use F.linear unchanged. Both compute the same float32 product;
they may round the last bits differently (different blocking of the sums).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn import functional as F

_available = torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")


@dataclass
class _Packed:
    source_version: int
    source_pointer: int
    weight: torch.Tensor


class PackedWeight:
    """Holds one weight's oneDNN layout, made on first use and remade whenever the weight has changed."""

    def __init__(self) -> None:
        self._packed: _Packed | None = None

    def __getstate__(self) -> dict[str, object]:
        return {}  # copies and pickles pack their own weight again on first use

    def __setstate__(self, state: dict[str, object]) -> None:
        self._packed = None

    def _get(self, weight: torch.Tensor) -> torch.Tensor:
        packed = self._packed
        if packed is not None and (packed.source_version, packed.source_pointer) == (
            weight._version,
            weight.data_ptr(),
        ):
            return packed.weight
        # Two sessions packing at once both get a correct layout; the last one is kept.
        with torch.inference_mode():
            layout = torch.ops.mkldnn._reorder_linear_weight(weight.detach(), None)
        self._packed = _Packed(weight._version, weight.data_ptr(), layout)
        return layout

    def linear(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """x [..., K] @ weight [N, K]^T -> [..., N]; oneDNN when nothing needs gradients, else F.linear."""
        no_autograd = torch.is_inference_mode_enabled() or not torch.is_grad_enabled()
        usable = _available and no_autograd and x.device.type == "cpu" and x.dtype == weight.dtype == torch.float32
        # A weight made under inference_mode has no version counter to say when it changed: never packed.
        if not usable or weight.is_inference():
            return F.linear(x, weight)
        flat = x.reshape(-1, x.size(-1))
        out = torch.ops.mkldnn._linear_pointwise(flat, self._get(weight), None, "none", [], "")
        return out.view(*x.shape[:-1], weight.size(0))
