"""One way for every CLI to end on a user error: a single line on stderr and exit code 2."""

from __future__ import annotations

import sys
from collections.abc import Callable

from model.data.checkpoint import ModelLoadError
from model.data.tokenizer import TokenizerError
from model.pipeline import InputError

USER_ERRORS = (ModelLoadError, InputError, TokenizerError, FileNotFoundError, IsADirectoryError, UnicodeDecodeError)


def run_cli(main: Callable[[], int]) -> int:
    """Call main(); user errors become 'error: <one line>' and exit code 2."""
    try:
        return main()
    except USER_ERRORS as error:
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        print(f"error: {message}", file=sys.stderr)
        return 2
