"""plotly.js draw time of the Attention page's charts, and what the server's garbage collection costs a rerun.

    .venv/bin/python bench/figure_draw.py [--rounds 7]

Prints one JSON object. Both halves compare two variants side by side in the same run:
- draw: each chart the Attention page sends (the spec JSON, taken from a Streamlit AppTest run on a new 15-word
  sentence) drawn by Plotly.newPlot in Debian's Chromium with the plotly.js that ships with the plotly package, once
  as sent (every labelled axis has ticklabeloverflow "allow", figures/common.py KEEP_LABELS) and once with that key
  removed (plotly's default, "hide past div"), alternating, median of `rounds` each. draw_ratio: sent / default.
- second pass: Streamlit's chart component draws every chart twice: once as it arrives, then again (Plotly.react)
  with a copy of the figure rebuilt by a JSON round trip. The second pass is timed for each chart as sent (no
  template: viz_app.ui.plotly_chart sends theme=None, figures/common.py house_style) and with a template added to
  the layout, as Streamlit's own theme carries one (it rebuilds the template object, and plotly.js then redraws the
  whole figure), alternating, median of `rounds` each. second_pass_ratio: as sent / with a template.
- gc: Streamlit runs gc.collect(2) after every script run. After a few reruns of the Attention page (the models
  loaded, so viz_app.resources.freeze_long_lived has run), the collection is timed as the server runs it (the
  long-lived objects frozen) and after gc.unfreeze() (what it cost before), median of `rounds` each.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("OMP_NUM_THREADS", "1")

DRAW_SCRIPT = """async ([specs, rounds]) => {
    const host = document.getElementById('chart');
    const out = [];
    for (const [sent, plain] of specs) {
        const times = {sent: [], plain: []};
        for (let r = 0; r < rounds; r++) {
            for (const [name, spec] of [['sent', sent], ['plain', plain]]) {
                Plotly.purge(host);
                const figure = JSON.parse(spec);
                const start = performance.now();
                await Plotly.newPlot(host, figure.data, figure.layout);
                times[name].push(performance.now() - start);
            }
        }
        out.push(times);
    }
    return out;
}"""


def attention_specs() -> tuple[list[str], object]:
    """The spec JSON of every chart of the Attention page for a new 15-word sentence, and the AppTest."""
    from app import sentence
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "viz_app" / "app.py"), default_timeout=120)
    at.run()
    at.switch_page("views/attention.py")
    at.run()
    at.text_area(key="sentence").set_value(sentence(500))
    at.run()
    if at.exception:
        raise RuntimeError(f"the attention page failed: {at.exception[0].value}")
    return [element.proto.spec for element in at.get("plotly_chart")], at


def without_keep_labels(spec: str) -> str:
    figure = json.loads(spec)
    for name, axis in figure.get("layout", {}).items():
        if name.startswith(("xaxis", "yaxis")) and isinstance(axis, dict):
            axis.pop("ticklabeloverflow", None)
    return json.dumps(figure)


def in_chromium(script: str, argument: Any) -> Any:
    """Run `script` (an async JS function of `argument`) in Chromium on a page holding the plotly.js that ships with
    the plotly package and one 1000 px wide <div id="chart">; returns what it returns."""
    import plotly
    from app_helpers import VIEWPORT, launch_chromium
    from playwright.sync_api import sync_playwright

    plotly_js = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            page.set_content('<div id="chart" style="width:1000px"></div>')
            page.add_script_tag(path=str(plotly_js))
            return page.evaluate(script, argument)
        finally:
            browser.close()


def bench_draw(specs: list[str], rounds: int) -> list[dict[str, float]]:
    pairs = [[spec, without_keep_labels(spec)] for spec in specs]
    measured = in_chromium(DRAW_SCRIPT, [pairs, rounds])
    rows = []
    for spec, times in zip(specs, measured, strict=True):
        sent, plain = statistics.median(times["sent"]), statistics.median(times["plain"])
        title = json.loads(spec).get("layout", {}).get("title", {}).get("text", "")
        rows.append(
            {"chart": title[:60], "spec_kb": round(len(spec) / 1000, 1), "sent_ms": round(sent, 1),
             "default_ms": round(plain, 1), "draw_ratio": round(sent / plain, 3)}
        )  # fmt: skip
    return rows


SECOND_PASS_SCRIPT = """async ([specs, rounds]) => {
    const host = document.getElementById('chart');
    const copy = (value) => JSON.parse(JSON.stringify(value));
    const out = [];
    for (const spec of specs) {
        const times = {sent: [], themed: []};
        for (let r = 0; r < rounds; r++) {
            for (const name of ['sent', 'themed']) {
                Plotly.purge(host);
                const figure = JSON.parse(spec);
                if (name === 'themed') figure.layout.template = {layout: {font: {family: 'sans-serif'}}};
                await Plotly.newPlot(host, figure.data, figure.layout);
                const again = copy(figure);
                const start = performance.now();
                await Plotly.react(host, again.data, again.layout);
                times[name].push(performance.now() - start);
            }
        }
        out.push(times);
    }
    return out;
}"""


def bench_second_pass(specs: list[str], rounds: int) -> list[dict[str, float]]:
    """Each chart's second draw (Plotly.react with a JSON copy of what was drawn), as sent and with a template."""
    measured = in_chromium(SECOND_PASS_SCRIPT, [specs, rounds])
    rows = []
    for spec, times in zip(specs, measured, strict=True):
        sent, themed = statistics.median(times["sent"]), statistics.median(times["themed"])
        title = json.loads(spec).get("layout", {}).get("title", {}).get("text", "")
        rows.append(
            {"chart": title[:60], "second_pass_ms": round(sent, 1), "with_template_ms": round(themed, 1),
             "second_pass_ratio": round(sent / themed, 3)}
        )  # fmt: skip
    return rows


def bench_gc(at, rounds: int) -> dict[str, float]:  # type: ignore[no-untyped-def]
    from app import sentence

    for index in range(3):
        at.text_area(key="sentence").set_value(sentence(600 + index))
        at.run()

    def collect_ms() -> float:
        start = time.perf_counter()
        gc.collect(2)
        return (time.perf_counter() - start) * 1000

    frozen = [collect_ms() for _ in range(rounds)]
    frozen_count = gc.get_freeze_count()
    gc.unfreeze()
    unfrozen = [collect_ms() for _ in range(rounds)]
    return {
        "gc_frozen_objects": frozen_count,
        "gc_collect_ms_frozen_median": round(statistics.median(frozen), 2),
        "gc_collect_ms_unfrozen_median": round(statistics.median(unfrozen), 2),
        "gc_ratio": round(statistics.median(frozen) / statistics.median(unfrozen), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    specs, at = attention_specs()
    rows = bench_draw(specs, args.rounds)
    second = bench_second_pass(specs, args.rounds)
    report = {
        "charts": rows,
        "second_pass": second,
        "second_pass_ms_total": round(sum(row["second_pass_ms"] for row in second), 1),
        "second_pass_with_template_ms_total": round(sum(row["with_template_ms"] for row in second), 1),
        "draw_ms_sent_total": round(sum(row["sent_ms"] for row in rows), 1),
        "draw_ms_default_total": round(sum(row["default_ms"] for row in rows), 1),
        **bench_gc(at, args.rounds),
        "method": f"Plotly.newPlot per chart in /usr/bin/chromium, as sent and without ticklabeloverflow, "
        f"alternating, median of {args.rounds}; second pass: Plotly.react with a JSON copy after newPlot, as sent "
        f"and with a template in the layout, alternating, median of {args.rounds}; gc.collect(2) in the AppTest "
        f"process after 4 Attention reruns, frozen then unfrozen, median of {args.rounds}",
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
