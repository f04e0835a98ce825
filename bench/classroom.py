"""A class opening one page at once: N sessions ask for the same page on the same sentence, without browsers.

    OMP_NUM_THREADS=1 .venv/bin/python bench/classroom.py --variant DIR [--sessions 12] [--waves 3]
        [--path attention] [--models-dir pretrained]

Two servers run side by side: this checkout's app (A) and DIR's (B), another checkout of the project (for example
a `git worktree` of an earlier commit). A wave opens `--sessions` sessions at once on one server (each a thread
speaking Streamlit's websocket protocol, bench/st_client.py), every one asking for the page on the app's default
sentence, and times the wave from its start until the last session's run has finished. Waves alternate between
the servers, one warm-up wave each first; every wave uses new sessions. Traffic goes to 127.0.0.1 only. Prints one
JSON object: the waves' times, their medians, and B / A.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("OMP_NUM_THREADS", "1")
MAX_SESSIONS = 64


def wave(base_url: str, page: str, sessions: int) -> tuple[float, int]:
    """Seconds from the start of a wave until every session's run has finished, and the fewest charts one got."""
    from st_client import StreamlitSession, page_cookies

    cookies = page_cookies(base_url)
    finished: list[float] = []
    charts: list[int] = []
    errors: list[BaseException] = []

    def one() -> None:
        try:
            with StreamlitSession(base_url, page=page, cookies=cookies) as session:
                run = session.run()
            finished.append(time.perf_counter())
            charts.append(run.charts)
        except BaseException as error:  # reported below, after every thread has ended
            errors.append(error)

    threads = [threading.Thread(target=one) for _ in range(sessions)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise RuntimeError(f"{len(errors)} of {sessions} sessions failed: {errors[0]}")
    return max(finished) - start, min(charts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", type=Path, required=True, help="another checkout of the project")
    parser.add_argument("--sessions", type=int, default=12)
    parser.add_argument("--waves", type=int, default=3)
    parser.add_argument("--path", default="attention", help="the page's URL path")
    parser.add_argument("--models-dir", type=Path, default=ROOT / "pretrained")
    args = parser.parse_args()
    if not (args.variant / "viz_app" / "app.py").is_file():
        parser.exit(2, f"classroom.py: error: {args.variant} holds no viz_app/app.py\n")
    if not 1 <= args.sessions <= MAX_SESSIONS or args.waves < 1:
        parser.exit(2, f"classroom.py: error: --sessions must be 1-{MAX_SESSIONS} and --waves at least 1\n")

    from app_helpers import server_entry, streamlit_server

    times: dict[str, list[float]] = {"A": [], "B": []}
    fewest_charts = {"A": 10**9, "B": 10**9}
    with (
        streamlit_server(args.models_dir) as a_url,
        streamlit_server(args.models_dir, app_path=server_entry(args.variant.resolve())) as b_url,
    ):
        urls = {"A": a_url, "B": b_url}
        for url in urls.values():  # warm-up: models loaded, the sentence traced, caches filled
            wave(url, args.path, args.sessions)
        for index in range(args.waves):
            for name in ("A", "B") if index % 2 == 0 else ("B", "A"):
                seconds, charts = wave(urls[name], args.path, args.sessions)
                times[name].append(seconds)
                fewest_charts[name] = min(fewest_charts[name], charts)
    median = {name: statistics.median(values) for name, values in times.items()}
    print(
        json.dumps(
            {
                "path": args.path,
                "variant": str(args.variant.resolve()),
                "sessions": args.sessions,
                "waves": args.waves,
                "median_s": {name: round(value, 3) for name, value in median.items()},
                "b_over_a": round(median["B"] / median["A"], 3),
                "times_s": {name: [round(value, 3) for value in values] for name, values in times.items()},
                "fewest_charts": fewest_charts,
            }
        )
    )


if __name__ == "__main__":
    main()
