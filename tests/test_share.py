"""Share and export in headless Chromium: a shared link reopens the same view; a chart's CSV and the trace's JSON
download, and their numbers are the model's (a trace computed here, in the test process, with the same model,
sentence and intervention)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlparse

import numpy as np
import pytest
from app_helpers import (  # noqa: F401  (models_dir is a fixture)
    TINY_MODEL_NAME,
    VIEWPORT,
    launch_chromium,
    models_dir,
    streamlit_server,
    wait_charts_settled,
    wait_for_app,
)
from playwright.sync_api import sync_playwright

from model.data.checkpoint import load_pretrained
from model.inspect.interventions import Interventions
from model.nn.names import HeadRef
from model.pipeline import Translator

SENTENCE = "A dog runs on the grass."
ZEROED = HeadRef("encoder.self_attn", 0, 1)
LINK = {
    "model": TINY_MODEL_NAME,
    "text": SENTENCE,
    "kind": "decoder.cross_attn",
    "layer": "1",
    "head": "2",
    "zero": str(ZEROED),
}
ERROR_BOXES = '[data-testid="stException"], [data-testid="stAlertContentError"]'
PNG_BUTTON = '.modebar-btn[data-title="Download plot as a PNG"]'


def read_csv(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))


def csv_block(rows: list[list[str]], section: str, title: str) -> list[list[str]]:
    """The block (header row first) whose header starts with `title`, in the section that starts at row [section]."""
    start = rows.index([section])
    header = next(i for i in range(start, len(rows)) if rows[i] and rows[i][0].startswith(title))
    end = next((i for i in range(header, len(rows)) if not rows[i]), len(rows))
    return rows[header:end]


def selectbox_value(page, key: str) -> str:  # type: ignore[no-untyped-def]
    """The option a selectbox shows: Streamlit 1.67 draws it in the selectbox's text input, older ones as text."""
    box = page.locator(f".st-key-{key}")
    field = box.locator("input")
    shown = field.first.input_value() if field.count() else ""
    return shown or box.locator('[data-baseweb="select"]').inner_text().strip()


@pytest.mark.browser
def test_a_shared_link_reopens_the_view_and_its_downloads_hold_the_traces_numbers(
    models_dir: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    translator = Translator(load_pretrained(models_dir / TINY_MODEL_NAME))
    expected = translator.trace(SENTENCE, interventions=Interventions(zero_heads=frozenset({ZEROED})))
    with streamlit_server(models_dir, tmp_path / "streamlit.log") as base_url, sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            page = browser.new_page(viewport=VIEWPORT, accept_downloads=True)
            page.goto(f"{base_url}/attention?{urlencode(LINK)}")
            wait_for_app(page)
            charts = wait_charts_settled(page)
            assert page.locator(ERROR_BOXES).count() == 0, page.locator(ERROR_BOXES).all_inner_texts()

            # the same view: the widgets hold the link's values ...
            assert page.locator(".st-key-sentence textarea").input_value() == SENTENCE
            assert page.locator(".st-key-att_kind label:has(input:checked)").inner_text().startswith("Cross")
            assert selectbox_value(page, "att_layer") == "1"
            assert selectbox_value(page, "att_head") == "2"
            # the browser draws the interventions popover's widgets only when it is opened
            assert page.locator(".st-key-att_zero").count() == 0
            page.locator('[data-testid="stPopover"] button', has_text="Interventions").click()
            page.locator(".st-key-att_zero", has_text="enc self · layer 0 · head 1").wait_for(timeout=15_000)
            page.keyboard.press("Escape")
            page.locator(".st-key-att_zero").wait_for(state="detached")
            # ... the charts are of that layer and head, with the intervention on ...
            titles = page.locator(".js-plotly-plot .gtitle").all_text_contents()
            assert "Cross-attention, layer 1: the mean and every head" in titles
            assert page.get_by_text("Layer 1 stage by stage, opened at head 2").count() == 1
            assert page.get_by_text("Interventions are on.").count() == 1
            # ... and the address bar still holds the link, ready to be copied again
            params = {key: values[0] for key, values in parse_qs(urlparse(page.url).query).items()}
            assert {key: params.get(key) for key in LINK} == LINK
            # every chart keeps the toolbar's PNG download
            assert page.locator(PNG_BUTTON).count() == charts

            weights_chart = page.locator(".st-key-att_stages .js-plotly-plot")
            weights_chart.hover()
            with page.expect_download() as download:
                weights_chart.locator(PNG_BUTTON).click()
            png = download.value.suggested_filename
            with page.expect_download() as download:
                page.locator(".st-key-att_stages_csv button:visible").first.click()
            assert download.value.suggested_filename == png.removesuffix(".png") + ".csv"
            rows = read_csv(Path(download.value.path()))
            with page.expect_download() as download:
                page.locator(".st-key-trace_json button:visible").first.click()
            document = json.loads(Path(download.value.path()).read_text(encoding="utf-8"))
            assert page.locator(ERROR_BOXES).count() == 0
        finally:
            browser.close()

    assert png == f"{TINY_MODEL_NAME}_Cross-attention-layer-1-stages.png"
    weights = expected.cross_attn[1, 2]  # [T, S]: decoder layer 1, head 2
    block = csv_block(rows, "Head 2", "softmax(row)")  # the stage figure holds every head: one section each
    assert block[0][1:] == expected.source.labels and [row[0] for row in block[1:]] == expected.target.labels
    downloaded = np.array([[float(cell) for cell in row[1:]] for row in block[1:]])
    np.testing.assert_allclose(downloaded, weights, rtol=0, atol=1e-6)

    assert document["zero_heads"] == [str(ZEROED)] and document["temperature"] == 1.0
    assert document["translation"] == expected.translation
    np.testing.assert_allclose(np.array(document["cross_attn"]), expected.cross_attn, rtol=0, atol=1e-6)
