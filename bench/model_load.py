"""Time to load each shipped model (weights, config, tokenizer) in a fresh process; prints one JSON object.

Moved here unchanged from bench/load.py, which now measures concurrent sessions on one server.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PROBE = (
    "import time; t = time.perf_counter(); import torch; t_torch = time.perf_counter();"
    "from model.data.checkpoint import load_pretrained; p = load_pretrained({path!r});"
    "print(time.perf_counter() - t, time.perf_counter() - t_torch)"
)


def main(repeats: int = 5) -> None:
    result: dict[str, object] = {}
    for folder in sorted((REPO / "pretrained").iterdir()):
        if not folder.is_dir():
            continue
        totals, loads = [], []
        for _ in range(repeats):
            out = subprocess.run(
                [sys.executable, "-c", PROBE.format(path=str(folder))],
                cwd=REPO,
                check=True,
                capture_output=True,
                text=True,
                env={"OMP_NUM_THREADS": "2", "PATH": ""},
            ).stdout
            total, load = map(float, out.split())
            totals.append(total)
            loads.append(load)
        result[folder.name] = {
            "process_load_s_median": round(statistics.median(totals), 3),
            "model_load_s_median": round(statistics.median(loads), 3),
            "size_mb": round(sum(f.stat().st_size for f in folder.iterdir()) / 2**20, 2),
        }
    print(json.dumps({"repeats": repeats, "models": result}))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
