"""The app in headless Chromium: every page draws its charts without an error box; the decoding slider steps."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from urllib.parse import urlparse

import pytest
from app_helpers import (  # noqa: F401  (models_dir is a fixture)
    PAGES,
    ROOT,
    VIEWPORT,
    launch_chromium,
    models_dir,
    streamlit_server,
    wait_charts_settled,
    wait_for_app,
)
from playwright.sync_api import sync_playwright

SCREENSHOTS = ROOT / "artifacts" / "screenshots"
README_SCREENSHOT = ROOT / "docs" / "screenshot-attention.png"
ERROR_BOXES = '[data-testid="stException"], [data-testid="stAlertContentError"]'


@pytest.mark.browser
@pytest.mark.slow
def test_every_page_in_chromium(models_dir: Path, tmp_path: Path) -> None:  # noqa: F811
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with streamlit_server(models_dir, tmp_path / "streamlit.log") as base_url, sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            outside: list[str] = []  # nothing may come from a CDN or any other host
            page.on("request", lambda request: outside.append(request.url) if not is_local(request.url) else None)
            for name, url_path in PAGES.items():
                page.goto(f"{base_url}/{url_path}")
                wait_for_app(page)
                wait_charts_settled(page)
                assert page.locator(".js-plotly-plot .main-svg").count() > 0, f"{name}: no chart drawn"
                assert page.locator(ERROR_BOXES).count() == 0, f"{name}: {page.locator(ERROR_BOXES).all_inner_texts()}"
                assert page.locator("h1").first.is_visible()
                if name == "decoding":
                    step_to_the_end(page)
                page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))
            assert not outside, f"requests left the machine: {sorted(set(outside))[:5]}"
        finally:
            browser.close()
    # The README's picture comes from the shipped model: refresh it from this tiny-model run only when asked.
    if not README_SCREENSHOT.exists() or os.environ.get("ATTN_UPDATE_SCREENSHOT") == "1":
        README_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SCREENSHOTS / "attention.png", README_SCREENSHOT)
    assert (SCREENSHOTS / "attention.png").stat().st_size < 1_000_000


def is_local(url: str) -> bool:
    """True for the app's own server and for inline data; anything else would need the network."""
    parsed = urlparse(url)
    return parsed.scheme in ("data", "blob", "about") or parsed.hostname in ("127.0.0.1", "localhost")


def step_to_the_end(page) -> None:  # type: ignore[no-untyped-def]
    """Focus the step slider's thumb, press End, and check the last step (the end token) is shown."""
    slider = page.locator('[data-testid="stSlider"]').filter(has_text="Step").last
    # Streamlit 1.67 draws the thumb as a visually hidden <input type="range">; older ones as [role="slider"].
    thumb = slider.locator('input[type="range"], [role="slider"]').first
    last = int(float(thumb.get_attribute("max") or thumb.get_attribute("aria-valuemax")))
    thumb.focus()
    page.keyboard.press("End")
    page.wait_for_function(
        "last => document.body.innerText.includes(`Decoder input at step ${last}`)", arg=last, timeout=60_000
    )
    wait_for_app(page)
    wait_charts_settled(page)
    assert (
        int(float(thumb.input_value() if thumb.get_attribute("max") else thumb.get_attribute("aria-valuenow"))) == last
    )
    body = page.locator("body").inner_text()
    assert f"Generated up to step {last}" in body
    assert "</s>" in body or "length limit" in body
    assert page.locator(ERROR_BOXES).count() == 0
