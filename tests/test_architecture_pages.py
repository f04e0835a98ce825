"""The Overview and Residual stream pages, run headless by AppTest: on the tiny model, and on both shipped models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from app_helpers import APP_PATH, ROOT, models_dir  # noqa: F401  (models_dir is a fixture)
from streamlit.testing.v1 import AppTest

from viz_app.settings import MODELS_DIR_ENV

SHIPPED = ("multi30k-en-de", "multi30k-de-en")
SENTENCES = {"multi30k-en-de": "A man in a red shirt rides a bike.", "multi30k-de-en": "Ein Hund läuft im Park."}
MARKUP = "<b>hi</b> dog"


def _open(page: str, model: str | None = None, text: str | None = None) -> AppTest:
    at = AppTest.from_file(str(APP_PATH), default_timeout=120)
    at.run()
    if model is not None:
        at.selectbox(key="model").set_value(model).run()
    if text is not None:
        at.text_area(key="sentence").set_value(text).run()
    at.switch_page(f"views/{page}.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def _titles(at: AppTest) -> list[str]:
    return [json.loads(chart.proto.spec)["layout"]["title"]["text"] for chart in at.get("plotly_chart")]


def test_overview_is_the_first_page(models_dir: Path) -> None:  # noqa: F811
    at = AppTest.from_file(str(APP_PATH), default_timeout=120)
    at.run()
    assert not at.exception
    assert at.title[0].value.startswith("Overview")


def test_both_pages_on_the_tiny_model(models_dir: Path) -> None:  # noqa: F811
    at = _open("overview", text=MARKUP)
    assert any("drawn from its configuration" in title for title in _titles(at))
    markdown = " ".join(m.value for m in at.markdown)
    assert "Glossary" in " ".join(h.value for h in at.subheader) and "d_k" in markdown
    at = _open("residual", text=MARKUP)
    titles = _titles(at)
    assert len(titles) == 5 and all(titles)
    assert "<b>" not in " ".join(titles)  # token labels are escaped
    at.radio(key="residual_side").set_value("decoder").run()
    at.selectbox(key="residual_layer_decoder").set_value(1).run()
    at.selectbox(key="residual_lens_step").set_value(1).run()
    assert not at.exception, [e.value for e in at.exception]
    assert list(at.dataframe[0].value.columns) == ["self-attention", "cross-attention", "feed-forward"]


@pytest.mark.parametrize("model", SHIPPED)
def test_both_pages_on_each_shipped_model(model: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MODELS_DIR_ENV, str(ROOT / "pretrained"))
    at = _open("overview", model, SENTENCES[model])
    markdown = " ".join(m.value for m in at.markdown)
    assert "Intended use and limits" in markdown and "post-norm" in markdown
    signatures = at.dataframe[0].value["sacreBLEU signature"].tolist()
    assert any(signature.startswith("nrefs:1|case:mixed") for signature in signatures)
    assert len(_titles(at)) == 2  # the diagram and the training curve
    at = _open("residual", model, SENTENCES[model])
    assert len(_titles(at)) == 5
    at.radio(key="residual_side").set_value("decoder").run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error
