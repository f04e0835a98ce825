"""Whole-model invariants: tracing changes nothing, causality, padding, norm placement, configuration."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from model.inspect.recording import Recorder
from model.nn.config import ModelConfig
from model.nn.dropout import Dropout
from model.nn.names import HeadRef, site_name
from model.nn.transformer import Transformer

SOURCE = torch.tensor([[5, 17, 9, 33, 12, 41, 3], [8, 22, 3, 0, 0, 0, 0]])
TARGET = torch.tensor([[2, 14, 27, 6, 19], [2, 30, 11, 45, 7]])


def _sites(model: Transformer) -> list[str]:
    return list(model.attention_modules())


def test_every_attention_module_knows_its_site(tiny_model: Transformer) -> None:
    assert _sites(tiny_model) == [
        "encoder.0.self_attn",
        "encoder.1.self_attn",
        "decoder.0.self_attn",
        "decoder.0.cross_attn",
        "decoder.1.self_attn",
        "decoder.1.cross_attn",
    ]
    assert tiny_model.decoder_layers[1].cross_attn.site == "decoder.1.cross_attn"


@torch.inference_mode()
def test_recording_does_not_change_logits(tiny_model: Transformer) -> None:
    plain = tiny_model(SOURCE, TARGET)
    stage_heads = [HeadRef.at(site, head) for site in _sites(tiny_model) for head in (0, 3)]
    recorder = Recorder(keep_weights=True, stage_heads=stage_heads)
    traced = tiny_model(SOURCE, TARGET, probe=recorder)
    assert torch.equal(plain, traced)
    assert sorted(recorder.weights) == sorted(_sites(tiny_model))
    assert len(recorder.stages) == len(stage_heads)


@torch.inference_mode()
def test_no_decoder_self_attention_above_the_diagonal(tiny_model: Transformer) -> None:
    recorder = Recorder()
    tiny_model(SOURCE, TARGET, probe=recorder)
    above = ~torch.ones(5, 5, dtype=torch.bool).tril()
    for i in range(tiny_model.config.n_decoder_layers):
        weights = recorder.weights[site_name("decoder.self_attn", i)]
        assert weights.shape == (2, 4, 5, 5)
        assert torch.all(weights[..., above] == 0)
        assert torch.all(weights[..., ~above] > 0)


@torch.inference_mode()
def test_future_target_tokens_never_change_earlier_logits(tiny_model: Transformer) -> None:
    base = tiny_model(SOURCE, TARGET)
    for position in range(1, TARGET.size(1)):
        changed_target = TARGET.clone()
        changed_target[:, position] = (changed_target[:, position] + 7) % 46 + 4
        logits = tiny_model(SOURCE, changed_target)
        assert torch.equal(logits[:, :position], base[:, :position]), position
        assert not torch.equal(logits[:, position], base[:, position]), position


@torch.inference_mode()
def test_source_padding_gets_zero_weight(tiny_model: Transformer) -> None:
    recorder = Recorder()
    tiny_model(SOURCE, TARGET, probe=recorder)
    for site, weights in recorder.weights.items():
        if site.endswith("cross_attn") or site.startswith("encoder"):
            assert torch.all(weights[1, ..., 3:] == 0), site
            assert torch.all(weights[1, ..., :3] > 0), site
            assert torch.all(weights[0] > 0), site


@torch.inference_mode()
def test_source_padding_does_not_change_real_positions(tiny_model: Transformer) -> None:
    short = SOURCE[1:, :3]
    padded_logits = tiny_model(SOURCE, TARGET)[1:]
    torch.testing.assert_close(tiny_model(short, TARGET[1:]), padded_logits, atol=1e-5, rtol=0)


@pytest.mark.parametrize("norm_placement", ["post", "pre"])
def test_both_norm_placements_run_forward_and_backward(make_model: Any, norm_placement: str) -> None:
    model = make_model(seed=1, norm_placement=norm_placement)
    layer_outputs: list[torch.Tensor] = []
    model.encoder_layers[0].register_forward_hook(lambda _m, _i, out: layer_outputs.append(out))
    logits = model(SOURCE, TARGET)
    assert logits.shape == (2, 5, 50) and torch.isfinite(logits).all()
    logits.logsumexp(dim=-1).sum().backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all(), name
    # post-norm: each layer's output is layer-normalised; pre-norm: the residual stream is not, and a final
    # LayerNorm closes each stack.
    stream = layer_outputs[0].detach()
    is_normalised = torch.allclose(stream.mean(-1), torch.zeros(2, 7), atol=1e-4) and torch.allclose(
        stream.var(-1, unbiased=False), torch.ones(2, 7), atol=1e-3
    )
    assert is_normalised == (norm_placement == "post")
    assert isinstance(model.encoder_norm, torch.nn.LayerNorm) == (norm_placement == "pre")
    assert isinstance(model.decoder_norm, torch.nn.LayerNorm) == (norm_placement == "pre")


def test_post_and_pre_norm_models_differ(make_model: Any) -> None:
    with torch.inference_mode():
        post = make_model(seed=2, norm_placement="post")(SOURCE, TARGET)
        pre = make_model(seed=2, norm_placement="pre")(SOURCE, TARGET)
    assert not torch.allclose(post, pre)


def test_eval_is_deterministic_and_training_uses_dropout(tiny_model: Transformer) -> None:
    with torch.no_grad():
        first, second = tiny_model(SOURCE, TARGET), tiny_model(SOURCE, TARGET)
        assert torch.equal(first, second)
        tiny_model.train()
        assert not torch.equal(tiny_model(SOURCE, TARGET), first)


def test_dropout_is_torchs_in_training_and_hands_the_input_back_in_eval() -> None:
    x = torch.randn(4, 6, 32)
    ours, torchs = Dropout(0.3), torch.nn.Dropout(0.3)
    torch.manual_seed(7)
    dropped = ours(x)
    torch.manual_seed(7)
    assert torch.equal(dropped, torchs(x))
    assert (dropped == 0).any() and not torch.equal(dropped, x)
    ours.eval()
    assert ours(x) is x
    assert Dropout(0.0)(x) is x


@pytest.mark.parametrize(
    "overrides",
    [
        {"vocab_size": 0},
        {"d_model": -8},
        {"n_heads": 5},  # 32 is not divisible by 5
        {"n_encoder_layers": 0},
        {"n_decoder_layers": 1.5},
        {"d_ff": True},
        {"max_len": 0},
        {"dropout": 1.0},
        {"attention_dropout": -0.1},
        {"norm_placement": "middle"},
        {"eos_id": 0},  # same as pad_id
        {"bos_id": 50},  # outside the vocabulary
        {"unk_id": -1},
    ],
)
def test_config_validation_rejects_bad_values(tiny_config: ModelConfig, overrides: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="invalid ModelConfig"):
        ModelConfig.from_dict({**tiny_config.to_dict(), **overrides})


def test_config_defaults_are_the_shipping_size() -> None:
    config = ModelConfig()
    assert (config.vocab_size, config.d_model, config.n_heads, config.d_k) == (8000, 256, 8, 32)
    assert (config.n_encoder_layers, config.n_decoder_layers, config.d_ff) == (3, 3, 512)


def test_config_json_round_trip(tmp_path: Path, tiny_config: ModelConfig) -> None:
    config = ModelConfig.from_dict({**tiny_config.to_dict(), "norm_placement": "pre", "dropout": 0.25})
    path = tmp_path / "config.json"
    config.save(path)
    assert json.loads(path.read_text(encoding="utf-8"))["norm_placement"] == "pre"
    assert ModelConfig.load(path) == config


def test_config_load_rejects_bad_files(tmp_path: Path, tiny_config: ModelConfig) -> None:
    path = tmp_path / "config.json"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError, match="not valid JSON"):
        ModelConfig.load(path)
    path.write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(ValueError, match="JSON object"):
        ModelConfig.load(path)
    path.write_text(json.dumps({**tiny_config.to_dict(), "colour": "blue"}), encoding="utf-8")
    with pytest.raises(ValueError, match="unknown ModelConfig fields: colour"):
        ModelConfig.load(path)
