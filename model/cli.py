"""What the command lines share: one way to end on a user error (a single line on stderr and exit code 2), reading
input files line by line, and the --zero-heads option."""

from __future__ import annotations

import argparse
import codecs
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from model.data.checkpoint import ModelLoadError
from model.data.tokenizer import TokenizerError, cannot_read
from model.inspect.interventions import Interventions
from model.nn.config import ModelConfig
from model.nn.names import HeadRef
from model.pipeline import InputError


class UsageError(ValueError):
    """A command line argparse cannot make sense of (unknown option, missing value, options that clash)."""


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors end like every other user error: one line, exit code 2 (through run_cli)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see {self.prog} --help)")


USER_ERRORS = (ModelLoadError, InputError, TokenizerError, UsageError, OSError, UnicodeDecodeError)
HEADS_FORMAT = "SITE:HEAD[,SITE:HEAD...], for example decoder.1.cross_attn:3,encoder.0.self_attn:0"


def error_line(error: BaseException) -> str:
    """The first line of an error's message; an OSError with a file name says which file and why."""
    if isinstance(error, OSError) and isinstance(error.filename, str) and error.strerror:
        return f"{error.filename}: {error.strerror.lower()}"
    text = str(error)
    return text.splitlines()[0] if text.strip() else type(error).__name__


def run_cli(main: Callable[[], int]) -> int:
    """Call main(); user errors become 'error: <one line>' and exit code 2."""
    try:
        return main()
    except USER_ERRORS as error:
        print(f"error: {error_line(error)}", file=sys.stderr)
        return 2


def read_input_lines(path: Path) -> list[str]:
    """The lines of a text file, split at \\n, \\r\\n or \\r only (a leading UTF-8 byte-order mark dropped).

    Bytes that are not UTF-8 become lone surrogates (Python's surrogateescape), so the line holding them is one
    the translator rejects by number like any other, instead of the whole file failing without a line number.
    InputError '<path> cannot be read: <reason>' when the file cannot be read.
    """
    try:
        data = path.read_bytes()
    except OSError as error:
        raise InputError(cannot_read(path, error)) from error
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    return [line.decode("utf-8", errors="surrogateescape") for line in data.splitlines()]


def check_head(ref: HeadRef, config: ModelConfig) -> None:
    """InputError naming the head unless the model has it (layer and head index within its config)."""
    side = ref.kind.split(".")[0]
    layers = config.n_encoder_layers if side == "encoder" else config.n_decoder_layers
    if ref.layer >= layers:
        raise InputError(f"there is no head {ref}: this model's {side} has {layers} layers, 0 to {layers - 1}")
    if ref.head >= config.n_heads:
        raise InputError(
            f"there is no head {ref}: this model has {config.n_heads} heads per site, 0 to {config.n_heads - 1}"
        )


def parse_heads(text: str, config: ModelConfig) -> frozenset[HeadRef]:
    """'decoder.1.cross_attn:3,encoder.0.self_attn:0' -> those heads; InputError naming a malformed or unknown one."""
    heads: set[HeadRef] = set()
    for part in text.split(","):
        if not part.strip():
            raise InputError(f"--zero-heads {text!r} has an empty entry; write {HEADS_FORMAT}")
        try:
            ref = HeadRef.parse(part)
        except ValueError as error:
            raise InputError(f"--zero-heads: {error}") from None
        try:
            check_head(ref, config)
        except InputError as error:
            raise InputError(f"--zero-heads: {error}") from None
        heads.add(ref)
    return frozenset(heads)


def zero_heads_option(text: str | None, config: ModelConfig) -> Interventions | None:
    """The Interventions of a --zero-heads value (None when the option is not given)."""
    if text is None:
        return None
    return Interventions(zero_heads=parse_heads(text, config))
