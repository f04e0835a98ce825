"""Downloads: CSV of a matrix reads back to the same numbers and labels; file names are safe."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest

from viz_app.exports import file_name, matrix_csv, position_labels


def test_csv_reads_back_to_the_same_numbers_and_labels() -> None:
    rng = np.random.default_rng(0)
    matrix = rng.random((3, 4), dtype=np.float32)
    matrix[0, 3] = np.nan
    rows = position_labels(["<s>", "▁Ein", "▁Hund"])
    columns = position_labels(["▁A", "▁dog", ",", "=SUM(A1)"])
    rows_read = list(csv.reader(io.StringIO(matrix_csv(matrix, rows, columns, corner="query \\ key"))))
    assert rows_read[0] == ["query \\ key", "0 ▁A", "1 ▁dog", "2 ,", "3 =SUM(A1)"]
    assert [r[0] for r in rows_read[1:]] == ["0 <s>", "1 ▁Ein", "2 ▁Hund"]
    assert rows_read[1][4] == ""
    back = np.array([[float(v) if v else np.nan for v in r[1:]] for r in rows_read[1:]], dtype=np.float32)
    np.testing.assert_array_equal(back, matrix)
    assert all(cell[:1] not in "=+-@" for r in rows_read for cell in r[:1])


def test_csv_refuses_labels_that_do_not_fit() -> None:
    with pytest.raises(ValueError, match="labels"):
        matrix_csv(np.zeros((2, 2)), ["a"], ["b", "c"], corner="")


def test_file_names_are_safe() -> None:
    assert file_name("multi30k-en-de", "decoder.1.cross_attn", "head 3", suffix="csv") == (
        "multi30k-en-de_decoder.1.cross_attn_head-3.csv"
    )
    assert "/" not in file_name("../../etc/passwd", suffix="json")
    assert file_name("", suffix="csv") == "download.csv"
