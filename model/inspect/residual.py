"""Plain numbers about the residual stream of a trace: norms, LayerNorm statistics, the ReLU's share, per sub-layer.

Pure functions of a `ResidualStream` (numpy in, numbers out), so the app shows them without doing model maths.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from model.inspect.trace import ResidualStream, _ToDict
from model.nn.names import sublayer_name


@dataclass(frozen=True)
class VectorStats(_ToDict):
    """One d-dimensional vector in brief: its L2 norm, and the mean and (population) variance of its entries,
    the two numbers LayerNorm computes over the d entries."""

    norm: float
    mean: float
    variance: float

    @classmethod
    def of(cls, vector: np.ndarray) -> VectorStats:
        values = np.asarray(vector, dtype=np.float64)
        return cls(norm=float(np.linalg.norm(values)), mean=float(values.mean()), variance=float(values.var()))


@dataclass(frozen=True)
class SublayerView(_ToDict):
    """One sub-layer of one layer at one position.

    name: 'decoder.1.cross_attn'; sublayer: 'cross_attn'. stream_in, addition, summed, normed: float32 [d], as in
    `ResidualStream`; norm_input: what the LayerNorm received (summed post-norm, stream_in pre-norm).
    *_stats: their norms, means and variances. standardised_variance: the variance of (x - mean) / sqrt(var + eps),
    LayerNorm's output before its gain and bias (its mean is 0), var / (var + eps).
    """

    name: str
    sublayer: str
    stream_in: np.ndarray
    addition: np.ndarray
    summed: np.ndarray
    normed: np.ndarray
    norm_input: np.ndarray
    stream_in_stats: VectorStats
    addition_stats: VectorStats
    summed_stats: VectorStats
    norm_input_stats: VectorStats
    normed_stats: VectorStats
    standardised_variance: float


def sublayer_views(stream: ResidualStream, layer: int, position: int, eps: float) -> list[SublayerView]:
    """Every sub-layer of one layer at one position, in order. eps: the model's layer_norm_eps."""
    views = []
    for k, sublayer in enumerate(stream.sublayers):
        norm_input = stream.norm_input[layer, k, position]
        input_stats = VectorStats.of(norm_input)
        views.append(
            SublayerView(
                name=sublayer_name(stream.side, layer, sublayer),
                sublayer=sublayer,
                stream_in=stream.stream_in[layer, k, position],
                addition=stream.addition[layer, k, position],
                summed=stream.summed[layer, k, position],
                normed=stream.normed[layer, k, position],
                norm_input=norm_input,
                stream_in_stats=VectorStats.of(stream.stream_in[layer, k, position]),
                addition_stats=VectorStats.of(stream.addition[layer, k, position]),
                summed_stats=VectorStats.of(stream.summed[layer, k, position]),
                norm_input_stats=input_stats,
                normed_stats=VectorStats.of(stream.normed[layer, k, position]),
                standardised_variance=input_stats.variance / (input_stats.variance + eps),
            )
        )
    return views


@dataclass(frozen=True)
class StackNorms(_ToDict):
    """Norms along a whole stack at one position, sub-layer after sub-layer (layer 0's first sub-layer first).

    names: ['encoder.0.self_attn', 'encoder.0.feed_forward', ...], L * K of them; stream_in, addition, stream_out:
    float64 [L * K], the L2 norms of the stream arriving, of what the sub-layer adds, and of the stream leaving.
    relu_off_share: float64 [L], the feed-forward ReLU's share of zeros in each layer at this position.
    """

    names: list[str]
    stream_in: np.ndarray
    addition: np.ndarray
    stream_out: np.ndarray
    relu_off_share: np.ndarray


def stack_norms(stream: ResidualStream, position: int) -> StackNorms:
    """The norms of the residual stream and of every addition through one stack at one position."""
    n_layers, n_sub = stream.stream_in.shape[:2]

    def norms(values: np.ndarray) -> np.ndarray:
        return np.linalg.norm(values[:, :, position].astype(np.float64), axis=-1).reshape(n_layers * n_sub)

    return StackNorms(
        names=[sublayer_name(stream.side, layer, sub) for layer in range(n_layers) for sub in stream.sublayers],
        stream_in=norms(stream.stream_in),
        addition=norms(stream.addition),
        stream_out=norms(stream.stream_out),
        relu_off_share=stream.relu_off_share[:, position].astype(np.float64),
    )
