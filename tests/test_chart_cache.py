"""Figures shared between sessions (viz_app.chart_cache): built once per distinct input, then only read."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import pytest
from app_helpers import APP_PATH, models_dir  # noqa: F401  (models_dir is a fixture)

from viz_app import chart_cache
from viz_app.chart_cache import Ready, feed_digest, shared_figure


@dataclass(frozen=True)
class Panel:
    name: str
    values: np.ndarray


BUILDS: list[tuple[str, ...]] = []


def heatmap(panels: list[Panel], labels: list[str], *, title: str, width: int | None = None) -> go.Figure:
    """A pure figure function that counts its calls."""
    BUILDS.append((title, *labels))
    fig = go.Figure([go.Heatmap(z=panel.values, x=labels, y=labels, name=panel.name) for panel in panels])
    fig.update_layout(title={"text": title}, width=width)
    return fig


@pytest.fixture(autouse=True)
def empty_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chart_cache, "_shared", type(chart_cache._shared)())
    BUILDS.clear()


def panels(scale: float = 1.0) -> list[Panel]:
    return [Panel("a", np.arange(4, dtype=np.float32).reshape(2, 2) * scale)]


def test_equal_inputs_share_one_ready_figure_built_once() -> None:
    first = shared_figure(heatmap, panels(), ["x", "y"], title="t", width=300)
    again = shared_figure(heatmap, panels(), ["x", "y"], title="t", width=300)  # new, equal arrays and lists
    assert again is first and len(BUILDS) == 1
    assert isinstance(first, Ready) and first.min_width == 300 and first.figure.layout.width is None
    assert first.figure.layout.datarevision and first.figure.layout.template.to_plotly_json() == {}


@pytest.mark.parametrize(
    "change",
    [
        {"values": 2.0},
        {"labels": ["x", "z"]},
        {"title": "other"},
        {"width": 301},
    ],
)
def test_any_changed_input_builds_its_own_figure(change: dict) -> None:
    base = shared_figure(heatmap, panels(), ["x", "y"], title="t", width=300)
    other = shared_figure(
        heatmap,
        panels(change.get("values", 1.0)),
        change.get("labels", ["x", "y"]),
        title=change.get("title", "t"),
        width=change.get("width", 300),
    )
    assert other is not base and len(BUILDS) == 2


def test_the_least_recently_used_figure_goes_first_within_the_byte_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    a = shared_figure(heatmap, panels(), ["a", "b"], title="a")
    one = chart_cache.shared_sizes()[0]
    monkeypatch.setattr(chart_cache, "SHARED_BYTES", int(2.5 * one))  # room for two figures of that size
    shared_figure(heatmap, panels(), ["a", "b"], title="b")
    assert shared_figure(heatmap, panels(), ["a", "b"], title="a") is a  # a is now the most recent
    shared_figure(heatmap, panels(), ["a", "b"], title="c")  # evicts b
    assert len(chart_cache.shared_sizes()) == 2 and sum(chart_cache.shared_sizes()) <= 2.5 * one
    assert shared_figure(heatmap, panels(), ["a", "b"], title="a") is a
    shared_figure(heatmap, panels(), ["a", "b"], title="b")
    assert [build[0] for build in BUILDS] == ["a", "b", "c", "b"]


def test_a_figure_of_large_inputs_is_built_for_its_session_and_not_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chart_cache, "SHARE_INPUTS_AT_MOST", 1000)
    large = [Panel("a", np.zeros((20, 20), dtype=np.float32))]  # 1,600 bytes of values
    first = shared_figure(heatmap, large, [str(i) for i in range(20)], title="t")
    again = shared_figure(heatmap, large, [str(i) for i in range(20)], title="t")
    assert again is not first and len(BUILDS) == 2 and chart_cache.shared_sizes() == []
    assert first.figure.layout.datarevision  # still made ready


def test_an_argument_without_a_content_is_refused() -> None:
    class Opaque:
        pass

    with pytest.raises(TypeError, match="apart by its content"):
        shared_figure(heatmap, [Opaque()], ["x"], title="t")
    digest = hashlib.blake2b()
    feed_digest(digest, Opaque(), strict=False)  # data_revision's lenient mode reads its repr instead


def test_a_figure_function_without_a_name_of_its_own_is_refused() -> None:
    with pytest.raises(ValueError, match="module-level figure function"):
        shared_figure(lambda: go.Figure())  # two lambdas would share one name, and so one figure
    assert BUILDS == [] and chart_cache.shared_sizes() == []


def test_object_arrays_are_read_by_their_text() -> None:
    def digest_of(value: object) -> str:
        digest = hashlib.blake2b()
        feed_digest(digest, value)
        return digest.hexdigest()

    assert digest_of(np.array(["a", "b"], dtype=object)) == digest_of(np.array(["a", "b"], dtype=object))
    assert digest_of(np.array(["a", "b"], dtype=object)) != digest_of(np.array(["a", "c"], dtype=object))
    assert digest_of((1, 2)) == digest_of([1, 2])  # a sequence is its items
    assert digest_of(1) != digest_of(1.0) != digest_of("1")


def whole_digest(fig: go.Figure) -> str:
    """A digest of everything the figure holds (data, layout, frames), arrays by their bytes."""
    digest = hashlib.blake2b()
    feed_digest(digest, fig.to_plotly_json(), strict=False)
    return digest.hexdigest()


def test_the_attention_page_shares_its_figures_between_sessions_and_leaves_them_unchanged(
    models_dir: Path,  # noqa: F811
) -> None:
    from streamlit.testing.v1 import AppTest

    def open_page() -> list[str]:
        at = AppTest.from_file(str(APP_PATH), default_timeout=120)
        at.switch_page("views/attention.py")
        at.run()
        assert not at.exception, at.exception
        return [element.proto.spec for element in at.get("plotly_chart")]

    first = open_page()
    shared = dict(chart_cache._shared)
    assert len(shared) == len(first) == 3 and sum(chart_cache.shared_sizes()) == sum(map(len, first))
    before = {key: whole_digest(entry.ready.figure) for key, entry in shared.items()}
    second = open_page()  # a new session: the same figures, not rebuilt, not changed by being sent again
    assert second == first
    assert dict(chart_cache._shared) == shared and all(chart_cache._shared[key] is shared[key] for key in shared)
    after = {key: whole_digest(entry.ready.figure) for key, entry in shared.items()}
    assert after == before
