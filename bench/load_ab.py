"""A/B of a page's fresh-context load: this checkout's app against a changed copy of it, with the floor page.

    OMP_NUM_THREADS=1 .venv/bin/python bench/load_ab.py --variant DIR [--path attention] [--rounds 6]
        [--charts 3] [--variant-charts N] [--models-dir pretrained]

DIR is another checkout of the project (for example `git worktree add ../variant` with one change in it). Three
servers run side by side: this checkout's app (A), DIR's app (B) and bench/app.py's one-heatmap floor page. Each
round loads the floor, then A and B in alternating order, each in a new browser context (empty cache, like
bench/app.py's load_ratio), timed in the page's own clock up to the last plotly chart drawn
(tests/app_helpers.py CHART_TIMER_SCRIPT); a first round warms the servers and is not counted. Prints one JSON
object: the medians, A and B over the floor, B over A (medians) and the median of B / A within each round.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("OMP_NUM_THREADS", "1")


def measure(models: Path, variant: Path, path: str, rounds: int, charts: dict[str, int]) -> dict[str, list[float]]:
    """Seconds to the last chart drawn for the floor, A and B, one load of each per counted round."""
    from app import FLOOR_APP
    from app_helpers import (
        VIEWPORT,
        charts_drawn_at,
        install_chart_timer,
        launch_chromium,
        server_entry,
        streamlit_server,
    )
    from playwright.sync_api import sync_playwright

    times: dict[str, list[float]] = {"floor": [], "A": [], "B": []}
    with tempfile.TemporaryDirectory() as scratch:
        floor_app = Path(scratch) / "floor_app.py"
        floor_app.write_text(FLOOR_APP, encoding="utf-8")
        with (
            streamlit_server(models, app_path=floor_app) as floor_url,
            streamlit_server(models) as a_url,
            streamlit_server(models, app_path=server_entry(variant)) as b_url,
            sync_playwright() as playwright,
        ):
            browser = launch_chromium(playwright)
            urls = {"floor": floor_url, "A": f"{a_url}/{path}", "B": f"{b_url}/{path}"}
            try:
                for index in range(rounds + 1):
                    for kind in ("floor", "A", "B") if index % 2 == 0 else ("floor", "B", "A"):
                        page = browser.new_page(viewport=VIEWPORT)
                        install_chart_timer(page)
                        page.goto(urls[kind])
                        drawn_s, _ = charts_drawn_at(page, charts[kind])
                        page.close()
                        if index > 0:
                            times[kind].append(drawn_s)
            finally:
                browser.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", type=Path, required=True, help="another checkout of the project")
    parser.add_argument("--path", default="attention", help="the page's URL path")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--charts", type=int, default=3, help="charts A draws")
    parser.add_argument("--variant-charts", type=int, default=None, help="charts B draws (default: --charts)")
    parser.add_argument("--models-dir", type=Path, default=ROOT / "pretrained")
    args = parser.parse_args()
    if not (args.variant / "viz_app" / "app.py").is_file():
        parser.exit(2, f"load_ab.py: error: {args.variant} holds no viz_app/app.py\n")
    if args.rounds < 1:
        parser.exit(2, "load_ab.py: error: --rounds must be at least 1\n")
    charts = {"floor": 1, "A": args.charts, "B": args.variant_charts or args.charts}
    times = measure(args.models_dir, args.variant.resolve(), args.path, args.rounds, charts)
    median = {kind: statistics.median(values) for kind, values in times.items()}
    report = {
        "path": args.path,
        "variant": str(args.variant.resolve()),
        "rounds": args.rounds,
        "median_s": {kind: round(value, 3) for kind, value in median.items()},
        "a_over_floor": round(median["A"] / median["floor"], 3),
        "b_over_floor": round(median["B"] / median["floor"], 3),
        "b_over_a": round(median["B"] / median["A"], 3),
        "b_over_a_paired": round(statistics.median(b / a for a, b in zip(times["A"], times["B"], strict=True)), 3),
        "times_s": {kind: [round(value, 3) for value in values] for kind, values in times.items()},
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
