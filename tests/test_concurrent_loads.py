"""16 sessions open a freshly started server at the same moment: no page and no server log shows an exception.

Issue 13: on a fresh server, concurrent first loads of the Attention page once raised "partially initialized module
'pandas' has no attribute 'Series'" in 4 of 16 sessions (imports racing across Streamlit's script threads). The
sessions here speak Streamlit's websocket protocol (bench/st_client.py), so the page scripts really run on the
server, for 16 clients at once, without 16 browsers competing for the CPU.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest
from app_helpers import PAGES, streamlit_server

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from st_client import PageRun, SessionError, StreamlitSession  # noqa: E402

SESSIONS = 16
PRETRAINED = ROOT / "pretrained"
LOG_MARKERS = ("Traceback", "Error", "Exception")


def first_and_second_page(index: int) -> tuple[str, str]:
    """Every session opens the Attention page first (where the race was seen), then one other page in turn."""
    others = [path for path in PAGES.values() if path != "attention"]
    return "attention", others[index % len(others)]


def open_at_once(url: str) -> list[list[PageRun] | str]:
    """Each session: connect, wait for the others, run its two pages; a failure is kept as its message."""
    start = threading.Barrier(SESSIONS)
    outcomes: list[list[PageRun] | str] = ["not run"] * SESSIONS

    def session(index: int) -> None:
        first, second = first_and_second_page(index)
        try:
            with StreamlitSession(url, first, timeout_s=120) as client:
                start.wait(timeout=60)
                runs = [client.run()]
                client.page = second
                runs.append(client.run())
            outcomes[index] = runs
        except (SessionError, OSError, threading.BrokenBarrierError) as error:
            outcomes[index] = f"{type(error).__name__}: {error}"

    threads = [threading.Thread(target=session, args=(i,)) for i in range(SESSIONS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    return outcomes


@pytest.mark.slow
def test_sixteen_concurrent_first_loads_raise_nothing(tmp_path: Path) -> None:
    log_path = tmp_path / "server.log"
    with streamlit_server(PRETRAINED, log_path=log_path) as url:
        outcomes = open_at_once(url)
    failures = [outcome for outcome in outcomes if isinstance(outcome, str)]
    assert not failures, failures[:3]
    runs = [run for outcome in outcomes for run in outcome]  # type: ignore[union-attr]
    exceptions = [text for run in runs for text in run.exceptions]
    assert exceptions == [], exceptions[:3]
    assert all(run.status == 0 for run in runs)
    attention_runs = [outcome[0] for outcome in outcomes]  # type: ignore[index]
    # every chart of the page: a layer's mean and heads, every layer and head, and the stage figure
    assert all(run.charts >= 3 for run in attention_runs), [run.charts for run in attention_runs]
    log = log_path.read_text(errors="replace")
    assert not [line for line in log.splitlines() if any(marker in line for marker in LOG_MARKERS)], log[-3000:]
