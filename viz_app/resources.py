"""Everything cached: one Translator per model folder per server, one trace per (model, sentence, options).

Returns numpy values (the Trace is a frozen dataclass of numpy arrays); the pages never touch torch.
"""

from __future__ import annotations

import gc
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import streamlit as st
import torch

from model.data.checkpoint import load_pretrained
from model.data.familiarity import Familiarity, familiarity
from model.data.token_stats import read_token_stats
from model.heads import HEADS_FILE
from model.inspect.ablation import ForcedPass, forced_pass, head_importance
from model.inspect.flow import value_vector_norms
from model.inspect.head_measures import HeadMeasures, measure_trace_heads
from model.inspect.interventions import Interventions
from model.inspect.lens import LayerPredictions, layer_predictions
from model.inspect.trace import Trace
from model.nn.config import ModelConfig
from model.nn.embeddings import sinusoidal_table
from model.nn.names import HeadRef, every_head
from model.pipeline import Translator
from viz_app.analysis import Projection, nearest_neighbours, pca_2d
from viz_app.model_card import ModelCard, read_model_card
from viz_app.settings import TRACE_TOP_K, language_pair


def configure_torch() -> None:
    """One thread: batch-1 decoding is fastest that way, and it stays fast when other work shares the CPU."""
    if torch.get_num_threads() != 1:
        torch.set_num_threads(1)


@dataclass(frozen=True)
class ModelInfo:
    """What the pages need to know about a model, as plain values."""

    name: str
    path: str
    source_language: str
    target_language: str
    d_model: int
    n_heads: int
    d_k: int
    n_encoder_layers: int
    n_decoder_layers: int
    vocab_size: int
    max_len: int
    max_source_tokens: int
    special_ids: tuple[int, ...]
    bos_id: int
    eos_id: int

    def is_special(self, token_id: int) -> bool:
        return token_id in self.special_ids

    def layers(self, kind: str) -> int:
        return self.n_encoder_layers if kind.startswith("encoder") else self.n_decoder_layers


def freeze_long_lived() -> None:
    """Exempt everything alive now (the imported modules, loaded models) from the garbage collector's scans.

    Streamlit runs a full collection after every script run (runner.postScriptGC). It walked about 265,000
    objects, nearly all of them the libraries' own modules and functions, and took about 0.4 s of CPU, holding the
    GIL so that the server sent nothing meanwhile, after every interaction; with them frozen about 0.06 s
    (bench/figure_draw.py). Called once per model load: objects of a page run alive at that moment are kept for
    good, a bounded one-time cost.
    """
    gc.collect()
    gc.freeze()


@st.cache_resource(show_spinner="Loading the model…")
def load_translator(path: str) -> Translator:
    """The model and tokenizer of one folder, loaded once per server; raises ModelLoadError for a bad folder."""
    configure_torch()
    translator = Translator(load_pretrained(path))
    freeze_long_lived()
    return translator


def model_info(path: str) -> ModelInfo:
    translator = load_translator(path)
    config = translator.model.config
    source, target = language_pair(Path(path).name, translator.pretrained.card)
    return ModelInfo(
        name=Path(path).name,
        path=path,
        source_language=source,
        target_language=target,
        d_model=config.d_model,
        n_heads=config.n_heads,
        d_k=config.d_k,
        n_encoder_layers=config.n_encoder_layers,
        n_decoder_layers=config.n_decoder_layers,
        vocab_size=config.vocab_size,
        max_len=config.max_len,
        max_source_tokens=translator.max_source_tokens,
        special_ids=(config.pad_id, config.unk_id, config.bos_id, config.eos_id),
        bos_id=config.bos_id,
        eos_id=config.eos_id,
    )


def check_sentence(path: str, text: str) -> list[int]:
    """The encoder input ids; raises InputError with a plain message for text the model cannot take."""
    return load_translator(path).source_ids(text)


@st.cache_data(max_entries=256, show_spinner=False)
def get_familiarity(path: str, text: str) -> Familiarity | None:
    """How far the sentence is from the training data (None for a folder without token_stats.json)."""
    stats = read_token_stats(path)
    if stats is None:
        return None
    info = model_info(path)
    unk_id = load_translator(path).model.config.unk_id
    return familiarity(stats, check_sentence(path, text), info.special_ids, unk_id)


def all_heads(info: ModelInfo) -> list[HeadRef]:
    """Every head of every attention site, so one trace serves every page and every choice of head."""
    return every_head(load_translator(info.path).model.config)


# What each cache holds (bench/server_memory.py, 2026-12-02; bytes as st.cache_data keeps them: pickled, one copy
# per entry; every hit unpickles a fresh copy for the calling session, freed when its run ends). A trace keeps the
# stages of all 72 heads, so it grows with source x output length: 1.3 MB for a 9 -> 8 token caption, 2.0 MB at
# 14 -> 12, 4.3 MB at 26 -> 23, 59.9 MB for the longest input a model takes (128 -> 178 tokens, no end token).
# The byte budget is what bounds the server: 128 MB is about 60 typical captions, or 2 of the longest inputs.
# With both shipped models loaded the server holds about 460 MB before any trace; 500 new sentences on the
# Attention page took it to about 590 MB (bench/server_memory.py; the README's "Hosting a class" has the figures).
TRACE_CACHE_SIZE = "128MB"
TRACE_CACHE_ENTRIES = 128  # a bound on bookkeeping only: the byte budget fills first unless captions are tiny


@st.cache_data(
    max_entries=TRACE_CACHE_ENTRIES, max_size=TRACE_CACHE_SIZE, show_spinner="Running the model on the sentence…"
)
def get_trace(
    path: str,
    text: str,
    zero_heads: tuple[HeadRef, ...] = (),
    uniform_heads: tuple[HeadRef, ...] = (),
    temperature: float = 1.0,
) -> Trace:
    """Greedy translation of `text` with everything recorded, stages of every head included.

    zero_heads / uniform_heads / temperature: interventions for this call only (the shared model is untouched).
    """
    translator = load_translator(path)
    interventions = Interventions(
        zero_heads=frozenset(zero_heads),
        uniform_heads=frozenset(uniform_heads),
        temperature=temperature,
    )
    return translator.trace(
        text,
        top_k=TRACE_TOP_K,
        stage_heads=all_heads(model_info(path)),
        interventions=None if interventions.is_identity else interventions,
    )


# 8.2 MB per model (8000 x 256 float32), kept once per model folder.
@st.cache_resource(show_spinner=False)
def embedding_table(path: str) -> np.ndarray:
    """The model's embedding matrix E [V, d] as stored (lookups multiply it by sqrt(d_model)); read-only."""
    table = load_translator(path).model.embedding.weight.detach().float().numpy().copy()
    table.setflags(write=False)
    return table


@st.cache_data(show_spinner="Projecting the vocabulary…")
def vocabulary(path: str) -> tuple[str, ...]:
    """Every token of the model's vocabulary as shown in the app, index = id."""
    tokenizer = load_translator(path).tokenizer
    return tuple(tokenizer.token_text(i) for i in range(tokenizer.vocab_size))


@st.cache_data(show_spinner="Projecting the vocabulary…")
def embedding_projection(path: str) -> Projection:
    """PCA of the whole embedding table to 2-D: coords [V, 2], computed once per model."""
    return pca_2d(embedding_table(path))


@st.cache_data(max_entries=256, show_spinner=False)
def neighbours(path: str, token_id: int, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """The k vocabulary entries closest (cosine) to one token, padding left out: (ids [k], similarities [k])."""
    pad_id = load_translator(path).model.config.pad_id
    return nearest_neighbours(embedding_table(path), token_id, k, exclude=(pad_id,))


@st.cache_data(max_entries=8, show_spinner=False)
def positional_table(max_len: int, d_model: int) -> np.ndarray:
    """The sinusoidal table [max_len, d_model] the model adds to its embeddings."""
    return sinusoidal_table(max_len, d_model).numpy()


# The head lab. Every result is keyed by the call's own arguments; nothing is set on the shared model.


@st.cache_data(max_entries=32, show_spinner="Switching each head off in turn (one batched pass)…")
def get_importance(path: str, text: str) -> dict[HeadRef, float]:
    """Every head's importance on this sentence: the drop in the summed log-probability of the model's own
    translation, teacher-forced, with that head alone switched off."""
    trace = get_trace(path, text)
    return head_importance(load_translator(path).model, trace.source.ids, list(trace.output_ids))


# A forced pass keeps every site's weights: 0.05 MB for a 14 -> 12 caption, 6.8 MB for the longest input.
@st.cache_data(max_entries=32, max_size="32MB", show_spinner="Scoring the original translation with the change…")
def get_forced(
    path: str, text: str, zero_heads: tuple[HeadRef, ...] = (), uniform_heads: tuple[HeadRef, ...] = ()
) -> ForcedPass:
    """The model's own translation (as trained) scored teacher-forced under these interventions: log p per step and
    every site's weights, aligned with the original steps."""
    trace = get_trace(path, text)
    interventions = Interventions(zero_heads=frozenset(zero_heads), uniform_heads=frozenset(uniform_heads))
    return forced_pass(
        load_translator(path).model,
        trace.source.ids,
        list(trace.output_ids),
        None if interventions.is_identity else interventions,
    )


@st.cache_data(max_entries=8, show_spinner=False)
def get_head_survey(path: str) -> dict[str, Any] | None:
    """The model folder's heads.json (python -m model.heads), or None when it has none or it cannot be read."""
    try:
        return json.loads((Path(path) / HEADS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


@st.cache_data(max_entries=32, show_spinner=False)
def get_sentence_measures(path: str, text: str) -> dict[HeadRef, HeadMeasures] | None:
    """Every head's measures on this sentence, or None when the folder has no token statistics for rarity."""
    stats = read_token_stats(path)
    if stats is None:
        return None
    trace = get_trace(path, text)
    config = load_translator(path).model.config
    special = {config.pad_id, config.unk_id, config.bos_id, config.eos_id}
    return measure_trace_heads(trace, special, config.eos_id, stats.source_counts, stats.target_counts)


# Under 0.1 MB per entry even for the longest input (72 heads x T_k norms); head measures about 0.01 MB.
@st.cache_data(max_entries=32, show_spinner=False)
def get_value_norms(path: str, text: str) -> dict[HeadRef, np.ndarray]:
    """||f(x_j)||, what each key sends through each head (norm-based attention), for every head."""
    return value_vector_norms(load_translator(path).model, get_trace(path, text))


# The whole architecture: the model's shape and card, and what each decoder layer would predict.


@st.cache_data(max_entries=8, show_spinner=False)
def get_config(path: str) -> ModelConfig:
    """The loaded model's configuration (a frozen dataclass of plain values)."""
    return load_translator(path).model.config


@st.cache_data(max_entries=8, show_spinner=False)
def get_model_card(path: str) -> ModelCard:
    """The folder's card.json and the limits section of its README.md (empty where a folder has none)."""
    try:
        readme = (Path(path) / "README.md").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        readme = ""
    return read_model_card(load_translator(path).pretrained.card, readme)


@st.cache_data(max_entries=32, show_spinner=False)
def get_layer_predictions(path: str, text: str, top_k: int = TRACE_TOP_K) -> LayerPredictions:
    """Every decoder layer's output on the sentence's trace sent through the model's output head (logit lens)."""
    translator = load_translator(path)
    return layer_predictions(translator.model, get_trace(path, text), translator.tokenizer.token_text, top_k)
