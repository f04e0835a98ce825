"""Norm-based attention and attention rollout."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from model.inspect.flow import attention_rollout, norm_weighted, value_vector_norms
from model.inspect.tracing import trace_sentence
from model.nn.names import HeadRef
from model.nn.transformer import Transformer


def test_value_norms_are_those_of_each_heads_slice_through_w_o(varied_models: list[Transformer]) -> None:
    model = varied_models[0]
    ref = HeadRef("decoder.cross_attn", 1, 2)
    trace = trace_sentence(model, [5, 17, 9, 33, 3], stage_heads=[ref], max_new_tokens=4)
    norms = value_vector_norms(model, trace)[ref]
    module = model.decoder_layers[1].cross_attn
    with torch.inference_mode():
        memory = model.encode(torch.tensor([[5, 17, 9, 33, 3]]))
        v = torch.nn.functional.linear(memory, module.w_v, module.in_proj_bias[2 * 32 :])[0]  # [S, d]
        keep = torch.zeros(32)
        keep[2 * 8 : 3 * 8] = 1.0
        sent = module.out_proj(v * keep) - module.out_proj.bias  # W_O applied to head 2's slice only
    np.testing.assert_allclose(norms, sent.norm(dim=-1).numpy(), rtol=1e-4, atol=1e-5)
    weighted = norm_weighted(trace.stages[ref].weights, norms)
    np.testing.assert_allclose(weighted, trace.stages[ref].weights * norms[None, :])
    with pytest.raises(ValueError, match="keys"):
        norm_weighted(trace.stages[ref].weights, norms[:-1])


def test_rollout_of_identity_attention_is_identity_and_rows_sum_to_one() -> None:
    eye = np.broadcast_to(np.eye(4), (3, 2, 4, 4))
    np.testing.assert_allclose(attention_rollout(eye), np.broadcast_to(np.eye(4), (3, 4, 4)))
    rng = np.random.default_rng(0)
    weights = rng.dirichlet(np.ones(5), size=(3, 2, 5))
    rolled = attention_rollout(weights)
    np.testing.assert_allclose(rolled.sum(-1), np.ones((3, 5)))
    first = 0.5 * weights[0].mean(0) + 0.5 * np.eye(5)
    second = 0.5 * weights[1].mean(0) + 0.5 * np.eye(5)
    np.testing.assert_allclose(rolled[1], second @ first)
