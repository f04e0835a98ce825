"""The sidebar every page shares: which model, which sentence (typed or picked from examples)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from model.data.checkpoint import ModelLoadError
from viz_app import resources
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
    selection = Selection(str(path), text or "")
    st.session_state[SELECTION_KEY] = selection
    return selection


def current() -> Selection:
    """The selection made by the sidebar in this run."""
    return st.session_state.get(SELECTION_KEY, Selection(None, ""))
