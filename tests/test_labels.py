"""Every token label legible, read from the browser: for a 40-token sentence at 1280 x 800 (and 1400 x 900), each
heatmap draws one label per token (as many times as it has panels), no two labels' boxes overlap, and none sticks
out of its chart's own box; titles fit their chart too. Plotly draws tick labels as SVG text, so their boxes come
from getBoundingClientRect in the page itself.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from app_helpers import (  # noqa: F401  (models_dir is a fixture)
    TINY_MODEL_NAME,
    contrast,
    launch_chromium,
    luminance,
    models_dir,
    streamlit_server,
    wait_charts_settled,
    wait_for_app,
)
from playwright.sync_api import Page, sync_playwright

from model.data.checkpoint import load_pretrained

SOURCE_TOKENS = 40
WORDS = (
    "A man in a blue shirt and a young girl with a red hat are walking their two brown dogs along the busy street "
    "near the old market while children play soccer on the green grass"
).split()
SHOTS = Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"

# For every chart on the page: its key, the tick labels of each of its axes (one list per axis of every subplot), the
# fill colours of its text, and the problems found: a label with an empty box, one that sticks out of the chart, two
# that overlap; the same for annotations (such as the names of the sentence's tokens on the map of the vocabulary).
MEASURE = """
() => {
  const overlap = (a, b) => a.left < b.right - 0.5 && b.left < a.right - 0.5
      && a.top < b.bottom - 0.5 && b.top < a.bottom - 0.5;
  const inside = (a, b) => a.left >= b.left - 0.5 && a.right <= b.right + 0.5
      && a.top >= b.top - 0.5 && a.bottom <= b.bottom + 0.5;
  return [...document.querySelectorAll('.js-plotly-plot')].map(plot => {
    const box = plot.querySelector('.main-svg').getBoundingClientRect();
    const holder = plot.closest('[class*="st-key-chart-box-"]');
    const key = holder ? holder.className.match(/st-key-chart-box-([\\w-]+)/)[1] : null;
    const labels = [...plot.querySelectorAll('.xaxislayer-above text, .yaxislayer-above text')].map(t => ({
      text: t.textContent, axis: t.closest('.xaxislayer-above') ? 'x' : 'y', rect: t.getBoundingClientRect()}));
    const problems = [];
    labels.forEach((a, i) => {
      if (!a.rect.width || !a.rect.height) problems.push(`no box: ${a.text}`);
      if (!inside(a.rect, box)) problems.push(`sticks out of the chart: ${a.text}`);
      labels.slice(i + 1).forEach(b => {
        if (overlap(a.rect, b.rect)) problems.push(`overlap: ${a.text} | ${b.text}`);
      });
    });
    const notes = [...plot.querySelectorAll('.annotation-text')].map(t => t.getBoundingClientRect());
    notes.forEach((a, i) => {
      if (!inside(a, box)) problems.push('an annotation sticks out of the chart');
      notes.slice(i + 1).forEach(b => { if (overlap(a, b)) problems.push('two annotations overlap'); });
    });
    plot.querySelectorAll('.cbtitle text, .cbaxis text').forEach(t => {
      if (!inside(t.getBoundingClientRect(), box)) problems.push(`colour bar text cut: ${t.textContent}`);
    });
    const title = plot.querySelector('.gtitle');
    if (title && !inside(title.getBoundingClientRect(), box)) problems.push(`title cut: ${title.textContent}`);
    const texts = plot.querySelectorAll('.xaxislayer-above text, .yaxislayer-above text, .annotation-text, '
        + '.gtitle, .cbtitle text, .cbaxis text, .slider-group text');
    // what a text is drawn on: the smallest opaque shape (a box of a diagram) or annotation box under its centre
    const boxes = [...plot.querySelectorAll('.shapelayer path, g.annotation rect.bg')].map(el => {
      const style = getComputedStyle(el);
      return {rect: el.getBoundingClientRect(), fill: style.fill,
              opacity: parseFloat(style.fillOpacity || '1') * parseFloat(style.opacity || '1')};
    }).filter(b => b.fill && b.fill !== 'none' && !/^rgba\\(.*, 0\\)$/.test(b.fill) && b.opacity > 0.5);
    const under = rect => {
      const x = rect.left + rect.width / 2, y = rect.top + rect.height / 2;
      const hits = boxes.filter(b => x >= b.rect.left && x <= b.rect.right && y >= b.rect.top && y <= b.rect.bottom);
      hits.sort((a, b) => a.rect.width * a.rect.height - b.rect.width * b.rect.height);
      return hits.length ? hits[0].fill : '';
    };
    const seen = [...texts].filter(t => parseFloat(getComputedStyle(t).fillOpacity || '1') > 0);  // drawn, not hidden
    const fills = [...new Set(seen.map(t => `${getComputedStyle(t).fill}|${under(t.getBoundingClientRect())}`))];
    const axes = [...plot.querySelectorAll('.xaxislayer-above, .yaxislayer-above')].map(
      layer => [...layer.querySelectorAll('text')].map(t => t.textContent));
    return {key, problems, fills, axes};
  });
}
"""
TOKEN_LABEL = re.compile(r"^(\d+):")
BACKGROUND = "() => getComputedStyle(document.querySelector('[data-testid=\"stApp\"]')).backgroundColor"


def sentence_of(tokens: int, folder: Path) -> str:
    """A sentence of exactly `tokens` encoder tokens (start and end included) for the model in folder."""
    tokenizer = load_pretrained(folder).tokenizer
    text = ""
    for word in WORDS * 4:
        candidate = f"{text} {word}".strip()
        count = len(tokenizer.encode(candidate))
        if count == tokens:
            return candidate
        if count < tokens:
            text = candidate
    raise AssertionError(f"no sentence of exactly {tokens} tokens from the word list")


def token_axis_problem(labels: list[str], expected: int | None) -> str | None:
    """None when the labels are 0:..., 1:..., ..., (n-1):... repeated once per panel (no label missing), with
    n == expected when given; else what is wrong. Axes of other labels (dimensions, heads) are not token axes."""
    indices = [int(m.group(1)) for m in map(TOKEN_LABEL.match, labels) if m]
    if not labels or len(indices) != len(labels):
        return None
    count = max(indices) + 1
    if expected is not None and count != expected:
        return f"{count} tokens labelled, expected {expected}"
    if len(indices) % count or indices != list(range(count)) * (len(indices) // count):
        return f"labels missing or out of order: {len(indices)} labels for {count} tokens"
    return None


MIN_CONTRAST = 3.0  # WCAG 2's minimum for large text and for graphics; chart labels must at least meet it


def check_page(page: Page, name: str, source_keys: set[str], token_keys: set[str]) -> None:
    """Every chart on the page is free of label problems and its text stands out from the page's background; the
    charts named in source_keys label all SOURCE_TOKENS source tokens on each token axis, those in token_keys label
    some sequence without a gap."""
    charts = page.evaluate(MEASURE)
    background = page.evaluate(
        "() => getComputedStyle(document.querySelector('[data-testid=\"stApp\"]')).backgroundColor"
    )
    by_key = {chart["key"]: chart for chart in charts if chart["key"]}
    missing = (source_keys | token_keys) - set(by_key)
    assert not missing, f"{name}: charts not found: {sorted(missing)} (found {sorted(by_key)})"
    for chart in charts:
        assert not chart["problems"], f"{name} / {chart['key']}: {chart['problems'][:5]}"
        faint = []
        for pair in chart["fills"]:  # 'text colour|colour of the box it sits on' ('' for none: the page)
            fill, box = pair.split("|")
            if fill != "none" and contrast(fill, box or background) < MIN_CONTRAST:
                faint.append(f"{fill} on {box or background}")
        assert not faint, f"{name} / {chart['key']}: text too faint: {faint}"
    for key in source_keys | token_keys:
        chart = by_key[key]
        axes = chart["axes"]  # one list of tick labels per axis of every subplot
        token_axes = [axis for axis in axes if axis and all(TOKEN_LABEL.match(label) for label in axis)]
        assert token_axes, f"{name} / {key}: no token labels drawn"
        for axis in axes:
            problem = token_axis_problem(axis, SOURCE_TOKENS if key in source_keys else None)
            assert problem is None, f"{name} / {key}: {problem}"


def open_page(page: Page, link: str) -> None:
    page.get_by_role("link", name=link).first.click()
    time.sleep(0.3)
    wait_for_app(page)
    wait_charts_settled(page)


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize("theme", ["light", "dark"])
def test_every_token_label_is_drawn_apart_and_inside_its_chart(models_dir: Path, tmp_path: Path, theme: str) -> None:  # noqa: F811
    """Light and dark (the app follows the browser's colour scheme): every page with charts, a 40-token sentence."""
    text = sentence_of(SOURCE_TOKENS, models_dir / TINY_MODEL_NAME)
    SHOTS.mkdir(parents=True, exist_ok=True)
    with streamlit_server(models_dir, tmp_path / "streamlit.log") as base_url, sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800}, color_scheme=theme)
            page.goto(base_url)
            wait_for_app(page)
            sentence = page.locator('[data-testid="stSidebar"] textarea').first
            sentence.fill(text)
            sentence.press("Control+Enter")
            time.sleep(0.3)
            wait_for_app(page)
            wait_charts_settled(page)
            assert (luminance(page.evaluate(BACKGROUND)) < 0.2) == (theme == "dark"), "the theme did not follow"
            check_page(page, "overview", set(), set())

            open_page(page, "Attention")
            check_page(page, "attention, encoder", {"att_grid", "att_stages"}, set())
            page.screenshot(path=str(SHOTS / f"labels-attention-1280-{theme}.png"))
            page.get_by_text("Cross-attention", exact=True).first.click()
            time.sleep(0.3)
            wait_for_app(page)
            wait_charts_settled(page)
            check_page(page, "attention, cross", set(), {"att_grid", "att_stages"})
            page.set_viewport_size({"width": 1400, "height": 900})
            time.sleep(0.5)
            check_page(page, "attention, cross, 1400 x 900", set(), {"att_grid", "att_stages"})
            page.set_viewport_size({"width": 1280, "height": 800})

            open_page(page, "Translate")
            check_page(page, "translate", set(), {"translate_focus"})
            open_page(page, "Embeddings")
            check_page(page, "embeddings", {"emb_tokens", "emb_norms", "emb_cosine_fig"}, set())
            page.screenshot(path=str(SHOTS / f"labels-embeddings-1280-{theme}.png"))
            open_page(page, "Decoding step by step")
            check_page(page, "decoding", set(), set())
            open_page(page, "Residual stream")
            check_page(page, "residual stream", set(), set())
            open_page(page, "Head lab")
            check_page(page, "head lab", {"lab_rollout"}, {"lab_before"})
        finally:
            browser.close()
