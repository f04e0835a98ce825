"""Server memory over many reruns: one `streamlit run`, both shipped models loaded, 500 new sentences on the Attention
page through one websocket session (bench/st_client.py); RSS of that server process from /proc/PID/status.

    OMP_NUM_THREADS=1 .venv/bin/python bench/server_memory.py [--models-dir pretrained] [--reruns 500] [--warmup 50]

Prints one JSON object: rss_after_50_mb, rss_after_500_mb (named after the counts asked for), the curve every 50
reruns, and what one cached trace holds (pickled bytes, as st.cache_data keeps it) for a short caption, a long one and
the longest input a model takes. Targets (issue 13): at most 100 MB growth from 50 to 500, at most 700 MB in all.
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for folder in (ROOT, ROOT / "bench"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

from load import sentence  # noqa: E402
from st_client import PageRun, SessionError, StreamlitSession, text_state  # noqa: E402
from st_server import rss_mb, running_server  # noqa: E402

PAGE = "attention"
SOURCE_MODEL, OTHER_MODEL = "multi30k-en-de", "multi30k-de-en"
CURVE_EVERY = 50
SAMPLE_TEXTS = {
    "short_caption": "A man is riding a horse.",
    "long_caption": "Two young men in red shirts are playing soccer on a green field next to a big old building "
    "while a crowd watches.",
    "longest_input": "dog cat " * 63,  # 128 source tokens; no end token comes, so 178 output tokens
}


class MemoryBenchError(RuntimeError):
    """A missing model or a failed run: reported in one line."""


def checked(run: PageRun) -> PageRun:
    if run.exceptions or run.status != 0:
        raise MemoryBenchError(f"the page failed: {run.exceptions[:1] or run.status}")
    return run


def load_both_models(client: StreamlitSession) -> str:
    """Open the page on the other model and then on the source model, so the server holds both; the sentence id."""
    opened = checked(client.run())
    model_id = opened.widget_id("Model")
    checked(client.run({model_id: text_state(model_id, OTHER_MODEL)}))
    back = checked(client.run({model_id: text_state(model_id, SOURCE_MODEL)}))
    return back.widget_id("Sentence")


def measure_server_memory(models_dir: Path, reruns: int = 500, warmup: int = 50) -> dict:
    """Start one server on models_dir, rerun the Attention page `reruns` times with new sentences from one session;
    RSS of the server after `warmup` and after `reruns` reruns (MiB), and every CURVE_EVERY reruns."""
    for name in (SOURCE_MODEL, OTHER_MODEL):
        if not (models_dir / name).is_dir():
            raise MemoryBenchError(f"no {name} model in {models_dir}: both shipped models are needed")
    if not 0 < warmup <= reruns:
        raise MemoryBenchError("need 0 < warmup <= reruns")
    curve: dict[int, float] = {}
    with running_server(models_dir) as server, StreamlitSession(server.url, PAGE, timeout_s=180) as client:
        sentence_id = load_both_models(client)
        curve[0] = rss_mb(server.pid)
        for index in range(1, reruns + 1):
            checked(client.run({sentence_id: text_state(sentence_id, sentence(index))}))
            if index % CURVE_EVERY == 0 or index in (warmup, reruns):
                curve[index] = rss_mb(server.pid)
    return {
        f"rss_after_{warmup}_mb": round(curve[warmup], 1),
        f"rss_after_{reruns}_mb": round(curve[reruns], 1),
        "growth_mb": round(curve[reruns] - curve[warmup], 1),
        "rss_with_both_models_mb": round(curve[0], 1),
        "rss_curve_mb": {str(k): round(v, 1) for k, v in sorted(curve.items())},
        "reruns": reruns,
        "warmup": warmup,
    }


def trace_sizes(model_dir: Path) -> dict[str, dict[str, float]]:
    """What get_trace caches for each sample text: pickled MB in all and for the stages of every head."""
    import torch

    from model.data.checkpoint import load_pretrained
    from model.nn.names import every_head
    from model.pipeline import Translator
    from viz_app.settings import TRACE_TOP_K

    torch.set_num_threads(1)
    translator = Translator(load_pretrained(model_dir))
    heads = every_head(translator.model.config)
    sizes = {}
    for name, text in SAMPLE_TEXTS.items():
        trace = translator.trace(text, top_k=TRACE_TOP_K, stage_heads=heads)
        sizes[name] = {
            "source_tokens": len(trace.source.ids),
            "output_tokens": len(trace.output_ids),
            "trace_mb": round(len(pickle.dumps(trace)) / 1e6, 2),
            "stages_mb": round(len(pickle.dumps(trace.stages)) / 1e6, 2),
        }
    return sizes


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models-dir", type=Path, default=ROOT / "pretrained")
    parser.add_argument("--reruns", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--no-sizes", action="store_true", help="skip measuring the bytes one trace holds")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        report = measure_server_memory(args.models_dir, args.reruns, args.warmup)
        if not args.no_sizes:
            report["cached_trace"] = trace_sizes(args.models_dir / SOURCE_MODEL)
    except (MemoryBenchError, SessionError, OSError, TimeoutError, RuntimeError) as error:
        print(f"bench/server_memory.py: {error}", file=sys.stderr)
        return 2
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
