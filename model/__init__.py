"""An encoder-decoder Transformer written out by hand, instrumented for inspection.

Rooms, lowest first (a room imports only rooms above it in this list, never the app):
- `nn/`: the architecture (config, embeddings, masks, attention, layers, transformer); plain PyTorch.
- `decode.py`: greedy decoding with the key/value cache; returns ids and tensors.
- `inspect/`: the trace of one sentence, the per-call recorder, interventions.
- `data/`: the corpus, the tokenizer, pretrained folders.
- `pipeline.py`: text in, translation or trace out (`Translator`).
- `train/`: training, scoring, export. `evaluate.py`, `translate.py`, `train/__main__.py`: the CLIs.
"""

from model.data.checkpoint import load_pretrained
from model.inspect.trace import Trace
from model.inspect.tracing import trace_sentence
from model.nn.config import ModelConfig
from model.nn.transformer import Transformer
from model.pipeline import Translator

__all__ = ["ModelConfig", "Trace", "Transformer", "Translator", "load_pretrained", "trace_sentence"]
