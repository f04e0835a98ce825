"""Start and stop `streamlit run viz_app/serve.py` for the benchmarks, and read a server's memory and CPU from /proc."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[1]
for folder in (ROOT, ROOT / "tests"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

from app_helpers import SERVER_PATH, STREAMLIT, free_port, wait_healthy  # noqa: E402

from viz_app.settings import MODELS_DIR_ENV  # noqa: E402

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Server:
    """A running streamlit server: its process and the URL it answers on."""

    process: subprocess.Popen
    url: str

    @property
    def pid(self) -> int:
        return self.process.pid


def server_command(port: int, address: str = "127.0.0.1") -> list[str]:
    """The command line of one headless server on address:port, as the tests start it."""
    return [
        str(STREAMLIT),
        "run",
        str(SERVER_PATH),
        "--server.headless",
        "true",
        "--server.port",
        str(port),
        "--server.address",
        address,
        "--browser.gatherUsageStats",
        "false",
        "--server.fileWatcherType",
        "none",
    ]


def start_server(models: Path, log: IO[bytes] | None = None, env: dict[str, str] | None = None) -> Server:
    """Start one server on loopback (a free port unless given) serving `models`; returns once it answers."""
    port = free_port()
    environment = {**os.environ, MODELS_DIR_ENV: str(models), "OMP_NUM_THREADS": "1", **(env or {})}
    process = subprocess.Popen(
        server_command(port),
        cwd=ROOT,
        env=environment,
        stdout=log or subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, process)
    except BaseException:
        stop_process(process)
        raise
    return Server(process, url)


def stop_process(process: subprocess.Popen, timeout_s: float = 10.0) -> None:
    """SIGTERM the process we started (by its pid), then SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout_s)


@contextmanager
def running_server(models: Path, log: IO[bytes] | None = None) -> Iterator[Server]:
    """A server for the duration of a with block."""
    server = start_server(models, log)
    try:
        yield server
    finally:
        stop_process(server.process)


def rss_mb(pid: int) -> float:
    """Resident memory of a process (VmRSS in /proc/PID/status), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (/proc/PID/stat), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
