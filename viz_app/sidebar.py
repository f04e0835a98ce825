"""The sidebar every page shares: which model, which sentence (typed or picked from examples)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from model.data.checkpoint import ModelLoadError
from model.inspect.trace_json import trace_json
from model.nn.names import HeadRef, every_head
from model.pipeline import InputError
from viz_app import exports, resources
from viz_app.settings import (
    EXAMPLES,
    LANGUAGE_NAMES,
    MODELS_DIR_ENV,
    available_models,
    examples_for,
    language_pair,
    models_dir,
)

MODEL_KEY = "model"
SENTENCE_KEY = "sentence"
EXAMPLE_KEY = "example"
SELECTION_KEY = "_selection"
NO_EXAMPLE = "Pick an example…"
TRACE_BUTTON_KEY = "trace_json"
# The Attention page's intervention widgets (links.LINKED carries them in the URL)
ZERO_KEY, UNIFORM_KEY, TEMPERATURE_KEY = "att_zero", "att_uniform", "att_temperature"


@dataclass(frozen=True)
class Selection:
    """What the sidebar chose: the model folder (None when there is none) and the sentence as typed."""

    model_path: str | None
    text: str


def _source_language(path: Path) -> str:
    try:
        card = resources.load_translator(str(path)).pretrained.card
    except ModelLoadError:
        card = {}
    return language_pair(path.name, card)[0]


def _use_example() -> None:
    choice = st.session_state.get(EXAMPLE_KEY)
    if choice and choice != NO_EXAMPLE:
        st.session_state[SENTENCE_KEY] = choice
    st.session_state[EXAMPLE_KEY] = NO_EXAMPLE


def _swap_example_language() -> None:
    """After a model change, an example sentence is replaced by the same example in the new source language."""
    text = st.session_state.get(SENTENCE_KEY, "")
    for sentences in EXAMPLES.values():
        if text in sentences:
            index = sentences.index(text)
            name = st.session_state.get(MODEL_KEY)
            if name:
                language = _source_language(models_dir() / name)
                st.session_state[SENTENCE_KEY] = examples_for(language)[index]
            return


def render() -> Selection:
    """Draw the shared sidebar and return the selection (also kept in session state for the pages)."""
    directory = models_dir()
    names = available_models(directory)
    with st.sidebar:
        if not names:
            st.error(
                f"No model found in `{directory}`. Each model is a folder with model.safetensors, config.json "
                f"and tokenizer.json. Train one with `python -m model.train` (see the README), or set "
                f"{MODELS_DIR_ENV} to a folder that holds model folders."
            )
            selection = Selection(None, st.session_state.get(SENTENCE_KEY, ""))
            st.session_state[SELECTION_KEY] = selection
            return selection
        if st.session_state.get(MODEL_KEY) not in names:
            st.session_state.pop(MODEL_KEY, None)
        name = st.selectbox(
            "Model",
            names,
            key=MODEL_KEY,
            on_change=_swap_example_language,
            help=f"Every folder in {directory}.",
        )
        path = directory / name
        language = _source_language(path)
        examples = examples_for(language)
        if SENTENCE_KEY not in st.session_state:
            st.session_state[SENTENCE_KEY] = examples[0]
        text = st.text_area(
            f"Sentence ({LANGUAGE_NAMES.get(language, language)})",
            key=SENTENCE_KEY,
            height=110,
            help="Any sentence; the models learned from short image captions, so those work best.",
        )
        st.selectbox("Examples", [NO_EXAMPLE, *examples], key=EXAMPLE_KEY, on_change=_use_example)
        trace_button(str(path), text or "")
    selection = Selection(str(path), text or "")
    st.session_state[SELECTION_KEY] = selection
    return selection


def interventions_in_force(path: str) -> tuple[tuple[HeadRef, ...], tuple[HeadRef, ...], float]:
    """(zero heads, uniform heads, temperature) as the Attention page's widgets (and the link) hold them, heads
    this model does not have left out: the interventions that made the trace that page shows."""
    heads = set(every_head(resources.load_translator(path).model.config))
    state = st.session_state
    zero = tuple(ref for ref in state.get(ZERO_KEY) or () if ref in heads)
    uniform = tuple(ref for ref in state.get(UNIFORM_KEY) or () if ref in heads)
    temperature = state.get(TEMPERATURE_KEY)
    return zero, uniform, float(temperature) if isinstance(temperature, (int, float)) else 1.0


def trace_button(path: str, text: str) -> None:
    """Download the whole trace of the sentence as JSON: `python -m model.translate --json`'s schema
    (model.inspect.trace_json), with the interventions in force. Written only when clicked, without rerunning the
    page."""
    try:
        resources.check_sentence(path, text)
        zero, uniform, temperature = interventions_in_force(path)
    except (InputError, ModelLoadError):
        return  # the page says what is wrong with the sentence or the model

    def data() -> str:
        trace = resources.get_trace(path, text, zero, uniform, temperature)
        return trace_json(trace, zero, uniform, temperature)

    changed = len(zero) + len(uniform)
    note = (
        f" Made with the Attention page's interventions: {changed} head(s) changed, temperature {temperature:g}."
        if changed or temperature != 1.0
        else " No interventions are on."
    )
    words = "-".join(text.split()[:6])
    st.download_button(
        "Trace as JSON",
        data=data,
        file_name=exports.file_name(Path(path).name, words, "trace", suffix="json"),
        mime="application/json",
        key=TRACE_BUTTON_KEY,
        on_click="ignore",
        icon=":material/data_object:",
        help="Everything the model computed for this sentence (the schema of python -m model.translate --json)." + note,
    )


def current() -> Selection:
    """The selection made by the sidebar in this run."""
    return st.session_state.get(SELECTION_KEY, Selection(None, ""))
