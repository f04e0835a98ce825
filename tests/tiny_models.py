"""Small pretrained folders for tests: a BPE tokenizer trained on a slice of Multi30k and a tiny model briefly
trained on a few pairs, so that it stops with an end token and its attention is not uniform."""

from __future__ import annotations

from pathlib import Path

import torch
from torch.nn import functional as F

from model.data.checkpoint import save_pretrained
from model.data.corpus import load_pairs
from model.data.tokenizer import SubwordTokenizer
from model.nn.config import ModelConfig
from model.nn.transformer import Transformer
from model.train.batching import collate

TINY_MODEL = {
    "d_model": 64,
    "n_heads": 4,
    "n_encoder_layers": 2,
    "n_decoder_layers": 2,
    "d_ff": 128,
    "max_len": 160,
    "dropout": 0.0,
    "attention_dropout": 0.0,
}


def tiny_tokenizer(pairs: int = 400, vocab_size: int = 300) -> SubwordTokenizer:
    """BPE trained on the first `pairs` English-German training pairs (needs ../shared/data)."""
    texts = [side for pair in load_pairs("train", "en", "de")[:pairs] for side in pair]
    return SubwordTokenizer.train(texts, vocab_size=vocab_size)


def overfit(model: Transformer, encoded: list[tuple[list[int], list[int]]], steps: int, lr: float = 3e-3) -> float:
    """Full-batch Adam on the encoded pairs; returns the last loss."""
    source, decoder_input, labels = collate(encoded, model.config.pad_id)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    loss = torch.tensor(0.0)
    for _ in range(steps):
        logits = model(source, decoder_input)
        loss = F.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=model.config.pad_id)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    return float(loss.detach())


def make_tiny_pretrained(directory: Path, seed: int = 0, steps: int = 120, card: dict | None = None) -> Path:
    """Write a pretrained folder (English -> German) with a tiny model trained for `steps` on 16 pairs."""
    tokenizer = tiny_tokenizer()
    torch.manual_seed(seed)
    model = Transformer(ModelConfig(vocab_size=tokenizer.vocab_size, **TINY_MODEL))
    pairs = load_pairs("train", "en", "de")[:16]
    overfit(model, [(tokenizer.encode(s), tokenizer.encode(t)) for s, t in pairs], steps)
    return save_pretrained(directory, model, tokenizer, card=card or {"name": directory.name, "test": {}})
