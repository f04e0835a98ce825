"""bench/load.py in its short form: 4 concurrent websocket sessions, 2 asks each, checked against a serial run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import load  # noqa: E402

PRETRAINED = ROOT / "pretrained"


def test_score_counts_an_answer_of_another_session_as_crossed() -> None:
    plans = load.level_plans([2], 2)
    asks = [ask for session in plans[0] for ask in session]
    expected = {ask: load.Answer(f"without {ask.text}", f"with {ask.text}") for ask in asks}
    first, second = plans[0]
    outcomes = [
        load.SessionOutcome(answers=[expected[second[0]], expected[first[1]]]),  # one answer of session 1
        load.SessionOutcome(answers=[load.Answer("x", "y"), None], failures=["timeout"]),  # nobody's, and a failure
    ]
    scored = load.score(plans[0], outcomes, expected)
    assert (scored["crossed"], scored["wrong"], scored["errors"]) == (1, 1, 1)


def test_plans_never_repeat_an_ask_across_sessions_or_levels() -> None:
    plans = load.level_plans([1, 4, 16, 32], 3)
    asks = [ask for level in plans for session in level for ask in session]
    assert len(asks) == (1 + 4 + 16 + 32) * 3
    assert len({ask.text for ask in asks}) == len(asks)


@pytest.mark.slow
def test_four_sessions_get_their_own_answers() -> None:
    completed = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "load.py"), "--sessions", "4", "--interactions", "2"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"},
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    report = json.loads(completed.stdout)
    [result] = report["results"]
    assert report["distinct_answers"] == 1.0  # every ask has an answer of its own, so a crossing would show
    assert result["sessions"] == 4
    assert result["interactions"] == 8
    assert (result["errors"], result["crossed"], result["wrong"]) == (0, 0, 0), result["first_errors"]
    assert report["server_log_errors"] == 0
    assert result["server_rss_mb"] > 100 and result["server_cpu_s"] > 0


def test_bad_arguments_end_in_one_line_and_exit_code_2() -> None:
    completed = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "load.py"), "--url", "http://example.com:80"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 2
    assert completed.stderr.count("\n") == 1 and "127.0.0.1" in completed.stderr
