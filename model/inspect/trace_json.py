"""The trace as one JSON document: what `python -m model.translate --json` prints and the app downloads."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from model.inspect.trace import Trace
from model.nn.names import HeadRef


def trace_document(
    trace: Trace,
    zero_heads: Iterable[HeadRef] = (),
    uniform_heads: Iterable[HeadRef] = (),
    temperature: float = 1.0,
) -> dict[str, Any]:
    """Every field of the trace (arrays as nested lists, heads by their text 'decoder.1.cross_attn:3') and the
    interventions that made it: the heads switched off and made uniform (sorted; [] when none) and the attention
    temperature (1.0 when none)."""
    return {
        **trace.to_dict(),
        "zero_heads": [str(ref) for ref in sorted(zero_heads)],
        "uniform_heads": [str(ref) for ref in sorted(uniform_heads)],
        "temperature": float(temperature),
    }


def trace_json(
    trace: Trace,
    zero_heads: Iterable[HeadRef] = (),
    uniform_heads: Iterable[HeadRef] = (),
    temperature: float = 1.0,
    indent: int | None = None,
) -> str:
    """trace_document as text; non-ASCII tokens kept as they are (UTF-8), `indent` spaces per level or one line."""
    return json.dumps(trace_document(trace, zero_heads, uniform_heads, temperature), ensure_ascii=False, indent=indent)
