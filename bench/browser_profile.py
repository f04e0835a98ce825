"""Where the browser's time goes when a page of the app loads: a V8 CPU profile of one load, as one JSON object.

    .venv/bin/python bench/browser_profile.py [--page attention] [--models-dir pretrained]

Starts `streamlit run` headless, loads the page once to warm the server's caches, then loads it again in a new
browser context with the Chrome DevTools profiler on (200 us sampling). Prints the wall time, the sampled CPU time
per script file and the functions with the most self time ("(idle)" is the page waiting for the server).
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

from app_helpers import VIEWPORT, launch_chromium, streamlit_server, wait_charts_settled  # noqa: E402
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--page", default="attention")
    parser.add_argument("--models-dir", type=Path, default=ROOT / "pretrained")
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
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
