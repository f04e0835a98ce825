"""Where the browser's time goes when a page of the app loads: a V8 CPU profile of one load, as one JSON object.

    .venv/bin/python bench/browser_profile.py [--page attention] [--models-dir pretrained] [--sentences N]

Starts `streamlit run` headless, loads the page once to warm the server's caches, then loads it again in a new
browser context with the Chrome DevTools profiler on (200 us sampling). Prints the wall time, the sampled CPU time
per script file and the functions with the most self time ("(idle)" is the page waiting for the server).

--sentences N: instead of a load, profile N new 15-word sentences typed into the loaded page, and also report every
plotly.js draw pass of every chart (its plotly_afterplot event, hooked as soon as the chart's element appears) with
the width it was drawn at, in the page's clock from the key press. Streamlit draws a new chart twice (first at the
figure's own width, then at the column's); see viz_app/ui.py plotly_chart for why the second pass is cheap.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from app_helpers import (  # noqa: E402
    VIEWPORT,
    install_redraw_timer,
    launch_chromium,
    redrawn_after_input,
    streamlit_server,
    wait_charts_settled,
)
from playwright.sync_api import sync_playwright  # noqa: E402


def summarise(profile: dict[str, Any], top: int) -> dict[str, Any]:
    """Self time per script file and per function from a DevTools Profiler.Profile."""
    nodes = {node["id"]: node for node in profile["nodes"]}
    self_us: collections.Counter[int] = collections.Counter()
    for node_id, delta in zip(profile["samples"], profile["timeDeltas"], strict=True):
        self_us[node_id] += delta
    by_file: collections.Counter[str] = collections.Counter()
    by_function: collections.Counter[str] = collections.Counter()
    for node_id, micros in self_us.items():
        frame = nodes[node_id]["callFrame"]
        script = frame["url"].rsplit("/", 1)[-1] or "(no script)"
        by_file[script] += micros
        by_function[f"{frame['functionName'] or '(anonymous)'} @ {script}:{frame.get('lineNumber', -1)}"] += micros
    return {
        "sampled_ms": round(sum(self_us.values()) / 1000, 1),
        "ms_by_script": {name: round(us / 1000, 1) for name, us in by_file.most_common(top)},
        "ms_by_function": {name: round(us / 1000, 1) for name, us in by_function.most_common(top)},
    }


# Installed before the page's scripts: every plotly chart's draw passes, hooked from a MutationObserver (whose
# callback runs before the promise that ends plotly's first draw), as [ms, chart, layout width, fullLayout width].
DRAW_PASSES_SCRIPT = """
(() => {
    window.__passes = []; let charts = 0;
    const hook = (gd) => {
        if (gd.__passHook || !gd.on) return;
        const id = gd.__passHook = ++charts;
        gd.on('plotly_afterplot', () => window.__passes.push(
            [performance.now(), id, gd.layout.width ?? null, gd._fullLayout.width]));
    };
    new MutationObserver((records) => {
        for (const record of records) {
            const node = record.target;
            if (node.nodeType === 1 && node.classList.contains('js-plotly-plot')) hook(node);
        }
    }).observe(document, {subtree: true, attributes: true, attributeFilter: ['class']});
})();
"""


def profile_sentences(base_url: str, page_name: str, count: int, top: int) -> dict[str, Any]:
    """N new sentences on a loaded page: the CPU profile of all of them, and each one's chart draw passes."""
    sys.path.insert(0, str(ROOT / "bench"))
    from app import sentence

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            install_redraw_timer(page)
            page.add_init_script(DRAW_PASSES_SCRIPT)
            page.goto(f"{base_url}/{page_name}")
            wait_charts_settled(page, quiet_s=0.3)
            area = page.locator(".st-key-sentence textarea").first
            session = page.context.new_cdp_session(page)
            session.send("Profiler.enable")
            session.send("Profiler.setSamplingInterval", {"interval": 200})
            session.send("Profiler.start")
            rounds = []
            for index in range(count):
                page.evaluate("() => { window.__passes = []; }")
                area.fill(sentence(800 + index))
                area.press("Control+Enter")
                total_ms = redrawn_after_input(page)
                start, passes = page.evaluate("() => [window.__inputAt, window.__passes]")
                rounds.append(
                    {"redrawn_ms": round(total_ms, 1),
                     "draw_passes": [[round(at - start), chart, width, full] for at, chart, width, full in passes]}
                )  # fmt: skip
            profile = session.send("Profiler.stop")["profile"]
        finally:
            browser.close()
    return {"rounds": rounds, **summarise(profile, top)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--page", default="attention")
    parser.add_argument("--models-dir", type=Path, default=ROOT / "pretrained")
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--sentences", type=int, default=0, help="profile N new sentences instead of a load")
    args = parser.parse_args()
    if args.sentences:
        with streamlit_server(args.models_dir) as base_url:
            report = profile_sentences(base_url, args.page, args.sentences, args.top)
        print(json.dumps({"page": args.page, "sentences": args.sentences, **report}))
        return
    with streamlit_server(args.models_dir) as base_url, sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            warm_up = browser.new_page(viewport=VIEWPORT)
            warm_up.goto(f"{base_url}/{args.page}")
            charts = wait_charts_settled(warm_up, quiet_s=0.3)
            warm_up.close()
            page = browser.new_page(viewport=VIEWPORT)
            session = page.context.new_cdp_session(page)
            session.send("Profiler.enable")
            session.send("Profiler.setSamplingInterval", {"interval": 200})
            session.send("Profiler.start")
            start = time.perf_counter()
            page.goto(f"{base_url}/{args.page}")
            wait_charts_settled(page, expected=charts, quiet_s=0.3)
            wall_s = time.perf_counter() - start - 0.3
            profile = session.send("Profiler.stop")["profile"]
        finally:
            browser.close()
    print(json.dumps({"page": args.page, "charts": charts, "wall_s": round(wall_s, 3), **summarise(profile, args.top)}))


if __name__ == "__main__":
    main()
