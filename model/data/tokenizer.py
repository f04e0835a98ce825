"""A joint BPE vocabulary for both languages, built with the `tokenizers` library.

Words are split on spaces and punctuation; a visible "▁" marks the start of a word, so tokens read well in the
app and decoding gives back normal text for scoring. Every encoded sentence is wrapped as <s> ... </s>.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

from model.data.corpus import normalize

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<s>", "</s>"
SPECIAL_TOKENS = (PAD, UNK, BOS, EOS)
WORD_START = "▁"


class TokenizerError(ValueError):
    """A tokenizer file that is missing, unreadable or not one of ours."""


class SubwordTokenizer:
    """Wraps a `tokenizers.Tokenizer` with the four special tokens at ids 0..3 (pad, unk, start, end)."""

    def __init__(self, tokenizer: Tokenizer) -> None:
        for expected_id, token in enumerate(SPECIAL_TOKENS):
            if tokenizer.token_to_id(token) != expected_id:
                raise TokenizerError(f"tokenizer must map {token} to id {expected_id}")
        self._tokenizer = tokenizer
        self._vocab = [tokenizer.id_to_token(i) or UNK for i in range(tokenizer.get_vocab_size())]

    pad_id, unk_id, bos_id, eos_id = 0, 1, 2, 3

    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int = 8000, min_frequency: int = 2) -> SubwordTokenizer:
        """Learn BPE merges from texts (already normalized) until the vocabulary has vocab_size entries."""
        tokenizer = Tokenizer(models.BPE(unk_token=UNK))
        tokenizer.normalizer = normalizers.NFC()
        tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
            [pre_tokenizers.Metaspace(replacement=WORD_START), pre_tokenizers.Punctuation()]
        )
        tokenizer.decoder = decoders.Metaspace(replacement=WORD_START)
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            min_frequency=min_frequency,
            special_tokens=list(SPECIAL_TOKENS),
            show_progress=False,
        )
        tokenizer.train_from_iterator(texts, trainer=trainer)
        tokenizer.post_processor = processors.TemplateProcessing(
            single=f"{BOS} $A {EOS}", special_tokens=[(BOS, 2), (EOS, 3)]
        )
        return cls(tokenizer)

    @classmethod
    def load(cls, path: str | Path) -> SubwordTokenizer:
        path = Path(path)
        if not path.is_file():
            raise TokenizerError(f"tokenizer file not found: {path}")
        try:
            return cls(Tokenizer.from_file(str(path)))
        except Exception as error:  # the Rust library raises plain Exceptions for malformed files
            if isinstance(error, TokenizerError):
                raise
            raise TokenizerError(f"cannot read tokenizer {path}: {str(error).splitlines()[0]}") from error

    def save(self, path: str | Path) -> None:
        # The library's own JSON, re-indented so diffs of committed tokenizers stay readable.
        Path(path).write_text(
            json.dumps(json.loads(self._tokenizer.to_str()), ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
        )

    @property
    def vocab_size(self) -> int:
        return len(self._vocab)

    def encode(self, text: str) -> list[int]:
        """Normalized text -> ids with <s> first and </s> last."""
        return self._tokenizer.encode(normalize(text)).ids

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        return [encoding.ids for encoding in self._tokenizer.encode_batch([normalize(t) for t in texts])]

    def decode(self, ids: Iterable[int]) -> str:
        """ids -> plain text, special tokens dropped."""
        return self._tokenizer.decode(list(ids), skip_special_tokens=True)

    def decode_batch(self, batch: list[list[int]]) -> list[str]:
        return self._tokenizer.decode_batch(batch, skip_special_tokens=True)

    def token_text(self, token_id: int) -> str:
        """The token as shown in the app, word-start marker kept: '▁dog', 's', '</s>'."""
        if not 0 <= token_id < len(self._vocab):
            return UNK
        return self._vocab[token_id]

    def is_special(self, token_id: int) -> bool:
        return 0 <= token_id < len(SPECIAL_TOKENS)
