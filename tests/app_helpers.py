"""Shared helpers for the app tests: a models folder with one tiny model, and a streamlit server to drive."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tiny_models import make_tiny_pretrained  # noqa: E402

from model.data.checkpoint import load_pretrained  # noqa: E402
from model.data.corpus import load_pairs  # noqa: E402
from model.data.token_stats import count_tokens, write_token_stats  # noqa: E402
from viz_app import pages  # noqa: E402

APP_PATH = ROOT / "viz_app" / "app.py"  # the app's script (what AppTest runs)
SERVER_PATH = ROOT / "viz_app" / "serve.py"  # what `streamlit run` serves (`make app`): the script behind st.App
STREAMLIT = ROOT / ".venv" / "bin" / "streamlit"
CHROMIUM = Path("/usr/bin/chromium")
VIEWPORT = {"width": 1400, "height": 900}  # a laptop-sized window for every browser test and benchmark
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TINY_MODEL_NAME = "tiny-en-de"
# Page file stem -> URL path given by st.navigation (the default page is served at "/").
PAGES = {page.name: pages.url_path(page) for page in pages.PAGES}


def build_models_dir(root: Path) -> Path:
    """root/models/tiny-en-de: a models folder holding one tiny English -> German model."""
    models = root / "models"
    folder = make_tiny_pretrained(models / TINY_MODEL_NAME)
    tokenizer = load_pretrained(folder).tokenizer
    write_token_stats(folder, count_tokens(tokenizer, load_pairs("train", "en", "de")[:400], "en", "de"), None)
    return models


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A tmp models folder with one tiny model; ATTN_MODELS_DIR points at it for the whole session."""
    from viz_app.settings import MODELS_DIR_ENV

    directory = build_models_dir(tmp_path_factory.mktemp("app"))
    previous = os.environ.get(MODELS_DIR_ENV)
    os.environ[MODELS_DIR_ENV] = str(directory)
    yield directory
    if previous is None:
        os.environ.pop(MODELS_DIR_ENV, None)
    else:
        os.environ[MODELS_DIR_ENV] = previous


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(base_url: str, process: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited early with code {process.returncode}")
        try:
            with urllib.request.urlopen(f"{base_url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise TimeoutError(f"streamlit did not answer {base_url}/_stcore/health within {timeout:.0f} s")


def server_entry(checkout: Path) -> Path:
    """What `streamlit run` serves in a checkout of the project: viz_app/serve.py, or viz_app/app.py in one from
    before serve.py existed (bench/load_ab.py and bench/classroom.py compare against such checkouts)."""
    served = checkout / "viz_app" / "serve.py"
    return served if served.is_file() else checkout / "viz_app" / "app.py"


@contextmanager
def streamlit_server(
    models: Path, log_path: Path | None = None, app_path: Path = SERVER_PATH, base_path: str = ""
) -> Iterator[str]:
    """Run `streamlit run viz_app/serve.py` (or app_path) headless on a free port; yields the base URL (ending in
    /base_path when one is given, Streamlit's server.baseUrlPath); stops it by its pid."""
    from viz_app.settings import MODELS_DIR_ENV

    port = free_port()
    env = {**os.environ, MODELS_DIR_ENV: str(models), "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    command = [
        str(STREAMLIT),
        "run",
        str(app_path),
        "--server.headless",
        "true",
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
        "--browser.gatherUsageStats",
        "false",
        "--server.fileWatcherType",
        "none",
        "--server.baseUrlPath",
        base_path,
    ]
    log = open(log_path, "wb") if log_path else subprocess.DEVNULL
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}" + (f"/{base_path}" if base_path else "")
    try:
        wait_healthy(base_url, process)
        yield base_url
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        if log_path:
            log.close()  # type: ignore[union-attr]


def launch_chromium(playwright):  # type: ignore[no-untyped-def]
    """Debian's Chromium through Playwright; a missing browser is an error, never a skip."""
    if not CHROMIUM.exists():
        raise FileNotFoundError(f"{CHROMIUM} is missing: install Debian's chromium package to run the browser tests")
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


def wait_for_app(page, timeout_ms: int = 60_000) -> None:  # type: ignore[no-untyped-def]
    """Wait until the script run is over: the app's status widget no longer says it is running."""
    page.wait_for_selector('[data-testid="stApp"]', timeout=timeout_ms)
    page.wait_for_function(
        """() => {
            const app = document.querySelector('[data-testid="stApp"]');
            return app && app.getAttribute('data-test-script-state') !== 'running'
                && !document.querySelector('[data-testid="stSkeleton"]');
        }""",
        timeout=timeout_ms,
    )


def wait_charts_settled(page, expected: int | None = None, timeout_s: float = 60.0, quiet_s: float = 0.5) -> int:  # type: ignore[no-untyped-def]
    """Wait until the count of drawn plotly charts stops growing (and reaches `expected` when given)."""
    deadline = time.monotonic() + timeout_s
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        count = page.locator(".js-plotly-plot .main-svg").count()
        drawn = page.locator(".js-plotly-plot").count()
        if count != last:
            last, since = count, time.monotonic()
        elif (expected is None or drawn >= expected) and count > 0 and time.monotonic() - since >= quiet_s:
            return drawn
        time.sleep(0.05)
    raise TimeoutError(f"charts did not settle: {last} plot svgs drawn, expected {expected}")


# Installed before any page script runs: records, in the page's own clock (ms since navigation started), each
# time the number of drawn plotly charts grows, without the test having to poll the page.
CHART_TIMER_SCRIPT = """
(() => {
    window.__resetChartTimer = () => { window.__chartTimes = []; window.__chartsDrawn = 0; };
    window.__resetChartTimer();
    const count = () => {
        const now = document.querySelectorAll('.js-plotly-plot .main-svg').length;
        if (now > window.__chartsDrawn) {
            window.__chartsDrawn = now;
            window.__chartTimes.push([performance.now(), document.querySelectorAll('.js-plotly-plot').length]);
        } else if (now < window.__chartsDrawn) {
            window.__chartsDrawn = now;  // charts of the previous page removed
        }
    };
    new MutationObserver(count).observe(document, {childList: true, subtree: true});
})();
"""


def install_chart_timer(page) -> None:  # type: ignore[no-untyped-def]
    """Call before page.goto: from then on the page logs when its charts appear (see charts_drawn_at)."""
    page.add_init_script(CHART_TIMER_SCRIPT)


def charts_drawn_at(page, expected: int, timeout_s: float = 60.0, quiet_s: float = 1.0) -> tuple[float, int]:  # type: ignore[no-untyped-def]
    """Seconds from the start of navigation until the page's last plotly chart was drawn, and the chart count.

    Waits (checking every 0.25 s, one call each) until `expected` charts are drawn and nothing new has been drawn
    for quiet_s; the time itself comes from the page's clock, so the checking does not add to it.
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        times, now = page.evaluate("() => [window.__chartTimes || [], performance.now()]")
        if times and times[-1][1] >= expected and now - times[-1][0] >= quiet_s * 1000:
            return times[-1][0] / 1000.0, int(times[-1][1])
        time.sleep(0.25)
    raise TimeoutError(f"charts did not settle within {timeout_s} s: {times[-1:] if times else 'none drawn'}")


# Installed before any page script runs: the page's own clock (ms since navigation started) at the latest user input
# (pointer press or key press) and at every change inside a plotly chart, so an interaction's time is measured in the
# page, from the input to the last chart change it caused (a rerun's redraw, or a plotly frame), without polling.
REDRAW_TIMER_SCRIPT = """
(() => {
    window.__inputAt = null;
    window.__plotChanges = [];
    window.__scriptRuns = 0;
    const input = () => { window.__inputAt = performance.now(); window.__plotChanges = []; };
    document.addEventListener('pointerdown', input, true);
    document.addEventListener('keydown', input, true);
    let running = false;
    new MutationObserver((records) => {
        for (const record of records) {
            const node = record.target.nodeType === 1 ? record.target : record.target.parentElement;
            if (node && node.closest && node.closest('.js-plotly-plot')) {
                window.__plotChanges.push(performance.now());
                break;
            }
        }
        const app = document.querySelector('[data-testid="stApp"]');
        const now = !!app && app.getAttribute('data-test-script-state') === 'running';
        if (now && !running) window.__scriptRuns += 1;
        running = now;
    }).observe(document, {childList: true, subtree: true, attributes: true, characterData: true});
})();
"""


def install_redraw_timer(page) -> None:  # type: ignore[no-untyped-def]
    """Call before page.goto: from then on the page logs its latest input and every plotly chart change."""
    page.add_init_script(REDRAW_TIMER_SCRIPT)


def script_runs(page) -> int:  # type: ignore[no-untyped-def]
    """How many times the page has seen a Streamlit script run start since it loaded (needs install_redraw_timer)."""
    return int(page.evaluate("() => window.__scriptRuns"))


def redrawn_after_input(page, timeout_s: float = 60.0, quiet_s: float = 1.0) -> float:  # type: ignore[no-untyped-def]
    """Milliseconds, in the page's clock, from the latest input to the last plotly chart change after it.

    Waits (checking every 0.25 s) until no script runs and no chart has changed for quiet_s; the time itself comes
    from the page, so the checking does not add to it.
    """
    script = """() => {
        const app = document.querySelector('[data-testid="stApp"]');
        const running = !!app && app.getAttribute('data-test-script-state') === 'running';
        const changes = window.__plotChanges.filter(t => t > window.__inputAt);
        return [window.__inputAt, changes.length ? changes[changes.length - 1] : null, performance.now(), running];
    }"""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        start, last, now, running = page.evaluate(script)
        if start is not None and last is not None and not running and now - last >= quiet_s * 1000:
            return float(last - start)
        time.sleep(0.25)
    raise TimeoutError(f"no chart change settled within {timeout_s} s after the input")


def luminance(colour: str) -> float:
    """Relative luminance (WCAG 2) of a CSS 'rgb(r, g, b)', 'rgba(r, g, b, a)' or '#rrggbb' colour."""
    if colour.startswith("#"):
        channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    else:
        channels = [float(part) / 255 for part in re.findall(r"[\d.]+", colour)[:3]]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    """WCAG contrast ratio of two CSS colours, 1 (none) to 21 (black on white)."""
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)
