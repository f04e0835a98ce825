"""Figures made ready for the browser, and the cache that lets every session share one.

A figure is made ready once: house_style gives it the app's look, layout.datarevision a digest of its data, and its
layout.width becomes the smallest width it may be drawn at (see ui.plotly_chart for why the figure travels without
one). shared_figure builds a page's figure once for each distinct input and hands the same Ready figure to every
session that asks for it: a room of students opening one page on one sentence would otherwise each rebuild the same
plotly figures, which is most of the server's work for such a page (bench/classroom.py). A shared figure is only
read from then on (by Streamlit's serialisation, the CSV download and the download names), never changed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import plotly.graph_objects as go
import plotly.io

from viz_app.figures.common import house_style

# What the shared figures may hold, by the size of their JSON (what Streamlit sends for them). The Python objects
# take two to three times that: after 200 new sentences on the Attention page the server held 610 MB with this
# budget, 654 MB with twice it and 579 MB without sharing (bench/server_memory.py --reruns 200, 2026-12-03). The
# least recently used go first. A figure built from more than SHARE_INPUTS_AT_MOST bytes of input (the longest
# inputs' grids reach tens of MB) is built for its session and not kept, and its size is never computed.
SHARED_BYTES = 12 * 1024 * 1024
SHARE_INPUTS_AT_MOST = 2 * 1024 * 1024


class _Counted:
    """A hashlib digest that also counts the bytes it is fed."""

    def __init__(self) -> None:
        self.digest = hashlib.blake2b(digest_size=16)
        self.fed = 0

    def update(self, data: bytes) -> None:
        self.digest.update(data)
        self.fed += len(data)


def feed_digest(digest: Any, value: Any, strict: bool = True) -> None:
    """Feed `value` into a hashlib digest by content: numpy arrays by dtype, shape and bytes, dicts by sorted key,
    sequences item by item, dataclasses field by field, plain scalars by repr. Anything else is a TypeError when
    strict, so an object is never told apart by its address (which a later, different object may reuse), and its
    repr otherwise."""
    if isinstance(value, np.ndarray):
        if value.dtype == object:  # strings: their text, not their addresses
            feed_digest(digest, value.tolist(), strict)
            return
        digest.update(f"a{value.dtype}{value.shape}".encode())
        digest.update(np.ascontiguousarray(value).tobytes())
    elif isinstance(value, dict):
        digest.update(b"{%d" % len(value))
        for name in sorted(value, key=repr):
            feed_digest(digest, name, strict)
            feed_digest(digest, value[name], strict)
    elif isinstance(value, (list, tuple)):
        digest.update(b"[%d" % len(value))
        for item in value:
            feed_digest(digest, item, strict)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        digest.update(f"d{type(value).__module__}.{type(value).__qualname__}".encode())
        for field in dataclasses.fields(value):
            feed_digest(digest, field.name, strict)
            feed_digest(digest, getattr(value, field.name), strict)
    elif value is None or isinstance(value, (str, bool, int, float, complex, np.generic)) or not strict:
        digest.update(f"{type(value).__name__}:{value!r}".encode())
    else:
        raise TypeError(f"cannot tell a {type(value).__name__} apart by its content")


def data_revision(fig: go.Figure) -> str:
    """A digest of every trace's contents, arrays included (not of the frames or the layout)."""
    digest = hashlib.blake2b(digest_size=12)
    for trace in fig.data:
        feed_digest(digest, trace.to_plotly_json(), strict=False)
    return digest.hexdigest()


@dataclass(frozen=True)
class Ready:
    """A figure ready for st.plotly_chart: styled, layout.datarevision set, layout.width None. min_width: the
    narrowest it may be drawn (its layout.width before), 0 for a figure that fits any column."""

    figure: go.Figure
    min_width: int


def ready(fig: go.Figure) -> Ready:
    """Make `fig` (built for this call) ready for the browser, in place."""
    house_style(fig)
    fig.layout.datarevision = data_revision(fig)
    min_width = int(fig.layout.width or 0)
    fig.layout.width = None
    return Ready(fig, min_width)


def as_ready(fig: go.Figure | Ready) -> Ready:
    """A Ready figure as it is; any other figure (built for this call) made ready in place."""
    return fig if isinstance(fig, Ready) else ready(fig)


@dataclass(frozen=True)
class _Entry:
    ready: Ready
    json_bytes: int


_shared: OrderedDict[tuple[str, str], _Entry] = OrderedDict()
_lock = threading.Lock()


def figure_key(
    build: Callable[..., go.Figure], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[tuple[str, str], int]:
    """(the figure function's name, a digest of every argument's content), equal for equal inputs, and how many
    bytes of input that digest read."""
    if "<" in build.__qualname__:  # a lambda or a nested function: its name does not tell it from another one
        raise ValueError(f"shared figures need a module-level figure function, got {build.__qualname__}")
    counted = _Counted()
    feed_digest(counted, list(args))
    feed_digest(counted, kwargs)
    return (f"{build.__module__}.{build.__qualname__}", counted.digest.hexdigest()), counted.fed


def shared_figure(build: Callable[..., go.Figure], *args: Any, **kwargs: Any) -> Ready:
    """The Ready figure of build(*args, **kwargs), built once for each distinct content of the arguments and shared
    by every session after that, within SHARED_BYTES. `build` must be a pure figure function: the figure may depend
    on nothing but its arguments."""
    key, input_bytes = figure_key(build, args, kwargs)
    with _lock:
        found = _shared.get(key)
        if found is not None:
            _shared.move_to_end(key)
            return found.ready
    made = ready(build(*args, **kwargs))  # outside the lock: two sessions may both build it; either copy serves
    if input_bytes > SHARE_INPUTS_AT_MOST:
        return made
    size = len(plotly.io.to_json(made.figure, validate=False))
    with _lock:
        _shared[key] = _Entry(made, size)
        _shared.move_to_end(key)
        while sum(entry.json_bytes for entry in _shared.values()) > SHARED_BYTES:
            _shared.popitem(last=False)
    return made


def shared_sizes() -> list[int]:
    """The JSON size of every shared figure, the least recently used first."""
    with _lock:
        return [entry.json_bytes for entry in _shared.values()]
