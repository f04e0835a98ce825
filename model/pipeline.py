"""Text in, translation or trace out: the one place where the tokenizer and the model meet."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from model.data.checkpoint import Pretrained
from model.data.corpus import normalize
from model.decode import greedy_decode_batch
from model.inspect.interventions import Interventions
from model.inspect.trace import Trace
from model.inspect.tracing import trace_sentence
from model.nn.names import HeadRef

MAX_INPUT_CHARS = 1000
MAX_SOURCE_TOKENS = 128


class InputError(ValueError):
    """User text the model cannot take; the message says why in one plain sentence."""


class Translator:
    """Translates and traces sentences with one pretrained model. Stateless between calls."""

    def __init__(self, pretrained: Pretrained) -> None:
        self.pretrained = pretrained
        self.model = pretrained.model
        self.tokenizer = pretrained.tokenizer
        self.max_source_tokens = min(MAX_SOURCE_TOKENS, self.model.config.max_len)

    def source_ids(self, text: str) -> list[int]:
        """Checked encoder input for one sentence: <s> subwords </s>."""
        if not isinstance(text, str):
            raise InputError("the sentence must be text")
        if len(text) > MAX_INPUT_CHARS:
            raise InputError(f"the text has {len(text):,} characters; the limit is {MAX_INPUT_CHARS:,}")
        cleaned = normalize(text)
        if not cleaned:
            raise InputError("the sentence is empty: type a few words to translate")
        ids = self.tokenizer.encode(cleaned)
        if len(ids) > self.max_source_tokens:
            raise InputError(f"the sentence has {len(ids)} tokens; this model takes at most {self.max_source_tokens}")
        return ids

    def translate(self, text: str) -> str:
        return self.translate_batch([text])[0]

    @torch.inference_mode()
    def translate_batch(self, texts: Sequence[str], batch_size: int = 128) -> list[str]:
        """Greedy translations, batched by similar length; order preserved. Empty lines translate to ''."""
        encoded: list[list[int] | None] = []
        for text in texts:
            try:
                encoded.append(self.source_ids(text))
            except InputError:
                if normalize(text) and len(text) <= MAX_INPUT_CHARS:
                    raise
                encoded.append(None)
        order = sorted((i for i, ids in enumerate(encoded) if ids is not None), key=lambda i: len(encoded[i] or []))
        results = [""] * len(texts)
        pad = self.model.config.pad_id
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            longest = max(len(encoded[i] or []) for i in chunk)
            batch = torch.full((len(chunk), longest), pad, dtype=torch.long)
            for row, index in enumerate(chunk):
                ids = encoded[index] or []
                batch[row, : len(ids)] = torch.tensor(ids)
            for index, output in zip(chunk, greedy_decode_batch(self.model, batch), strict=True):
                results[index] = self.tokenizer.decode(output)
        return results

    def trace(
        self,
        text: str,
        top_k: int = 5,
        stage_heads: Sequence[HeadRef] = (),
        interventions: Interventions | None = None,
        max_new_tokens: int | None = None,
    ) -> Trace:
        return trace_sentence(
            self.model,
            self.source_ids(text),
            token_text=self.tokenizer.token_text,
            detokenize=self.tokenizer.decode,
            top_k=top_k,
            stage_heads=stage_heads,
            interventions=interventions,
            max_new_tokens=max_new_tokens,
        )
