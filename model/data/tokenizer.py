"""A joint BPE vocabulary for both languages, built with the `tokenizers` library.

Words are split on spaces and punctuation; a visible "▁" marks the start of a word, so tokens read well in the
app and decoding gives back normal text for scoring. Every encoded sentence is wrapped as <s> ... </s>.

The text clean-up (`model.data.corpus.normalize`: NFC, every run of whitespace to one space, trimmed) lives in
the saved tokenizer's own normalizer, so `tokenizers.Tokenizer.from_file("tokenizer.json").encode(text)` gives
exactly the ids of `SubwordTokenizer.encode(text)`. Files written before that held NFC alone; they are upgraded
in memory when loaded (their token ids unchanged: the text they were trained and used on was cleaned first).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<s>", "</s>"
SPECIAL_TOKENS = (PAD, UNK, BOS, EOS)
WORD_START = "▁"
# Every character Python's `\s` matches (the same as str.isspace()), which `normalize` collapses and trims;
# tests/test_data_tokenizer.py checks this list against Python over all of Unicode.
WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680"
    "\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
# The normalizer of tokenizer files written before the clean-up moved into the file.
LEGACY_NORMALIZER = {"type": "NFC"}


def _char_class(chars: str) -> str:
    """A regex class for the library's Oniguruma engine, runs of code points as ranges: '[\\x{9}-\\x{d}...]'."""
    points = sorted(map(ord, chars))
    runs: list[list[int]] = []
    for point in points:
        if runs and point == runs[-1][1] + 1:
            runs[-1][1] = point
        else:
            runs.append([point, point])
    parts = (f"\\x{{{a:x}}}" if a == b else f"\\x{{{a:x}}}-\\x{{{b:x}}}" for a, b in runs)
    return "[" + "".join(parts) + "]"


def text_normalizer() -> normalizers.Normalizer:
    """`normalize` as the library's normalizer: NFC, whitespace trimmed at both ends, inner runs to one space."""
    space = _char_class(WHITESPACE) + "+"
    return normalizers.Sequence(
        [
            normalizers.NFC(),
            normalizers.Replace(Regex(rf"\A{space}|{space}\z"), ""),
            normalizers.Replace(Regex(space), " "),
        ]
    )


def has_legacy_normalizer(tokenizer: Tokenizer) -> bool:
    """True for a tokenizer whose normalizer is NFC alone, as this project wrote them before `text_normalizer`."""
    normalizer = tokenizer.normalizer
    return normalizer is not None and json.loads(normalizer.__getstate__()) == LEGACY_NORMALIZER


def cannot_read(path: Path, error: OSError) -> str:
    """One line for a file the operating system will not hand over: '<path> cannot be read: permission denied'."""
    reason = (error.strerror or type(error).__name__).lower()
    return f"{path} cannot be read: {reason}"


class TokenizerError(ValueError):
    """A tokenizer file that is missing, unreadable or not one of ours."""


class SubwordTokenizer:
    """Wraps a `tokenizers.Tokenizer` with the four special tokens at ids 0..3 (pad, unk, start, end).

    A tokenizer whose normalizer is the legacy NFC alone gets `text_normalizer()` instead (the given Tokenizer
    object is changed in place), so every tokenizer this project ever wrote cleans text the same way.
    """

    def __init__(self, tokenizer: Tokenizer) -> None:
        for expected_id, token in enumerate(SPECIAL_TOKENS):
            if tokenizer.token_to_id(token) != expected_id:
                raise TokenizerError(f"tokenizer must map {token} to id {expected_id}")
        if has_legacy_normalizer(tokenizer):
            tokenizer.normalizer = text_normalizer()
        self._tokenizer = tokenizer
        self._vocab = [tokenizer.id_to_token(i) or UNK for i in range(tokenizer.get_vocab_size())]

    pad_id, unk_id, bos_id, eos_id = 0, 1, 2, 3

    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int = 8000, min_frequency: int = 2) -> SubwordTokenizer:
        """Learn BPE merges from texts (cleaned by the normalizer first) until the vocabulary has vocab_size entries."""
        tokenizer = Tokenizer(models.BPE(unk_token=UNK))
        tokenizer.normalizer = text_normalizer()
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
        """Read a tokenizer.json; TokenizerError (one line) when it is missing, unreadable or malformed."""
        path = Path(path)
        try:
            if not path.is_file():
                raise TokenizerError(f"tokenizer file not found: {path}")
            data = path.read_bytes()
        except OSError as error:
            raise TokenizerError(cannot_read(path, error)) from error
        try:
            return cls(Tokenizer.from_str(data.decode("utf-8")))
        except TokenizerError:
            raise
        except Exception as error:  # the Rust library raises plain Exceptions for malformed files
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
        """Text -> ids with <s> first and </s> last, cleaned by the tokenizer's own normalizer.

        The text must be encodable as UTF-8 (no lone surrogates): the library rejects anything else.
        """
        return self._tokenizer.encode(text).ids

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        return [encoding.ids for encoding in self._tokenizer.encode_batch(texts)]

    def normalized(self, text: str) -> str:
        """The text as the tokenizer sees it after its normalizer ('' for blank text)."""
        normalizer = self._tokenizer.normalizer
        return normalizer.normalize_str(text) if normalizer is not None else text

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
