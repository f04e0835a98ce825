"""Beyond raw attention weights: what each key actually sends (norm-based attention) and how attention composes
through the encoder's layers (attention rollout).

Norm-based attention (Kobayashi et al. 2020, "Attention is Not Only a Weight"): head h's output at query i is
sum_j a_ij f_h(x_j) with f_h(x) = (x W_V + b_V) W_O, both restricted to the head's slice. A key with a large weight
but a small f_h(x_j) sends little, so ||a_ij f_h(x_j)|| = a_ij ||f_h(x_j)|| measures what it contributes.

Attention rollout (Abnar and Zuidema 2020): per encoder layer A = 0.5 * (mean over heads) + 0.5 * I, rows
renormalised, multiplied through the layers: an estimate of how much each input position reaches each output
position through attention and the residual connection together.
"""

from __future__ import annotations

import numpy as np
import torch

from model.inspect.trace import Trace
from model.nn.names import HeadRef
from model.nn.transformer import Transformer


@torch.inference_mode()
def value_vector_norms(model: Transformer, trace: Trace) -> dict[HeadRef, np.ndarray]:
    """||f_h(x_j)|| for every key j of every head whose stages the trace kept: {HeadRef: [T_k]}.

    v_j (the trace's V stage, x_j W_V + b_V cut to the head's slice) times the head's columns of W_O.
    """
    modules = model.attention_modules()
    norms: dict[HeadRef, np.ndarray] = {}
    for ref, stages in trace.stages.items():
        module = modules[ref.site]
        columns = slice(ref.head * module.d_k, (ref.head + 1) * module.d_k)
        w_o = module.out_proj.weight[:, columns].detach().float().cpu().numpy()  # [d, d_k]
        norms[ref] = np.linalg.norm(stages.v.astype(np.float64) @ w_o.T.astype(np.float64), axis=-1)
    return norms


def norm_weighted(weights: np.ndarray, value_norms: np.ndarray) -> np.ndarray:
    """weights [T_q, T_k] and ||f(x_j)|| [T_k] -> ||a_ij f(x_j)|| [T_q, T_k] (same masked cells as the weights)."""
    if weights.shape[-1] != value_norms.shape[-1]:
        raise ValueError(f"{weights.shape[-1]} keys in the weights but {value_norms.shape[-1]} value norms")
    return weights * value_norms[None, :]


def attention_rollout(encoder_self_attn: np.ndarray) -> np.ndarray:
    """encoder weights [L, H, S, S] -> rollout after each layer [L, S, S]: entry [l, i, j] estimates how much input
    position j reaches position i after layer l. Every row of each layer sums to 1."""
    layers, _, length, _ = encoder_self_attn.shape
    identity = np.eye(length)
    rolled = identity
    out = np.empty((layers, length, length))
    for layer in range(layers):
        mixed = 0.5 * encoder_self_attn[layer].astype(np.float64).mean(axis=0) + 0.5 * identity
        mixed /= mixed.sum(axis=-1, keepdims=True)
        rolled = mixed @ rolled
        out[layer] = rolled
    return out
