"""What every page starts with: the chosen model (or a clear error) and the sentence's trace (or a clear notice)."""

from __future__ import annotations

import streamlit as st

from model.data.checkpoint import ModelLoadError
from model.data.corpus import language_name
from model.data.familiarity import warnings
from model.inspect.trace import Trace
from model.nn.names import HeadRef
from model.pipeline import InputError
from viz_app import resources, sidebar
from viz_app.resources import ModelInfo
from viz_app.ui import escape_markdown


def model_or_stop() -> ModelInfo:
    """The chosen model's facts; without a usable model, say why and end this page's run (the app keeps going)."""
    selection = sidebar.current()
    if selection.model_path is None:
        st.info("There is no model to show yet: the sidebar explains where models are looked for.")
        st.stop()
    try:
        return resources.model_info(selection.model_path)
    except ModelLoadError as error:
        st.error(f"This model cannot be loaded: {error}. Pick another model in the sidebar.")
        st.stop()
    raise AssertionError("unreachable")  # st.stop() raises


def sentence_problem(info: ModelInfo, text: str) -> str | None:
    """None when the model can take the text, else the reason in one sentence."""
    try:
        resources.check_sentence(info.path, text)
    except InputError as error:
        return str(error)
    return None


def show_problem(problem: str) -> None:
    message = problem[0].upper() + problem[1:] + ("" if problem.endswith(".") else ".")
    if "empty" in problem:
        st.info(message + " Or pick one of the examples in the sidebar.")
    else:
        st.warning(message + " Edit the sentence in the sidebar.")


def trace_or_notice(
    info: ModelInfo,
    zero_heads: tuple[HeadRef, ...] = (),
    uniform_heads: tuple[HeadRef, ...] = (),
    temperature: float = 1.0,
) -> Trace | None:
    """The trace of the sidebar's sentence, or None after showing why there is none (empty, too long...)."""
    text = sidebar.current().text
    problem = sentence_problem(info, text)
    if problem is not None:
        show_problem(problem)
        return None
    show_familiarity(info, text)
    return resources.get_trace(info.path, text, zero_heads, uniform_heads, temperature)


def show_familiarity(info: ModelInfo, text: str) -> None:
    """Above everything else on the page: why the translation may not be trusted, if the input is far from the
    training data (too long, unknown pieces, probably the wrong language)."""
    found = resources.get_familiarity(info.path, text)
    if found is None:
        return
    for note in warnings(found, language_name(info.source_language), language_name(info.target_language)):
        st.warning(escape_markdown(note), icon=":material/warning:")


def trace_or_stop(info: ModelInfo, **interventions: object) -> Trace:
    trace = trace_or_notice(info, **interventions)  # type: ignore[arg-type]
    if trace is None:
        st.stop()
    assert trace is not None
    return trace
