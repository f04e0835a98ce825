"""Concurrent sessions on one Streamlit server (or through nginx in front of replicas), without browsers.

    OMP_NUM_THREADS=1 .venv/bin/python bench/load.py [--sessions 1,4,16,32] [--interactions 3]
        [--models-dir pretrained] [--replicas 2] [--url http://127.0.0.1:8080 --server-pids 123,456]

Each session speaks Streamlit's own websocket protocol (bench/st_client.py), opens the Attention page, and then,
all sessions at once, asks it `--interactions` times for its own sentence with its own head switched off. Every
answer (the page's "Without them" and "With them" translations) is checked against a serial run of the same
requests on a separate, fresh server: `crossed` counts answers that belong to another session, `wrong` answers
that belong to nobody. Prints one JSON object; `results` holds one entry per session count. With --replicas R
the same levels run through nginx (deploy/) in front of 1 and then R replicas, side by side. Traffic goes to
127.0.0.1 only; sessions and interactions are capped.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
for folder in (ROOT, ROOT / "bench", ROOT / "deploy"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

from st_client import PageRun, SessionError, StreamlitSession, choice_state, page_cookies, text_state  # noqa: E402

PAGE = "attention"
SENTENCE_LABEL = "Sentence"
ZERO_LABEL = "Switch heads off"
WITHOUT, WITH = "Without them: ", "With them: "
MAX_SESSIONS = 64
MAX_INTERACTIONS = 50
RUN_TIMEOUT_S = 180.0

SUBJECTS = ("man", "woman", "dog", "child", "girl", "boy", "cyclist", "worker", "musician", "couple", "chef")
COLOURS = ("red", "blue", "green", "yellow", "black", "white", "brown")
ACTIONS = ("is walking", "is running", "is sitting", "is standing", "is waiting", "is looking", "is jumping")
PLACES = ("in the park", "on the street", "near the water", "in front of a building", "on a bench", "in the snow")


class LoadError(RuntimeError):
    """A bad argument or a server that cannot be reached: reported in one line."""


@dataclass(frozen=True)
class Ask:
    """One interaction: a sentence and the head (an option of the "Switch heads off" list) switched off."""

    text: str
    zero_option: int


@dataclass(frozen=True)
class Answer:
    """What the page showed: the translation without and with the intervention."""

    without: str | None
    with_: str | None


@dataclass
class SessionOutcome:
    """One session's answers (None where the run failed), latencies and failures."""

    answers: list[Answer | None] = field(default_factory=list)
    latencies_s: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def sentence(index: int) -> str:
    """A distinct caption-like English sentence for every index below 11 * 7 * 7 * 6."""
    subject = SUBJECTS[index % len(SUBJECTS)]
    index //= len(SUBJECTS)
    colour = COLOURS[index % len(COLOURS)]
    index //= len(COLOURS)
    action = ACTIONS[index % len(ACTIONS)]
    place = PLACES[(index // len(ACTIONS)) % len(PLACES)]
    return f"A {subject} in a {colour} jacket {action} {place}."


def plan(first: int, count: int) -> list[Ask]:
    """count asks from the global index first on; the switched-off head varies with the index."""
    return [Ask(sentence(first + i), (5 * (first + i)) % 72) for i in range(count)]


def answer_of(run: PageRun) -> Answer:
    return Answer(run.markdown_after(WITHOUT), run.markdown_after(WITH))


def run_problem(run: PageRun) -> str | None:
    """Why a page run does not count as answered, or None."""
    if run.exceptions:
        return "exception in the page: " + run.exceptions[0]
    if run.status != 0:
        return f"script finished with status {run.status}"
    if run.markdown_after(WITH) is None:
        return "no translation in the page"
    return None


class PageSession:
    """A session on the Attention page that knows its widgets' ids after opening it."""

    def __init__(self, url: str, cookies: str) -> None:
        self.session = StreamlitSession(url, PAGE, timeout_s=RUN_TIMEOUT_S, cookies=cookies)
        self.sentence_id = ""
        self.zero_id = ""
        self.zero_options: list[str] = []

    def open(self) -> PageRun:
        self.session.__enter__()
        run = self.session.run()
        if run.exceptions:
            raise SessionError("exception on opening the page: " + run.exceptions[0])
        self.sentence_id = run.widget_id(SENTENCE_LABEL)
        self.zero_id = run.widget_id(ZERO_LABEL)
        self.zero_options = next(v for k, v in run.options.items() if k.startswith(ZERO_LABEL))
        return run

    def ask(self, request: Ask) -> PageRun:
        option = self.zero_options[request.zero_option % len(self.zero_options)]
        states = {
            self.sentence_id: text_state(self.sentence_id, request.text),
            self.zero_id: choice_state(self.zero_id, [option]),
        }
        return self.session.run(states)

    def close(self) -> None:
        self.session.close()


def drive_session(url: str, cookies: str, asks: Sequence[Ask], start: threading.Barrier) -> SessionOutcome:
    """Open the page, wait for every other session, then ask each request in turn."""
    outcome = SessionOutcome()
    page = PageSession(url, cookies)
    try:
        page.open()
    except (SessionError, KeyError, OSError) as error:
        outcome.failures.append(f"open: {error}")
        start.abort()
        return outcome
    try:
        start.wait(timeout=RUN_TIMEOUT_S)
        for request in asks:
            outcome.answers.append(_one_ask(page, request, outcome))
    except threading.BrokenBarrierError:
        outcome.failures.append("another session failed to open")
    finally:
        page.close()
    return outcome


def _one_ask(page: PageSession, request: Ask, outcome: SessionOutcome) -> Answer | None:
    try:
        run = page.ask(request)
    except (SessionError, OSError) as error:
        outcome.failures.append(str(error))
        return None
    problem = run_problem(run)
    if problem:
        outcome.failures.append(problem)
        return None
    outcome.latencies_s.append(run.elapsed_s)
    return answer_of(run)


def serial_answers(url: str, asks: Sequence[Ask]) -> dict[Ask, Answer]:
    """The reference: every ask in turn from one session."""
    page = PageSession(url, page_cookies(url))
    page.open()
    try:
        answers = {}
        for request in asks:
            run = page.ask(request)
            problem = run_problem(run)
            if problem:
                raise LoadError(f"serial reference run failed on {request.text!r}: {problem}")
            answers[request] = answer_of(run)
        return answers
    finally:
        page.close()


def score(plans: Sequence[Sequence[Ask]], outcomes: Sequence[SessionOutcome], expected: dict[Ask, Answer]) -> dict:
    """errors (failed runs), crossed (another session's answer) and wrong (nobody's answer)."""
    owner: dict[Answer, set[int]] = {}
    for index, asks in enumerate(plans):
        for request in asks:
            owner.setdefault(expected[request], set()).add(index)
    crossed = wrong = 0
    for index, (asks, outcome) in enumerate(zip(plans, outcomes, strict=True)):
        for request, answer in zip(asks, outcome.answers, strict=False):
            if answer is None or answer == expected[request]:
                continue
            if owner.get(answer, set()) - {index}:
                crossed += 1
            else:
                wrong += 1
    failures = [failure for outcome in outcomes for failure in outcome.failures]
    return {"errors": len(failures), "crossed": crossed, "wrong": wrong, "first_errors": failures[:3]}


def percentile(values: Sequence[float], share: float) -> float | None:
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


@dataclass(frozen=True)
class Usage:
    """Resident memory (MiB) and CPU seconds of each server process."""

    rss_each_mb: tuple[float, ...]
    cpu_each_s: tuple[float, ...]

    @property
    def rss_mb(self) -> float:
        return sum(self.rss_each_mb)

    @property
    def cpu_s(self) -> float:
        return sum(self.cpu_each_s)


def usage(pids: Sequence[int]) -> Usage | None:
    from st_server import cpu_seconds, rss_mb

    if not pids:
        return None
    return Usage(tuple(rss_mb(pid) for pid in pids), tuple(cpu_seconds(pid) for pid in pids))


def run_level(url: str, plans: Sequence[Sequence[Ask]], expected: dict[Ask, Answer], pids: Sequence[int]) -> dict:
    """All sessions at once; one result entry."""
    outcomes: list[SessionOutcome] = [SessionOutcome() for _ in plans]
    start = threading.Barrier(len(plans) + 1)

    def worker(index: int, cookies: str) -> None:
        outcomes[index] = drive_session(url, cookies, plans[index], start)

    cookies = [page_cookies(url) for _ in plans]  # each session first loads the page, as a browser does
    threads = [threading.Thread(target=worker, args=(i, cookies[i]), daemon=True) for i in range(len(plans))]
    before = usage(pids)
    for thread in threads:
        thread.start()
    began = _wait_start(start)
    opened = usage(pids)
    for thread in threads:
        thread.join(timeout=RUN_TIMEOUT_S * (len(plans[0]) + 2))
    wall_s = time.perf_counter() - began
    after = usage(pids)
    latencies = [latency for outcome in outcomes for latency in outcome.latencies_s]
    return _level_result(plans, latencies, wall_s, score(plans, outcomes, expected), before, opened, after)


def _wait_start(start: threading.Barrier) -> float:
    try:
        start.wait(timeout=RUN_TIMEOUT_S * 2)
    except threading.BrokenBarrierError:
        pass
    return time.perf_counter()


def _level_result(
    plans: Sequence[Sequence[Ask]],
    latencies: list[float],
    wall_s: float,
    scored: dict,
    before: Usage | None,
    opened: Usage | None,
    after: Usage | None,
) -> dict:
    result: dict[str, object] = {
        "sessions": len(plans),
        "interactions": len(latencies),
        "interactions_per_s": round(len(latencies) / wall_s, 3) if wall_s > 0 else None,
        "p50_ms": _ms(percentile(latencies, 0.5)),
        "p95_ms": _ms(percentile(latencies, 0.95)),
        **scored,
    }
    if before and opened and after:
        result["server_rss_before_mb"] = round(before.rss_mb, 1)
        result["server_rss_open_mb"] = round(opened.rss_mb, 1)
        result["server_rss_mb"] = round(after.rss_mb, 1)
        result["server_cpu_s"] = round(after.cpu_s - opened.cpu_s, 2)
        result["server_cpu_open_s"] = round(opened.cpu_s - before.cpu_s, 2)
        if len(after.cpu_each_s) > 1:  # how the sticky cookies spread the sessions over the replicas
            pairs = zip(after.cpu_each_s, opened.cpu_each_s, strict=True)
            result["server_cpu_s_each"] = [round(end - start, 2) for end, start in pairs]
            result["server_rss_each_mb"] = [round(value, 1) for value in after.rss_each_mb]
        if latencies:
            result["server_cpu_ms_per_interaction"] = round(1000 * (after.cpu_s - opened.cpu_s) / len(latencies), 1)
    return result


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def level_plans(levels: Sequence[int], interactions: int) -> list[list[list[Ask]]]:
    """For every level, one list of asks per session; no ask repeats across levels, so nothing is cached."""
    plans, first = [], 0
    for sessions in levels:
        level = []
        for _ in range(sessions):
            level.append(plan(first, interactions))
            first += interactions
        plans.append(level)
    return plans


def run_levels(url: str, plans: list[list[list[Ask]]], expected: dict[Ask, Answer], pids: Sequence[int]) -> list:
    return [run_level(url, level, expected, pids) for level in plans]


def reference(models: Path, plans: list[list[list[Ask]]]) -> dict[Ask, Answer]:
    """Serial answers for every ask, from a fresh server of their own (stopped before the load starts)."""
    from st_server import running_server

    asks = [request for level in plans for asks in level for request in asks]
    with running_server(models) as server:
        return serial_answers(server.url, asks)


@contextmanager
def target(args: argparse.Namespace, replicas: int) -> Iterator[tuple[str, list[int], Callable[[], int]]]:
    """The URL to load, the server pids to watch and a count of errors in the server logs."""
    if args.url:
        yield args.url, args.server_pids, lambda: 0
        return
    with ExitStack() as stack:
        log_dir = Path(stack.enter_context(_temporary_dir()))
        if replicas:
            from replicas import running_replicas

            deployment = stack.enter_context(running_replicas(args.models_dir, replicas, log_dir=log_dir))
            yield deployment.url, deployment.replica_pids, lambda: _log_errors(log_dir)
        else:
            from st_server import running_server

            log = stack.enter_context(open(log_dir / "server.log", "wb"))
            server = stack.enter_context(running_server(args.models_dir, log))
            yield server.url, [server.pid], lambda: _log_errors(log_dir)


@contextmanager
def _temporary_dir() -> Iterator[str]:
    import tempfile

    with tempfile.TemporaryDirectory(prefix="attn-load-") as directory:
        yield directory


def _log_errors(log_dir: Path) -> int:
    """Lines in the server logs that report an exception."""
    markers = ("Traceback", "Error", "Exception")
    return sum(
        any(marker in line for marker in markers)
        for path in log_dir.glob("*.log")
        for line in path.read_text(errors="replace").splitlines()
    )


def measure(args: argparse.Namespace, replicas: int, plans: list, expected: dict[Ask, Answer]) -> dict:
    with target(args, replicas) as (url, pids, log_errors):
        results = run_levels(url, plans, expected, pids)
        return {"url_kind": _url_kind(args, replicas), "results": results, "server_log_errors": log_errors()}


def _url_kind(args: argparse.Namespace, replicas: int) -> str:
    if args.url:
        return "given url"
    return f"nginx in front of {replicas} replica(s)" if replicas else "one streamlit server, direct"


def check_loopback(url: str) -> None:
    host = urlsplit(url).hostname
    if host not in {"127.0.0.1", "localhost", "::1"}:
        raise LoadError(f"--url must point at this machine (127.0.0.1), not {host}")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", default="1,4,16,32", help="comma-separated session counts")
    parser.add_argument("--interactions", type=int, default=3, help="asks per session, after opening the page")
    parser.add_argument("--models-dir", type=Path, default=ROOT / "pretrained")
    parser.add_argument("--replicas", type=int, default=0, help="also run through nginx with 1 and this many")
    parser.add_argument("--url", help="load a server or proxy already running on 127.0.0.1 instead")
    parser.add_argument("--server-pids", default="", help="with --url: server pids to read RSS and CPU from")
    args = parser.parse_args(argv)
    try:
        args.levels = [int(part) for part in args.sessions.split(",") if part.strip()]
        args.server_pids = [int(part) for part in args.server_pids.split(",") if part.strip()]
    except ValueError as error:
        raise LoadError(f"--sessions and --server-pids take comma-separated integers: {error}") from None
    _check_bounds(args)
    return args


def _check_bounds(args: argparse.Namespace) -> None:
    if not args.levels or any(n < 1 or n > MAX_SESSIONS for n in args.levels):
        raise LoadError(f"--sessions: each count must be between 1 and {MAX_SESSIONS}")
    if not 1 <= args.interactions <= MAX_INTERACTIONS:
        raise LoadError(f"--interactions must be between 1 and {MAX_INTERACTIONS}")
    if not 0 <= args.replicas <= 8:
        raise LoadError("--replicas must be between 0 and 8")
    if args.url:
        check_loopback(args.url)
    elif not (args.models_dir / "multi30k-en-de").is_dir():
        raise LoadError(f"no multi30k-en-de model in {args.models_dir} (the load test asks it English sentences)")


def run(args: argparse.Namespace) -> dict:
    """Every configuration asked for, one JSON-ready dict."""
    plans = level_plans(args.levels, args.interactions)
    started = time.perf_counter()
    expected = reference(args.models_dir, plans)
    answers = list(expected.values())
    report: dict[str, object] = {
        "interactions_per_session": args.interactions,
        "page": PAGE,
        "distinct_answers": round(len(set(answers)) / len(answers), 3),
        "reference_s": round(time.perf_counter() - started, 1),
    }
    if args.replicas:
        report["by_replicas"] = {str(n): measure(args, n, plans, expected) for n in sorted({1, args.replicas})}
    else:
        report.update(measure(args, 0, plans, expected))
    report["total_s"] = round(time.perf_counter() - started, 1)
    return report


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = parse_args(argv)
        print(json.dumps(run(args)))
    except (LoadError, SessionError, OSError, TimeoutError, RuntimeError) as error:
        print(f"bench/load.py: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
