"""App benchmark: server-side rerun time, browser load and interaction times against floors, server memory.

    OMP_NUM_THREADS=1 .venv/bin/python bench/app.py [--models-dir DIR] [--reruns 10] [--renders 5] [--rounds 6]
        [--sentences 100] [--skip-browser] [--memory]

Prints one JSON object. Without --models-dir: the repo's pretrained/ when it holds models, else a tiny model made in
a temporary folder (tests/tiny_models.py, about 10 s). Browser interactions (issue 14) are timed in the page's own
clock (tests/app_helpers.py REDRAW_TIMER_SCRIPT: from the input event to the last change inside a plotly chart), in
the same rounds as the floor they are compared with:
- step_ms: a step change on the decoding page (a click on its plotly slider) until its chart is redrawn; the floor,
  step_floor_ms: a bare Streamlit page whose slider reruns the script and redraws five 20 x 20 heatmaps.
  Bar: step_ratio = step / floor <= 0.25.
- head_change_ms: another head in the Attention page's stage-by-stage figure (a click on its own Head slider, shown in
  the browser); bar <= 1.0 x the step floor. head_select_ms (no bar): the head the stage view opens at, from its
  selectbox, a server rerun of the grid of every layer and head and of the stage figure.
- sentence_change_ms: a new 15-word sentence on the Attention page until every chart is redrawn; bar <= 2.0 x floor.
- load_ratio: the Attention page's fresh-context load against a one-heatmap floor page; bar <= 1.3. Beside it, for
  information: floor_at_path_ratio, that floor page opened by its path in a plain two-page Streamlit app over the
  plain floor: what Streamlit's front end costs any page opened at its own path, and what viz_app/serve.py spares
  the app's pages (it names the server's base URL, so the front end does not first try the path as one).
--memory adds bench/server_memory.py's keys (one server, hundreds of reruns; minutes).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("OMP_NUM_THREADS", "1")

from viz_app.settings import DEFAULT_MODELS_DIR, MODELS_DIR_ENV, available_models  # noqa: E402

WORDS = (
    "man woman dog child girl boy street red blue green running walking sitting standing ball water park city "
    "bike shirt hat young old small big two three group people playing looking holding near front building"
).split()

RSS_CODE = r"""
import json, random, sys, time
sys.path.insert(0, {root!r})
from viz_app import resources
from viz_app.settings import available_models
from pathlib import Path
resources.configure_torch()
models = Path({models!r})
rng = random.Random(1)
words = {words!r}
start = time.perf_counter()
names = available_models(models)
for name in names:
    path = str(models / name)
    resources.model_info(path)
    resources.embedding_projection(path)
count = 0
for i in range({sentences}):
    text = " ".join(rng.choice(words) for _ in range(15)).capitalize() + "."
    for name in names:
        resources.get_trace(str(models / name), text)
        count += 1
status = dict(line.split(":", 1) for line in open("/proc/self/status") if ":" in line)
print(json.dumps({{"rss_mb": int(status["VmRSS"].split()[0]) / 1024, "hwm_mb": int(status["VmHWM"].split()[0]) / 1024,
                   "traces": count, "models": names, "seconds": time.perf_counter() - start}}))
"""


def sentence(index: int, length: int = 15) -> str:
    import random

    rng = random.Random(1000 + index)
    return "A " + " ".join(rng.choice(WORDS) for _ in range(length - 1)) + "."


def default_models_dir(scratch: Path) -> Path:
    if available_models(DEFAULT_MODELS_DIR):
        return DEFAULT_MODELS_DIR
    from app_helpers import build_models_dir

    return build_models_dir(scratch)


def bench_reruns(count: int) -> list[float]:
    """AppTest on the attention page: time at.run() after typing a new 15-word sentence."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "viz_app" / "app.py"), default_timeout=120)
    at.run()
    at.switch_page("views/attention.py")
    at.run()
    for warm in range(2):
        at.text_area(key="sentence").set_value(sentence(-1 - warm))
        at.run()
    times = []
    for i in range(count):
        at.text_area(key="sentence").set_value(sentence(i))
        start = time.perf_counter()
        at.run()
        times.append((time.perf_counter() - start) * 1000)
        if at.exception:
            raise RuntimeError(f"the attention page failed: {at.exception[0].value}")
    return times


FLOOR_APP = """
import plotly.graph_objects as go
import streamlit as st

st.title("Floor")
st.plotly_chart(go.Figure(go.Heatmap(z=[[0.1, 0.9], [0.6, 0.4]])), width="stretch")
"""

# The same floor page as the second page of a plain two-page st.navigation app, loaded by its own path (/floor).
# Streamlit's front end, opened at a path, first asks for /floor/_stcore/health (it tries the path as the server's
# base URL), waits 100 ms after the 404 and only then asks /_stcore/health: a cost of any page but the first in plain
# Streamlit, which viz_app/serve.py spares the app's pages.
FLOOR_NAV_APP = """
from pathlib import Path

import streamlit as st

here = Path(__file__).parent
st.navigation([st.Page(here / "floor_home.py", title="Home", default=True), st.Page(here / "floor_page.py",
    title="Floor", url_path="floor")]).run()
"""
FLOOR_HOME = 'import streamlit as st\n\nst.title("Home")\n'


def bench_browser(models: Path, count: int, scratch: Path) -> tuple[dict[str, list[float]], int]:
    """Seconds from navigation to the last plotly chart of the attention page drawn, three ways in the same rounds.

    cold: page.goto(/attention) in a new browser context (empty HTTP cache, like a first visit in a fresh profile:
    Streamlit's scripts and the 4.7 MB plotly.js bundle are fetched and compiled every time). warm: page.goto in
    one context kept for all loads, a new tab per load (a returning user's cache). in_app: the Translate page
    loaded, then the sidebar's "Attention" link clicked (how a user moves between the app's pages). Times come
    from the page's own clock (tests/app_helpers.py CHART_TIMER_SCRIPT), so checking for the charts adds nothing.
    floor: in the same rounds, the cold load of a one-line Streamlit page with one 2 x 2 plotly heatmap (what
    Streamlit and plotly.js cost on this machine before any of the app's own content). floor_at_path: the same page
    as the second page of a plain two-page app, loaded at its own path (FLOOR_NAV_APP), for the share of the load
    that opening a page by its path costs in Streamlit (which viz_app/serve.py spares the app's pages).
    """
    from app_helpers import VIEWPORT, charts_drawn_at, install_chart_timer, launch_chromium, streamlit_server
    from playwright.sync_api import sync_playwright

    times: dict[str, list[float]] = {"cold": [], "warm": [], "in_app": [], "floor": [], "floor_at_path": []}
    expected = 0
    floor_app = scratch / "floor_app.py"
    floor_app.write_text(FLOOR_APP, encoding="utf-8")
    (scratch / "floor_page.py").write_text(FLOOR_APP, encoding="utf-8")
    (scratch / "floor_home.py").write_text(FLOOR_HOME, encoding="utf-8")
    floor_nav_app = scratch / "floor_nav_app.py"
    floor_nav_app.write_text(FLOOR_NAV_APP, encoding="utf-8")
    with (
        streamlit_server(models) as base_url,
        streamlit_server(models, app_path=floor_app) as floor_url,
        streamlit_server(models, app_path=floor_nav_app) as floor_nav_url,
        sync_playwright() as playwright,
    ):
        browser = launch_chromium(playwright)
        warm_context = browser.new_context(viewport=VIEWPORT)
        try:
            for i in range(count + 1):  # the first round warms the server's caches and is not counted
                for kind in times:
                    page = warm_context.new_page() if kind == "warm" else browser.new_page(viewport=VIEWPORT)
                    install_chart_timer(page)
                    if kind in ("floor", "floor_at_path"):
                        page.goto(floor_url if kind == "floor" else f"{floor_nav_url}/floor")
                        drawn_s, _ = charts_drawn_at(page, 1)
                        if i > 0:
                            times[kind].append(drawn_s)
                        page.close()
                        continue
                    if kind == "in_app":
                        page.goto(f"{base_url}/")
                        charts_drawn_at(page, 1)
                        start_ms = page.evaluate("() => { window.__resetChartTimer(); return performance.now(); }")
                        page.locator('[data-testid="stSidebarNav"] a', has_text="Attention").click()
                    else:
                        start_ms = 0.0
                        page.goto(f"{base_url}/attention")
                    drawn_s, drawn = charts_drawn_at(page, expected or 1)
                    expected = expected or drawn
                    if i > 0:
                        times[kind].append(drawn_s - start_ms / 1000.0)
                    page.close()
        finally:
            browser.close()
    return times, expected


STEP_FLOOR_APP = """
import numpy as np
import plotly.graph_objects as go
import streamlit as st

st.title("Step floor")
step = st.slider("Step", 0, 1000, 0)
rng = np.random.default_rng(step)
for index in range(5):
    z = rng.random((20, 20))
    st.plotly_chart(go.Figure(go.Heatmap(z=z, zmin=0, zmax=1)), width="stretch", key=f"heatmap{index}")
"""
INTERACTIONS = ("step_floor", "step", "head_change", "head_select", "sentence_change")


def open_measured(browser, url: str):  # type: ignore[no-untyped-def]
    """A new tab on `url` with the redraw timer installed, its charts drawn."""
    from app_helpers import VIEWPORT, install_redraw_timer, wait_charts_settled, wait_for_app

    page = browser.new_page(viewport=VIEWPORT)
    install_redraw_timer(page)
    page.goto(url)
    wait_for_app(page)
    wait_charts_settled(page)
    return page


def floor_step(page) -> float:  # type: ignore[no-untyped-def]
    """The floor page's slider one step on, by keyboard: the script reruns and five heatmaps are redrawn."""
    from app_helpers import redrawn_after_input

    thumb = page.locator('[data-testid="stSlider"] input[type="range"], [data-testid="stSlider"] [role="slider"]')
    thumb.first.focus()
    page.keyboard.press("ArrowRight")
    return redrawn_after_input(page)


def decoding_step(page, round_index: int) -> float:  # type: ignore[no-untyped-def]
    """A click on the decoding figure's own slider at another step: plotly shows that step's frame."""
    from app_helpers import redrawn_after_input

    rail = page.locator(".js-plotly-plot .slider-rail-rect").first
    rail.scroll_into_view_if_needed()
    box = rail.bounding_box()
    steps = page.evaluate("() => document.querySelector('.js-plotly-plot')._fullLayout.sliders[0].steps.length")
    active = page.evaluate("() => document.querySelector('.js-plotly-plot')._fullLayout.sliders[0].active")
    target = (3 * round_index + 2) % steps
    if target == active:
        target = (target + 1) % steps
    page.mouse.click(box["x"] + box["width"] * target / max(steps - 1, 1), box["y"] + box["height"] / 2)
    return redrawn_after_input(page)


def choose_option(page, key: str, option: str) -> None:  # type: ignore[no-untyped-def]
    """Type an option into the selectbox of this widget key and take it with Enter (the input the timer sees)."""
    box = page.locator(f".st-key-{key} input").first
    box.focus()
    box.press("ArrowDown")
    box.fill(option)
    page.locator('[role="option"]').first.wait_for()
    box.press("Enter")


def head_change(page, round_index: int) -> float:  # type: ignore[no-untyped-def]
    """Another head in the Attention page's stage-by-stage figure, by a click on that figure's own Head slider: plotly
    shows that head's frame in the browser."""
    from app_helpers import redrawn_after_input

    plot = ".st-key-att_stages .js-plotly-plot"
    rail = page.locator(f"{plot} .slider-rail-rect").first
    rail.scroll_into_view_if_needed()
    box = rail.bounding_box()
    steps = page.evaluate(f"() => document.querySelector('{plot}')._fullLayout.sliders[0].steps.length")
    active = page.evaluate(f"() => document.querySelector('{plot}')._fullLayout.sliders[0].active")
    target = (1 + round_index) % steps
    if target == active:
        target = (target + 1) % steps
    page.mouse.click(box["x"] + box["width"] * target / max(steps - 1, 1), box["y"] + box["height"] / 2)
    return redrawn_after_input(page)


def head_select(page, round_index: int) -> float:  # type: ignore[no-untyped-def]
    """The head the stage view opens at, from its selectbox (widget key att_head): the server reruns the grid of
    every layer and head (its frame moves) and the stage figure."""
    from app_helpers import redrawn_after_input

    choose_option(page, "att_head", str(1 + round_index % 2))
    return redrawn_after_input(page)


def sentence_change(page, round_index: int) -> float:  # type: ignore[no-untyped-def]
    """A new 15-word sentence typed into the sidebar and sent with Ctrl+Enter: a new trace, every chart redrawn."""
    from app_helpers import redrawn_after_input

    area = page.locator(".st-key-sentence textarea").first
    area.fill(sentence(500 + round_index))
    area.press("Control+Enter")
    return redrawn_after_input(page)


def bench_interactions(models: Path, rounds: int, scratch: Path) -> dict[str, list[float]]:
    """Milliseconds of each interaction (INTERACTIONS), one of each per round, after a warm-up round not counted."""
    from app_helpers import launch_chromium, streamlit_server
    from playwright.sync_api import sync_playwright

    times: dict[str, list[float]] = {name: [] for name in INTERACTIONS}
    floor_app = scratch / "step_floor_app.py"
    floor_app.write_text(STEP_FLOOR_APP, encoding="utf-8")
    with (
        streamlit_server(models) as base_url,
        streamlit_server(models, app_path=floor_app) as floor_url,
        sync_playwright() as playwright,
    ):
        browser = launch_chromium(playwright)
        try:
            floor = open_measured(browser, floor_url)
            decoding = open_measured(browser, f"{base_url}/decoding")
            attention = open_measured(browser, f"{base_url}/attention")
            for i in range(rounds + 1):
                measured = {}
                floor.bring_to_front()
                measured["step_floor"] = floor_step(floor)
                decoding.bring_to_front()
                measured["step"] = decoding_step(decoding, i)
                attention.bring_to_front()
                measured["head_change"] = head_change(attention, i)
                measured["head_select"] = head_select(attention, i)
                measured["sentence_change"] = sentence_change(attention, i)
                if i > 0:
                    for name, value in measured.items():
                        times[name].append(value)
        finally:
            browser.close()
    return times


def interaction_report(times: dict[str, list[float]], load_s: float, load_floor_s: float) -> dict:
    """Medians, ratios to the floors and whether each bar of issue 14 is met."""
    median = {name: statistics.median(values) for name, values in times.items()}
    floor = median["step_floor"]
    ratios = {
        "step_ratio": median["step"] / floor,
        "head_change_ratio": median["head_change"] / floor,
        "sentence_change_ratio": median["sentence_change"] / floor,
        "load_ratio": load_s / load_floor_s,
    }
    bars = {"step_ratio": 0.25, "head_change_ratio": 1.0, "sentence_change_ratio": 2.0, "load_ratio": 1.3}
    return {
        "step_ms_median": round(median["step"], 1),
        "step_ms_max": round(max(times["step"]), 1),
        "step_floor_ms_median": round(floor, 1),
        "head_change_ms_median": round(median["head_change"], 1),
        "head_select_ms_median": round(median["head_select"], 1),
        "head_select_ratio": round(median["head_select"] / floor, 3),
        "sentence_change_ms_median": round(median["sentence_change"], 1),
        **{name: round(value, 3) for name, value in ratios.items()},
        "bars": bars,
        "bars_met": {name: ratios[name] <= bar for name, bar in bars.items()},
        "interaction_method": "Playwright + /usr/bin/chromium 1400x900, one tab each on the step floor page, the "
        "decoding page and the Attention page; per round one of each interaction, in this order: the floor's slider "
        "one step on (ArrowRight), a click on the decoding figure's plotly slider at another step, a click on the "
        "Attention page's stage figure's Head slider at another head, another head in the stage view's selectbox "
        "(head_select), a new 15-word sentence on the Attention page (Ctrl+Enter). Each time "
        "is the page's own clock from the input event to the last change inside any plotly chart (a "
        f"MutationObserver); median of {len(times['step'])} rounds after a warm-up round",
    }


def bench_memory(models: Path) -> dict:
    """bench/server_memory.py's measure_server_memory, when that file is there."""
    if not (ROOT / "bench" / "server_memory.py").exists():
        return {"memory_error": "bench/server_memory.py is missing"}
    sys.path.insert(0, str(ROOT / "bench"))
    from server_memory import measure_server_memory

    return measure_server_memory(models)


def bench_rss(models: Path, sentences: int) -> dict:
    code = RSS_CODE.format(root=str(ROOT), models=str(models), words=WORDS, sentences=sentences)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models-dir", type=Path, default=None)
    parser.add_argument("--reruns", type=int, default=10)
    parser.add_argument("--renders", type=int, default=5)
    parser.add_argument("--sentences", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=6, help="rounds of browser interactions")
    parser.add_argument("--skip-browser", action="store_true")
    parser.add_argument("--memory", action="store_true", help="add bench/server_memory.py (minutes)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        models = args.models_dir or default_models_dir(Path(scratch))
        os.environ[MODELS_DIR_ENV] = str(models)
        names = available_models(models)
        if not names:
            raise SystemExit(f"no model folder in {models}")
        reruns = bench_reruns(args.reruns)
        report: dict = {
            "models_dir": str(models),
            "models": names,
            "page_model": names[0],
            "rerun_ms_median": round(statistics.median(reruns), 1),
            "rerun_ms_min": round(min(reruns), 1),
            "rerun_ms_max": round(max(reruns), 1),
            "rerun_method": "AppTest, attention page, new 15-word sentence per run (trace not cached), "
            f"median of {len(reruns)} after 2 warm-ups",
        }
        if not args.skip_browser:
            renders, charts = bench_browser(models, args.renders, Path(scratch))
            report.update(
                browser_render_s_median=round(statistics.median(renders["cold"]), 3),
                browser_render_s_max=round(max(renders["cold"]), 3),
                browser_render_warm_cache_s_median=round(statistics.median(renders["warm"]), 3),
                browser_render_in_app_s_median=round(statistics.median(renders["in_app"]), 3),
                browser_floor_s_median=round(statistics.median(renders["floor"]), 3),
                browser_floor_at_path_s_median=round(statistics.median(renders["floor_at_path"]), 3),
                floor_at_path_ratio=round(
                    statistics.median(renders["floor_at_path"]) / statistics.median(renders["floor"]), 3
                ),
                browser_charts=charts,
                browser_method="Playwright + /usr/bin/chromium 1400x900, time from navigation start to the last of "
                f"the attention page's {charts} plotly charts drawn, in the page's clock; median of "
                f"{len(renders['cold'])} after a warm-up round. The headline is goto(/attention) in a new browser "
                "context per load (empty cache); warm_cache: goto in one reused context (new tab per load); in_app: "
                "from the Translate page, a click on the sidebar's Attention link; floor: a new context loading a "
                "one-line Streamlit page with one 2 x 2 plotly heatmap; floor_at_path: the same page as the second "
                "page of a plain two-page st.navigation app, loaded at its path (/floor), for information. All five in "
                "the same rounds",
            )
            interactions = bench_interactions(models, args.rounds, Path(scratch))
            report.update(
                interaction_report(
                    interactions, statistics.median(renders["cold"]), statistics.median(renders["floor"])
                )
            )
        if args.memory:
            report.update(bench_memory(models))
        rss = bench_rss(models, args.sentences)
        report.update(
            rss_mb=round(rss["rss_mb"], 1),
            peak_rss_mb=round(rss["hwm_mb"], 1),
            rss_method="subprocess importing viz_app.resources (the server's cached functions, outside a server): "
            f"every model loaded and projected, then {args.sentences} different 15-word sentences traced on each "
            f"model ({rss['traces']} traces), VmRSS from /proc/self/status",
            python=platform.python_version(),
            cpu_count=os.cpu_count(),
            omp_num_threads=os.environ.get("OMP_NUM_THREADS"),
        )
    print(json.dumps(report))


if __name__ == "__main__":
    main()
