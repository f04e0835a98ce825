"""Shared fixtures: small random models with fixed seeds, always in eval mode."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model.nn.config import ModelConfig
from model.nn.transformer import Transformer

ModelFactory = Callable[..., Transformer]

# The models here are tiny: one thread is as fast, and it keeps timings steady when other work shares the CPU.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_config() -> ModelConfig:
    """vocab 50, d_model 32, 4 heads (d_k 8), 2 + 2 layers, d_ff 64, max_len 64, dropout 0.1."""
    return ModelConfig(
        vocab_size=50,
        d_model=32,
        n_heads=4,
        n_encoder_layers=2,
        n_decoder_layers=2,
        d_ff=64,
        dropout=0.1,
        attention_dropout=0.1,
        max_len=64,
    )


@pytest.fixture(scope="session")
def make_model(tiny_config: ModelConfig) -> ModelFactory:
    """Factory: make_model(seed=0, config=None, **overrides) -> a fresh Transformer in eval mode."""

    def build(seed: int = 0, config: ModelConfig | None = None, **overrides: object) -> Transformer:
        base = config if config is not None else tiny_config
        if overrides:
            base = ModelConfig.from_dict({**base.to_dict(), **overrides})
        torch.manual_seed(seed)
        return Transformer(base).eval()

    return build


@pytest.fixture
def tiny_model(make_model: ModelFactory) -> Transformer:
    """A fresh random tiny model (seed 0), eval mode; tests may modify it."""
    return make_model(seed=0)


@pytest.fixture(scope="session")
def make_varied_model(make_model: ModelFactory) -> ModelFactory:
    """Factory: a random pre-norm model with its attention and feed-forward matrices scaled up by 6.

    At the default init the residual stream is dominated by the input embedding, the tied projection copies the
    input token, and greedy decoding repeats one token forever: a cache bug would go unseen. Scaled up, the
    outputs depend on the source and on the whole prefix. make_varied_model(seed=0, **config overrides).
    """

    def build(seed: int = 0, **overrides: object) -> Transformer:
        model = make_model(seed=seed, norm_placement="pre", **overrides)
        with torch.no_grad():
            for name, parameter in model.named_parameters():
                if parameter.dim() == 2 and not name.startswith("embedding"):
                    parameter.mul_(6.0)
        return model

    return build


@pytest.fixture(scope="session")
def varied_models(make_varied_model: ModelFactory) -> list[Transformer]:
    """Three varied models, seeds 0, 1, 2 (shared: tests must not modify them; deep-copy first)."""
    return [make_varied_model(seed) for seed in range(3)]


_NOT_APPLICABLE: list[str] = []


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked needs_cuda are deselected where CUDA is absent: not applicable here, so counted neither as
    passed nor as skipped; the summary names them."""
    if torch.cuda.is_available():
        return
    kept, dropped = [], []
    for item in items:
        (dropped if item.get_closest_marker("needs_cuda") else kept).append(item)
    if dropped:
        _NOT_APPLICABLE.extend(item.nodeid for item in dropped)
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for nodeid in _NOT_APPLICABLE:
        terminalreporter.write_line(f"NOT APPLICABLE (no CUDA on this machine, not run, not counted): {nodeid}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Under ATTN_STRICT_TESTS=1 (set by .ci/run) a skipped test fails the run: CI must not skip browser or data
    tests."""
    import os

    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter is not None else 0
    if os.environ.get("ATTN_STRICT_TESTS") == "1" and skipped and session.exitstatus == 0:
        if reporter is not None:
            reporter.write_line(
                f"ATTN_STRICT_TESTS: {skipped} test(s) skipped; CI requires every test to run", red=True
            )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
