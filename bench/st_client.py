"""A minimal Streamlit client: one browser session spoken over Streamlit's own websocket protocol, no browser.

The server sends `ForwardMsg`s and takes `BackMsg`s (protobufs from the installed `streamlit.proto`) on
`/_stcore/stream`. A session runs a page by sending `rerun_script` with the page's URL path and the widget values it
wants; the server answers with deltas (the page's elements, widgets included, each with its id) and ends the run
with `script_finished`. The page scripts run on the server exactly as they do for a browser: only the drawing is
skipped.
"""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Iterable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState
from websockets.sync.client import ClientConnection, connect

STREAM_PATH = "/_stcore/stream"
WIDGET_KINDS = frozenset(
    {"text_area", "text_input", "selectbox", "multiselect", "radio", "slider", "checkbox", "button_group"}
)
FAILED_RUN = ForwardMsg.ScriptFinishedStatus.FINISHED_WITH_COMPILE_ERROR


class SessionError(RuntimeError):
    """The server closed the session, or a run did not finish in time."""


@dataclass
class PageRun:
    """What one script run sent: its markdown texts, widgets by label (id, kind) and multiselect options by label,
    exceptions, a chart count, the bytes received and the time from request to `script_finished`."""

    markdown: list[str] = field(default_factory=list)
    widgets: dict[str, tuple[str, str]] = field(default_factory=dict)
    options: dict[str, list[str]] = field(default_factory=dict)
    exceptions: list[str] = field(default_factory=list)
    charts: int = 0
    received_bytes: int = 0
    elapsed_s: float = 0.0
    status: int = -1

    def widget_id(self, label_start: str) -> str:
        """The id of the widget whose label starts with label_start; KeyError when the page has none."""
        for label, (widget_id, _) in self.widgets.items():
            if label.startswith(label_start):
                return widget_id
        raise KeyError(f"no widget labelled {label_start!r} among {sorted(self.widgets)}")

    def markdown_after(self, prefix: str) -> str | None:
        """The rest of the first markdown text that starts with prefix, or None."""
        for text in self.markdown:
            if text.startswith(prefix):
                return text[len(prefix) :]
        return None


def text_state(widget_id: str, text: str) -> WidgetState:
    """The value of a text input or text area."""
    return WidgetState(id=widget_id, string_value=text)


def choice_state(widget_id: str, formatted: Iterable[str]) -> WidgetState:
    """The value of a multiselect: its chosen options as the page formats them."""
    state = WidgetState(id=widget_id)
    state.string_array_value.data.extend(formatted)
    return state


def stream_url(base_url: str) -> str:
    """ws://host:port/_stcore/stream for http://host:port (a path prefix is kept)."""
    parts = urlsplit(base_url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    return f"{scheme}://{parts.netloc}{parts.path.rstrip('/')}{STREAM_PATH}"


def origin_of(base_url: str) -> str:
    """The Origin a browser on base_url sends: Streamlit accepts a websocket whose Origin matches its Host."""
    parts = urlsplit(base_url)
    return f"{parts.scheme}://{parts.netloc}"


def page_cookies(base_url: str, timeout_s: float = 30.0) -> str:
    """GET the app's page as a browser first does; returns the cookies it set as one Cookie header value."""
    with urllib.request.urlopen(base_url.rstrip("/") + "/", timeout=timeout_s) as response:
        headers = response.headers.get_all("Set-Cookie") or []
    return "; ".join(header.split(";", 1)[0].strip() for header in headers)


def _record_element(run: PageRun, message: ForwardMsg) -> None:
    """Keep what a check needs from one delta: markdown text, widget ids, exceptions, a chart count."""
    if message.delta.WhichOneof("type") != "new_element":
        return
    element = message.delta.new_element
    kind = element.WhichOneof("type")
    if kind == "markdown":
        run.markdown.append(element.markdown.body)
    elif kind == "exception":
        run.exceptions.append(f"{element.exception.type}: {element.exception.message}")
    elif kind == "plotly_chart":
        run.charts += 1
    elif kind in WIDGET_KINDS:
        widget = getattr(element, kind)
        run.widgets[widget.label] = (widget.id, kind)
        if kind == "multiselect":
            run.options[widget.label] = list(widget.options)


class StreamlitSession:
    """One session (what one browser tab is) on a Streamlit server; runs one page at a time."""

    def __init__(self, base_url: str, page: str = "", timeout_s: float = 120.0, cookies: str = "") -> None:
        """page: the URL path st.navigation gives the page ("" for the default page); cookies: a Cookie header
        (a sticky-session cookie from a load balancer, for instance)."""
        self.base_url = base_url
        self.page = page
        self.timeout_s = timeout_s
        self.cookies = cookies
        self._socket: ClientConnection | None = None
        self._exits = ExitStack()

    def __enter__(self) -> StreamlitSession:
        self._socket = self._exits.enter_context(
            connect(
                stream_url(self.base_url),
                subprotocols=["streamlit"],  # type: ignore[list-item]
                max_size=None,
                open_timeout=self.timeout_s,
                origin=origin_of(self.base_url),  # type: ignore[arg-type]
                additional_headers={"Cookie": self.cookies} if self.cookies else None,
                compression=None,
            )
        )
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._socket = None
        self._exits.close()

    def run(self, widgets: Mapping[str, WidgetState] | None = None, query_string: str = "") -> PageRun:
        """Rerun the page with these widget values (by id; others keep theirs) and wait for the run to end."""
        if self._socket is None:
            raise SessionError("the session is not open")
        message = BackMsg()
        message.rerun_script.query_string = query_string
        message.rerun_script.page_name = self.page
        message.rerun_script.widget_states.widgets.extend((widgets or {}).values())
        started = time.perf_counter()
        self._socket.send(message.SerializeToString())
        run = self._read_until_finished(started + self.timeout_s)
        run.elapsed_s = time.perf_counter() - started
        return run

    def _read_until_finished(self, deadline: float) -> PageRun:
        assert self._socket is not None
        run = PageRun()
        while True:
            left = deadline - time.perf_counter()
            if left <= 0:
                raise SessionError(f"the run did not finish within {self.timeout_s:.0f} s")
            try:
                data = self._socket.recv(timeout=left)
            except TimeoutError:
                continue
            except Exception as error:  # the websockets library raises several kinds on a closed connection
                raise SessionError(f"connection lost: {error}") from error
            run.received_bytes += len(data)
            message = ForwardMsg()
            message.ParseFromString(data)  # type: ignore[arg-type]
            kind = message.WhichOneof("type")
            if kind == "delta":
                _record_element(run, message)
            elif kind == "script_finished":
                run.status = message.script_finished
                return run
