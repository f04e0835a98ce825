"""Links that reopen a view: the app's choices live in the URL's query string (st.query_params).

On a session's first run the values in the URL are put into the widgets' session state, before any widget is
drawn; the current choices are written back whenever they differ from the URL, so copying the address bar copies
the view. One exception: a session opened at a bare URL keeps it through its first run, since a bare URL already
reopens that default view, and telling the browser to change its address costs about 2.5% of the Attention
page's load (bench/load_ab.py, 16 rounds); the first change of a choice writes them all. The page is
the URL's path (st.navigation gives each page its own). Values that do not parse, or that a page's widget does not
offer, are dropped: each page checks its own options (a widget with a value it does not offer starts afresh).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any, Protocol

from model.nn.names import HeadRef

RESTORED_FLAG = "_links_restored"
SETTLED_FLAG = "_links_settled"  # set at the end of a session's first full run
MAX_PARAM_CHARS = 2000


def _heads_text(refs: Any) -> str:
    return ",".join(str(ref) for ref in refs)


def _heads_value(text: str) -> list[HeadRef]:
    """The heads that parse; a part that does not is left out (the page keeps only heads its model has)."""
    heads = []
    for part in text.split(","):
        try:
            heads.append(HeadRef.parse(part))
        except ValueError:
            continue
    return heads


def _int_value(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError("negative")
    return value


def _temperature_value(text: str) -> float:
    value = float(text)
    if not 0 < value < 100:
        raise ValueError("temperature out of range")
    return value


@dataclass(frozen=True)
class Linked:
    """One widget's value in the URL: session-state `key` <-> query parameter `param`."""

    key: str
    param: str
    to_text: Callable[[Any], str] = str
    from_text: Callable[[str], Any] = str


LINKED: tuple[Linked, ...] = (
    Linked("model", "model"),
    Linked("sentence", "text"),
    Linked("att_kind", "kind"),
    Linked("att_layer", "layer", from_text=_int_value),
    Linked("att_head", "head", from_text=_int_value),
    Linked("att_zero", "zero", _heads_text, _heads_value),
    Linked("att_uniform", "uniform", _heads_text, _heads_value),
    Linked("att_temperature", "temperature", from_text=_temperature_value),
    Linked("att_query", "query", from_text=_int_value),
    Linked("att_key", "key", from_text=_int_value),
    Linked("dec_layer", "dec_layer", from_text=_int_value),
    Linked("dec_head", "dec_head", from_text=_int_value),
    Linked("dec_step", "step", from_text=_int_value),
    Linked("lab_mode", "lab_mode"),
    Linked("lab_heads", "lab_heads", _heads_text, _heads_value),
    Linked("lab_inspect", "lab_head", str, HeadRef.parse),
)


def restore(params: Mapping[str, str], state: MutableMapping[str, Any]) -> list[str]:
    """Once per session: copy parseable URL values into `state`. Returns the parameters that were dropped."""
    if state.get(RESTORED_FLAG):
        return []
    state[RESTORED_FLAG] = True
    dropped = []
    for linked in LINKED:
        text = params.get(linked.param)
        if text is None:
            continue
        try:
            if len(text) > MAX_PARAM_CHARS:
                raise ValueError("too long")
            state[linked.key] = linked.from_text(text)
        except (ValueError, TypeError):
            dropped.append(linked.param)
    return dropped


def current(state: Mapping[str, Any]) -> dict[str, str]:
    """The query string for the choices made so far (empty choices left out, so links stay short)."""
    out = {}
    for linked in LINKED:
        if linked.key not in state or state[linked.key] is None:
            continue
        text = linked.to_text(state[linked.key])
        if text != "" and len(text) <= MAX_PARAM_CHARS:
            out[linked.param] = text
    return out


class QueryParams(Protocol):
    """What `write` needs of st.query_params."""

    def to_dict(self) -> dict[str, str]: ...

    def from_dict(self, values: Mapping[str, str]) -> None: ...


def write(params: QueryParams, state: Mapping[str, Any]) -> bool:
    """Put the current choices into the URL when they differ from what it holds, except while a session opened at a
    bare URL runs for the first time (state[SETTLED_FLAG] unset; app.py sets it after that run). Returns whether it
    wrote."""
    held = params.to_dict()
    wanted = current(state)
    if held == wanted or (not held and not state.get(SETTLED_FLAG)):
        return False
    params.from_dict(wanted)
    return True
