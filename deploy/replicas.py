"""Start N Attention Explorer replicas and nginx in front of them, on loopback (`make replicas`).

    .venv/bin/python deploy/replicas.py [--replicas 2] [--port 8080] [--models-dir pretrained] [--first-port 8601]

Each replica is a plain `streamlit run viz_app/serve.py` on its own port, with the repository's .streamlit/config.toml.
They share one cookie secret (Streamlit signs its XSRF cookie with it), so a cookie issued by one replica is still
valid on another. nginx (deploy/nginx.conf.template) keeps each browser on one replica with a cookie and upgrades
the websocket. Runs until Ctrl-C or SIGTERM, then stops nginx and every replica it started, by pid.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = Path(__file__).resolve().parent / "nginx.conf.template"
STREAMLIT = ROOT / ".venv" / "bin" / "streamlit"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
MODELS_DIR_ENV = "ATTN_MODELS_DIR"
HEALTH_TIMEOUT_S = 90.0


class DeployError(RuntimeError):
    """Something the launcher cannot do (no nginx, a busy port, a replica that does not come up)."""


@dataclass(frozen=True)
class Deployment:
    """The proxy's URL and the pids of the replicas behind it."""

    url: str
    replica_pids: list[int]
    nginx_pid: int


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def render_config(template: str, run_dir: Path, listen_port: int, replica_ports: list[int]) -> str:
    """The nginx configuration for these replicas, listening on 127.0.0.1:listen_port."""
    upstreams = "\n".join(f"        server 127.0.0.1:{port};" for port in replica_ports)
    return (
        template.replace("@RUN_DIR@", str(run_dir))
        .replace("@LISTEN@", f"127.0.0.1:{listen_port}")
        .replace("@UPSTREAMS@", upstreams)
    )


def wait_healthy(url: str, process: subprocess.Popen, timeout_s: float = HEALTH_TIMEOUT_S) -> None:
    """Until url/_stcore/health answers 200; DeployError when the process dies or time runs out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise DeployError(f"{process.args[0]} exited with code {process.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise DeployError(f"{url} did not answer within {timeout_s:.0f} s")


def stop(process: subprocess.Popen) -> None:
    """SIGTERM one process we started, SIGKILL if it lingers."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def replica_command(port: int) -> list[str]:
    return [
        str(STREAMLIT),
        "run",
        str(ROOT / "viz_app" / "serve.py"),
        "--server.headless",
        "true",
        "--server.address",
        "127.0.0.1",
        "--server.port",
        str(port),
        "--server.fileWatcherType",
        "none",
    ]


@contextmanager
def started(command: list[str], log_path: Path, env: dict[str, str] | None = None) -> Iterator[subprocess.Popen]:
    """A process for the duration of a with block, its output in log_path."""
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            yield process
        finally:
            stop(process)


def check_tools() -> None:
    if not Path(NGINX).exists():
        raise DeployError("nginx is missing: install Debian's package with `apt-get install -y nginx`")
    if not STREAMLIT.exists():
        raise DeployError(f"{STREAMLIT} is missing: run `make setup` first")


@contextmanager
def running_replicas(
    models_dir: Path,
    count: int,
    listen_port: int | None = None,
    first_port: int | None = None,
    log_dir: Path | None = None,
) -> Iterator[Deployment]:
    """`count` replicas (ports first_port.. or free ones) and nginx on listen_port (or a free one)."""
    check_tools()
    with ExitStack() as stack:
        run_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="attn-nginx-")))
        run_dir.chmod(0o755)  # nginx started as root runs its workers as nobody: they must reach the temp folders
        logs = log_dir or run_dir
        ports = [first_port + i if first_port else free_port() for i in range(count)]
        env = {
            **os.environ,
            MODELS_DIR_ENV: str(models_dir),
            "OMP_NUM_THREADS": "1",
            "STREAMLIT_SERVER_COOKIE_SECRET": secrets.token_hex(32),
        }
        replicas = [stack.enter_context(started(replica_command(p), logs / f"replica-{p}.log", env)) for p in ports]
        for port, process in zip(ports, replicas, strict=True):
            wait_healthy(f"http://127.0.0.1:{port}", process)
        listen = listen_port or free_port()
        config = run_dir / "nginx.conf"
        config.write_text(render_config(TEMPLATE.read_text(), run_dir, listen, ports))
        nginx = stack.enter_context(started([NGINX, "-p", str(run_dir), "-c", str(config)], logs / "nginx.log"))
        url = f"http://127.0.0.1:{listen}"
        wait_healthy(url, nginx)
        yield Deployment(url, [process.pid for process in replicas], nginx.pid)


def wait_for_signal() -> None:
    """Block until SIGINT or SIGTERM."""
    stopping: list[int] = []
    signal.signal(signal.SIGTERM, lambda number, _frame: stopping.append(number))
    try:
        while not stopping:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--port", type=int, default=8080, help="where nginx listens, on 127.0.0.1")
    parser.add_argument("--first-port", type=int, default=8601, help="replica i listens on first-port + i")
    parser.add_argument("--models-dir", type=Path, default=ROOT / "pretrained")
    args = parser.parse_args(argv)
    if not 1 <= args.replicas <= 16:
        parser.exit(2, "deploy/replicas.py: --replicas must be between 1 and 16\n")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        with running_replicas(args.models_dir, args.replicas, args.port, args.first_port) as deployment:
            pids = ", ".join(map(str, deployment.replica_pids))
            print(f"serving {deployment.url} (nginx pid {deployment.nginx_pid}; replica pids {pids}); Ctrl-C stops")
            sys.stdout.flush()
            wait_for_signal()
    except (DeployError, OSError) as error:
        print(f"deploy/replicas.py: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
