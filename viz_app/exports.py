"""What the pages let a user download: a chart's matrix as CSV with labelled rows and columns, the trace as JSON.
Pure functions of plain values; the pages pass them (as callables) to st.download_button."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence

import numpy as np

_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def position_labels(tokens: Sequence[str]) -> list[str]:
    """'3 ▁dog' per token: the position first, so repeated tokens stay distinct and no cell starts with a character
    a spreadsheet would read as a formula (=, +, -, @)."""
    return [f"{position} {token}" for position, token in enumerate(tokens)]


def matrix_csv(matrix: np.ndarray, row_labels: Sequence[str], column_labels: Sequence[str], corner: str) -> str:
    """matrix [R, C] as CSV text: a header row (corner, then the column labels), then one row per label.

    Values are written with full float32 precision (repr of the float); NaN (a cell that was never computed) is
    written as an empty cell.
    """
    values = np.asarray(matrix, dtype=np.float64)
    if values.ndim != 2 or values.shape != (len(row_labels), len(column_labels)):
        raise ValueError(f"matrix {values.shape} does not match {len(row_labels)} x {len(column_labels)} labels")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([corner, *column_labels])
    for label, row in zip(row_labels, values, strict=True):
        writer.writerow([label, *("" if np.isnan(v) else repr(float(np.float32(v))) for v in row)])
    return out.getvalue()


def file_name(*parts: object, suffix: str) -> str:
    """A safe download name from its parts: 'multi30k-en-de_decoder.1.cross_attn_head3.csv'."""
    stem = "_".join(_UNSAFE_NAME.sub("-", str(part)).strip("-") for part in parts if str(part))
    return f"{stem or 'download'}.{suffix}"
