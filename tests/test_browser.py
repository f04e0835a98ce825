"""The app in headless Chromium: every page draws its charts without an error box; decoding steps in the browser."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest
from app_helpers import (  # noqa: F401  (models_dir is a fixture)
    PAGES,
    ROOT,
    VIEWPORT,
    install_redraw_timer,
    launch_chromium,
    models_dir,
    script_runs,
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


SLIDER_STATE = "() => document.querySelector('.js-plotly-plot')._fullLayout.sliders[0]"


def click_step(page, step: int) -> None:  # type: ignore[no-untyped-def]
    """Click the decoding figure's own (plotly) slider at `step` and wait until the figure shows that step."""
    rail = page.locator(".js-plotly-plot .slider-rail-rect").first
    rail.scroll_into_view_if_needed()
    box = rail.bounding_box()
    steps = page.evaluate(f"() => ({SLIDER_STATE})().steps.length")
    page.mouse.click(box["x"] + box["width"] * step / max(steps - 1, 1), box["y"] + box["height"] / 2)
    page.wait_for_function(f"step => ({SLIDER_STATE})().active === step", arg=step, timeout=30_000)
    # the slider moves as the frame starts; the frame's own axis window lands with its redraw, a moment later
    page.wait_for_function(
        "step => document.querySelector('.js-plotly-plot')._fullLayout.xaxis.range[1] === step + 0.5",
        arg=step,
        timeout=30_000,
    )


def shown_step(page) -> dict:  # type: ignore[no-untyped-def]
    """What the browser shows now: the slider's step and text, the mask's window, its row labels drawn."""
    return page.evaluate(
        f"""() => {{
            const gd = document.querySelector('.js-plotly-plot');
            const text = gd.querySelector('.slider-group > text.slider-label');  // the current value
            return {{active: ({SLIDER_STATE})().active, text: text ? text.textContent : '',
                     range: gd._fullLayout.xaxis.range,
                     rows: gd.querySelectorAll('.yaxislayer-above g.ytick text').length,
                     candidates: Array.from(gd.data[gd._transitionData._frames[0].traces[0]].x)}};
        }}"""
    )


def step_to_the_end(page) -> None:  # type: ignore[no-untyped-def]
    """Move the decoding figure to its last step (the end token or the length limit) in the browser."""
    last = page.evaluate(f"() => ({SLIDER_STATE})().steps.length") - 1
    click_step(page, last)
    shown = shown_step(page)
    assert shown["text"].startswith(f"Step {last}:"), shown["text"]
    assert "end token" in shown["text"] or "length limit" in shown["text"]
    assert shown["range"] == [-0.5, last + 0.5] and shown["rows"] == last + 1
    assert page.locator(ERROR_BOXES).count() == 0


@pytest.mark.browser
@pytest.mark.slow
def test_decoding_steps_and_play_change_the_chart_without_a_rerun(models_dir: Path, tmp_path: Path) -> None:  # noqa: F811
    with streamlit_server(models_dir, tmp_path / "streamlit.log") as base_url, sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            install_redraw_timer(page)
            sent: list[int] = []  # every websocket message the browser sends (a rerun request is one)
            page.on("websocket", lambda ws: ws.on("framesent", lambda frame: sent.append(len(frame))))
            page.goto(f"{base_url}/decoding")
            wait_for_app(page)
            wait_charts_settled(page)
            assert page.locator(".js-plotly-plot").count() == 1
            runs, messages = script_runs(page), len(sent)
            frames = page.evaluate(  # each step's candidate probabilities, as they reached the browser
                "() => document.querySelector('.js-plotly-plot')._transitionData._frames"
                ".map(frame => Array.from(frame.data[0].x))"
            )
            last = len(frames) - 1
            assert last >= 2 and shown_step(page)["active"] == 0
            for step in (last, 1, last // 2 + 1, 0):
                click_step(page, step)
                shown = shown_step(page)
                assert shown["text"].startswith(f"Step {step}:") and shown["range"] == [-0.5, step + 0.5]
                assert shown["rows"] == step + 1, "the mask shows the prefix of this step, no later position"
                assert shown["candidates"] == frames[step], "the candidates are this step's"
            page.locator(".updatemenu-button", has_text="Play fast").click()
            page.wait_for_function(f"() => ({SLIDER_STATE})().active >= 2", timeout=30_000)
            page.locator(".updatemenu-button", has_text="Pause").click()
            paused = shown_step(page)["active"]
            time.sleep(2.5)  # longer than two steps of the fast pace
            assert shown_step(page)["active"] == paused
            assert script_runs(page) == runs, "moving through the steps started a script run"
            assert len(sent) == messages, "moving through the steps sent the server a message"
            assert page.locator(ERROR_BOXES).count() == 0
        finally:
            browser.close()
