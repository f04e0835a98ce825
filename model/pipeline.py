"""Text in, translation or trace out: the one place where the tokenizer and the model meet."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import torch

from model.data.checkpoint import Pretrained
from model.decode import default_max_new_tokens, greedy_decode_batch
from model.inspect.interventions import Interventions
from model.inspect.trace import Trace
from model.inspect.tracing import trace_sentence
from model.nn.names import HeadRef

MAX_INPUT_CHARS = 1000
MAX_SOURCE_TOKENS = 128


class InputError(ValueError):
    """User text the model cannot take; the message says why in one plain sentence."""


class EmptyInputError(InputError):
    """Text with nothing to translate once whitespace is cleaned away (in a batch it translates to '')."""


class BatchInputError(InputError):
    """Texts of a batch the model cannot take. problems: index (from 0) -> reason, in index order."""

    def __init__(self, problems: Mapping[int, str]) -> None:
        self.problems = dict(sorted(problems.items()))
        super().__init__(describe_problems(self.problems))


def number_list(indices: Iterable[int]) -> str:
    """Indices from 0 as line numbers from 1: [0, 4, 5] -> '1, 5, 6'."""
    return ", ".join(str(index + 1) for index in indices)


def describe_problems(problems: Mapping[int, str]) -> str:
    """One line naming every rejected line (numbered from 1) and the reason for the first of them."""
    first = min(problems)
    noun = "line" if len(problems) == 1 else "lines"
    return f"{noun} {number_list(sorted(problems))} cannot be translated (line {first + 1}: {problems[first]})"


def check_text(text: object) -> None:
    """InputError unless text is a str of at most MAX_INPUT_CHARS characters that is valid Unicode.

    Valid means encodable as UTF-8: a lone surrogate (as Python makes from bytes that are not UTF-8 in a command
    line or a file read with surrogateescape) is not a character and the tokenizer library refuses it.
    """
    if not isinstance(text, str):
        raise InputError("the sentence must be text")
    if len(text) > MAX_INPUT_CHARS:
        raise InputError(f"the text has {len(text):,} characters; the limit is {MAX_INPUT_CHARS:,}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise InputError(
            f"the text is not valid Unicode: character {error.start + 1} is U+{ord(text[error.start]):04X}, a lone "
            "surrogate (often a byte that is not UTF-8)"
        ) from None


class Translator:
    """Translates and traces sentences with one pretrained model. Stateless between calls."""

    def __init__(self, pretrained: Pretrained) -> None:
        self.pretrained = pretrained
        self.model = pretrained.model
        self.tokenizer = pretrained.tokenizer
        self.max_source_tokens = min(MAX_SOURCE_TOKENS, self.model.config.max_len)

    def source_ids(self, text: str) -> list[int]:
        """Checked encoder input for one sentence: <s> subwords </s>. InputError (EmptyInputError for blank text)
        when the model cannot take it."""
        check_text(text)
        if not self.tokenizer.normalized(text):
            raise EmptyInputError("the sentence is empty: type a few words to translate")
        ids = self.tokenizer.encode(text)
        if len(ids) > self.max_source_tokens:
            raise InputError(f"the sentence has {len(ids)} tokens; this model takes at most {self.max_source_tokens}")
        return ids

    def input_problems(self, texts: Sequence[str]) -> dict[int, str]:
        """index (from 0) -> reason, for each text the model cannot take; empty texts are no problem."""
        return self._encode_all(texts)[1]

    def translate(self, text: str, interventions: Interventions | None = None) -> str:
        """Greedy translation of one sentence; InputError for text it cannot take, empty text included."""
        return self.tokenizer.decode(self._decode([self.source_ids(text)], interventions)[0])

    def translate_batch(
        self, texts: Sequence[str], batch_size: int = 128, interventions: Interventions | None = None
    ) -> list[str]:
        """Greedy translations, batched by similar length; order preserved. Empty lines translate to ''.

        Any other text the model cannot take raises BatchInputError naming all of them (nothing is translated).
        Each translation is what `translate` gives for that text alone: it never depends on the other texts.
        """
        encoded, problems = self._encode_all(texts)
        if problems:
            raise BatchInputError(problems)
        order = sorted((i for i, ids in enumerate(encoded) if ids is not None), key=lambda i: len(encoded[i] or []))
        results = [""] * len(texts)
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            outputs = self._decode([encoded[i] or [] for i in chunk], interventions)
            for index, output in zip(chunk, outputs, strict=True):
                results[index] = self.tokenizer.decode(output)
        return results

    def _encode_all(self, texts: Sequence[str]) -> tuple[list[list[int] | None], dict[int, str]]:
        """Source ids per text (None for empty and rejected texts) and the reasons for the rejected ones."""
        encoded: list[list[int] | None] = []
        problems: dict[int, str] = {}
        for index, text in enumerate(texts):
            try:
                encoded.append(self.source_ids(text))
            except EmptyInputError:
                encoded.append(None)
            except InputError as error:
                encoded.append(None)
                problems[index] = str(error)
        return encoded, problems

    @torch.inference_mode()
    def _decode(self, sources: list[list[int]], interventions: Interventions | None) -> list[list[int]]:
        """Greedy output ids (EOS excluded) of source id lists, decoded as one right-padded batch [B, S_max].

        The batch runs to the length limit of its longest source; each output is then cut at the limit its own
        source has alone, default_max_new_tokens(model, len(ids)). Greedy decoding is causal, so its first n
        tokens do not depend on the limit: the cut output is exactly what decoding the sentence alone gives.
        """
        pad = self.model.config.pad_id
        device = self.model.embedding.weight.device
        batch = torch.full((len(sources), max(len(ids) for ids in sources)), pad, dtype=torch.long, device=device)
        for row, ids in enumerate(sources):
            batch[row, : len(ids)] = torch.tensor(ids, device=device)
        probe = None if interventions is None or interventions.is_identity else interventions
        outputs = greedy_decode_batch(self.model, batch, probe=probe)
        return [
            output[: default_max_new_tokens(self.model, len(ids))] for ids, output in zip(sources, outputs, strict=True)
        ]

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
