"""The residual stream in the trace: its parts recombine exactly, LayerNorm and the ReLU as recorded, and what
each decoder layer would predict (the last layer's prediction is the trace's own)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from model.inspect.interventions import Interventions
from model.inspect.lens import layer_predictions
from model.inspect.residual import VectorStats, stack_norms, sublayer_views
from model.inspect.trace import ResidualStream, Trace
from model.inspect.tracing import trace_sentence
from model.nn.names import HeadRef
from model.nn.transformer import Transformer

SOURCE_IDS = [5, 17, 9, 33, 3, 0, 0]  # S = 7, the last two are padding
S, T, L, D, D_FF, V = 7, 6, 2, 32, 64, 50


def _trace(model: Transformer, interventions: Interventions | None = None) -> Trace:
    return trace_sentence(
        model, SOURCE_IDS, token_text=lambda i: f"t{i}", max_new_tokens=T, interventions=interventions
    )


@pytest.fixture(params=["post", "pre"])
def model(request: pytest.FixtureRequest, make_model, make_varied_model) -> Transformer:  # type: ignore[no-untyped-def]
    """The paper's post-norm model at its initialisation, and a pre-norm model whose sub-layers matter."""
    return make_model(seed=1) if request.param == "post" else make_varied_model(seed=2)


def _layers(model: Transformer, side: str) -> torch.nn.ModuleList:
    return model.encoder_layers if side == "encoder" else model.decoder_layers


def _residuals(layer: torch.nn.Module, side: str) -> list[torch.nn.Module]:
    if side == "encoder":
        return [layer.attn_residual, layer.ff_residual]
    return [layer.self_residual, layer.cross_residual, layer.ff_residual]


def test_shapes_and_names(model: Transformer) -> None:
    trace = _trace(model)
    for stream, side, k, length in ((trace.encoder_stream, "encoder", 2, S), (trace.decoder_stream, "decoder", 3, T)):
        assert stream.side == side and len(stream.sublayers) == k
        assert stream.norm_placement == model.config.norm_placement
        for name in ("stream_in", "addition", "summed", "normed"):
            array = getattr(stream, name)
            assert array.shape == (L, k, length, D) and array.dtype == np.float32, name
        assert stream.relu_off_share.shape == (L, length)
        assert stream.layer_output.shape == (L, length, D)
    assert trace.decoder_stream.sublayers == ("self_attn", "cross_attn", "feed_forward")
    data = json.loads(json.dumps(trace.to_dict(), allow_nan=False))
    assert np.array_equal(np.array(data["decoder_stream"]["summed"], dtype=np.float32), trace.decoder_stream.summed)


def test_the_parts_recombine_and_chain(model: Transformer) -> None:
    trace = _trace(model)
    for stream in (trace.encoder_stream, trace.decoder_stream):
        np.testing.assert_array_equal(stream.stream_in + stream.addition, stream.summed)
        out = stream.stream_out.reshape(-1, *stream.stream_out.shape[2:])
        arriving = stream.stream_in.reshape(-1, *stream.stream_in.shape[2:])
        np.testing.assert_array_equal(out[:-1], arriving[1:])  # each sub-layer hands the stream to the next
    np.testing.assert_allclose(trace.encoder_stream.stream_in[0, 0], trace.source.summed, atol=1e-6)
    np.testing.assert_allclose(trace.decoder_stream.stream_in[0, 0], trace.target.summed, atol=1e-6)
    with torch.inference_mode():
        memory = model.encode(torch.tensor([SOURCE_IDS]))[0]
        if model.config.norm_placement == "post":
            np.testing.assert_allclose(trace.encoder_stream.layer_output[-1], memory.numpy(), atol=1e-5)
        else:  # pre-norm: the encoder's final LayerNorm follows its last layer
            last = model.encoder_norm(torch.from_numpy(trace.encoder_stream.layer_output[-1]))
            np.testing.assert_allclose(last.numpy(), memory.numpy(), atol=1e-5)


def test_layer_norm_as_recorded(model: Transformer) -> None:
    trace = _trace(model)
    eps = model.config.layer_norm_eps
    for stream in (trace.encoder_stream, trace.decoder_stream):
        assert stream.norm_input is (stream.summed if stream.norm_placement == "post" else stream.stream_in)
        for index, layer in enumerate(_layers(model, stream.side)):
            for k, residual in enumerate(_residuals(layer, stream.side)):
                gain = residual.norm.weight.detach().numpy()
                bias = residual.norm.bias.detach().numpy()
                x = torch.from_numpy(stream.norm_input[index, k])
                expected = F.layer_norm(x, (D,), residual.norm.weight, residual.norm.bias, eps).detach().numpy()
                np.testing.assert_allclose(stream.normed[index, k], expected, atol=1e-5)
                standardised = (stream.normed[index, k] - bias) / gain
                np.testing.assert_allclose(standardised.mean(-1), 0.0, atol=1e-4)
                np.testing.assert_allclose(standardised.var(-1), 1.0, atol=2e-3)


def test_each_addition_is_its_sub_layer_computed_directly(model: Transformer) -> None:
    trace = _trace(model)
    with torch.inference_mode():
        for stream in (trace.encoder_stream, trace.decoder_stream):
            for index, layer in enumerate(_layers(model, stream.side)):
                ff_in = torch.from_numpy(stream.sublayer_input[index, -1])
                np.testing.assert_allclose(
                    stream.addition[index, -1], layer.feed_forward(ff_in).numpy(), atol=1e-5, rtol=1e-5
                )


def test_relu_share_is_the_share_of_zero_units(model: Transformer) -> None:
    trace = _trace(model)
    with torch.inference_mode():
        for stream in (trace.encoder_stream, trace.decoder_stream):
            share = stream.relu_off_share
            assert np.all((share >= 0) & (share <= 1))
            for index, layer in enumerate(_layers(model, stream.side)):
                hidden = F.relu(layer.feed_forward.expand(torch.from_numpy(stream.sublayer_input[index, -1])))
                direct = (hidden == 0).float().mean(-1).numpy()
                np.testing.assert_allclose(share[index], direct, atol=1e-6)
                assert np.all(np.isin(np.round(share[index] * D_FF, 4), np.arange(D_FF + 1)))


def test_a_head_switched_off_shows_in_the_addition(make_model) -> None:  # type: ignore[no-untyped-def]
    model = make_model(seed=3)
    every = frozenset(HeadRef("encoder.self_attn", 0, h) for h in range(model.config.n_heads))
    trace = _trace(model, Interventions(zero_heads=every))
    bias = model.encoder_layers[0].self_attn.out_proj.bias.detach().numpy()
    np.testing.assert_allclose(trace.encoder_stream.addition[0, 0], np.broadcast_to(bias, (S, D)), atol=1e-6)


def test_the_last_layer_predicts_what_the_trace_shows(model: Transformer) -> None:
    trace = _trace(model)
    lens = layer_predictions(model, trace, token_text=lambda i: f"t{i}", top_k=V)  # every token: the whole distribution
    assert lens.top_ids.shape == lens.top_probs.shape == (L, T, V)
    assert lens.output_probs.shape == lens.output_ranks.shape == (L, T)
    assert lens.final_norm == (model.config.norm_placement == "pre")
    probabilities = trace.probabilities
    for layer in range(L):
        distribution = np.zeros((T, V), dtype=np.float32)
        np.put_along_axis(distribution, lens.top_ids[layer], lens.top_probs[layer], axis=-1)
        np.testing.assert_allclose(distribution.sum(-1), 1.0, atol=1e-5)
        if layer == L - 1:
            np.testing.assert_allclose(distribution, probabilities, atol=1e-6)
    for t, step in enumerate(trace.steps):
        np.testing.assert_allclose(lens.top_probs[-1, t, :5], step.top_probs, atol=1e-6)
        assert lens.output_probs[-1, t] == pytest.approx(probabilities[t, trace.output_ids[t]], abs=1e-6)
        assert lens.top_tokens[-1][t][0] == f"t{lens.top_ids[-1, t, 0]}"
    assert np.all(lens.top_probs[:, :, :-1] >= lens.top_probs[:, :, 1:])


def test_an_earlier_layer_goes_through_the_same_head(model: Transformer) -> None:
    """Layer 0's prediction is the output head applied to its output, computed here by hand."""
    trace = _trace(model)
    lens = layer_predictions(model, trace, top_k=3)
    with torch.inference_mode():
        hidden = torch.from_numpy(trace.decoder_stream.layer_output[0])
        if model.config.norm_placement == "pre":
            hidden = model.decoder_norm(hidden)
        logits = hidden @ model.embedding.weight.T
        logits[:, [model.config.pad_id, model.config.bos_id]] = float("-inf")
        probs = torch.softmax(logits, -1).numpy()
    np.testing.assert_allclose(lens.top_probs[0], np.sort(probs, -1)[:, ::-1][:, :3], atol=1e-6)
    expected_ranks = (probs > probs[np.arange(T), list(trace.output_ids)][:, None]).sum(-1)
    np.testing.assert_array_equal(lens.output_ranks[0], expected_ranks)


def test_summaries_of_one_position(model: Transformer) -> None:
    trace = _trace(model)
    stream: ResidualStream = trace.decoder_stream
    eps = model.config.layer_norm_eps
    views = sublayer_views(stream, 1, 2, eps)
    assert [v.name for v in views] == ["decoder.1.self_attn", "decoder.1.cross_attn", "decoder.1.feed_forward"]
    for k, view in enumerate(views):
        assert view.addition_stats.norm == pytest.approx(float(np.linalg.norm(stream.addition[1, k, 2])), rel=1e-6)
        assert view.norm_input_stats.variance == pytest.approx(float(stream.norm_input[1, k, 2].var()), rel=1e-5)
        assert view.standardised_variance == pytest.approx(
            view.norm_input_stats.variance / (view.norm_input_stats.variance + eps)
        )
    norms = stack_norms(stream, 2)
    assert len(norms.names) == norms.stream_in.size == norms.addition.size == L * 3
    assert norms.names[:2] == ["decoder.0.self_attn", "decoder.0.cross_attn"]
    assert norms.relu_off_share.shape == (L,)
    assert VectorStats.of(np.array([3.0, 4.0])) == VectorStats(norm=5.0, mean=3.5, variance=0.25)
