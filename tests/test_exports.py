"""Downloads: CSV of a matrix and of a chart's figure reads back to the same numbers and labels; file names are
safe; the trace's JSON is the CLI's with every intervention."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import plotly.graph_objects as go
import pytest

from model.inspect.interventions import Interventions
from model.inspect.trace import AttentionStages
from model.inspect.trace_json import trace_json
from model.inspect.tracing import trace_sentence
from model.nn.names import HeadRef
from model.nn.transformer import Transformer
from viz_app.exports import (
    MASKED_CELL,
    figure_csv,
    file_name,
    has_data,
    matrix_csv,
    number_text,
    position_labels,
    safe_text,
)
from viz_app.figures.attention import attention_heatmap, head_grid, layer_head_grid
from viz_app.figures.heads import measures_bars
from viz_app.figures.overview import training_curve
from viz_app.figures.stage_frames import stage_frames_figure


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


# --- a chart's CSV, read from the figure itself -------------------------------------------------------------------

QUERIES = ["0:<s>", "1:▁Ein", "2:&Hund"]
KEYS = ["0:▁A", "1:▁dog", "2:</s>", "3:-x"]


def read_blocks(text: str) -> list[list[list[str]]]:
    """The CSV's blocks (separated by an empty row), each a list of rows."""
    blocks: list[list[list[str]]] = [[]]
    for row in csv.reader(io.StringIO(text)):
        if row:
            blocks[-1].append(row)
        else:
            blocks.append([])
    return blocks


def numbers(block: list[list[str]]) -> np.ndarray:
    """A block's cells below its header and right of its labels: '' -> NaN, 'masked' -> -inf."""
    cell = {"": np.nan, MASKED_CELL: -np.inf}
    return np.array([[cell[v] if v in cell else float(v) for v in row[1:]] for row in block[1:]])


def weights(heads: int = 4, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((heads, len(QUERIES), len(KEYS)), dtype=np.float32)


def test_one_heatmap_is_one_labelled_table_with_masked_and_missing_cells() -> None:
    matrix = weights(1)[0]
    matrix[2, 1] = np.nan  # never computed
    allowed = np.ones(matrix.shape, dtype=bool)
    allowed[0, 3] = False
    (block,) = read_blocks(figure_csv(attention_heatmap(matrix, QUERIES, KEYS, title="t", allowed=allowed)) or "")
    assert block[0] == ["query \\ key", *KEYS]  # plotly's escapes undone: the labels as the trace has them
    assert [row[0] for row in block[1:]] == QUERIES
    assert block[1][4] == MASKED_CELL and block[3][2] == ""
    np.testing.assert_array_equal(numbers(block).astype(np.float32), np.where(allowed, matrix, -np.inf))


def test_a_tiled_grid_becomes_one_block_per_head_named_by_its_panel_title() -> None:
    stack = weights(3)
    blocks = read_blocks(figure_csv(head_grid(stack, QUERIES, KEYS, title="t", cols=2)) or "")
    assert [block[0][0] for block in blocks] == ["head 0", "head 1", "head 2"]  # the empty fourth slot is left out
    for head, block in enumerate(blocks):
        assert block[0][1:] == KEYS and [row[0] for row in block[1:]] == QUERIES
        np.testing.assert_array_equal(numbers(block).astype(np.float32), stack[head])


def test_layers_and_heads_without_tick_labels_are_named_by_row_and_column_titles() -> None:
    stack = np.stack([weights(2, seed=1), weights(2, seed=2)])  # [L=2, H=2, T_q, T_k]
    blocks = read_blocks(figure_csv(layer_head_grid(stack, QUERIES, KEYS, title="t")) or "")
    names = [block[0][0] for block in blocks]
    assert names == ["layer 0 · head 0", "layer 0 · head 1", "layer 1 · head 0", "layer 1 · head 1"]
    for index, block in enumerate(blocks):
        layer, head = divmod(index, 2)
        assert block[0][1:] == ["0", "1", "2", "3"]  # positions: the thumbnails carry no token labels
        np.testing.assert_array_equal(numbers(block).astype(np.float32), stack[layer, head])


ALLOWED = np.array([[j <= i + 1 for j in range(len(KEYS))] for i in range(len(QUERIES))])  # key 3 hidden from 0, 1
STAGE_BLOCKS = {  # the name of each panel's block, the field of AttentionStages it holds, its row and column labels
    "Q (3 × 2)": ("q", QUERIES, ["d0", "d1"]),
    "K (4 × 2)": ("k", KEYS, ["d0", "d1"]),
    "V (4 × 2)": ("v", KEYS, ["d0", "d1"]),
    "Q Kᵀ: raw scores": ("raw_scores", QUERIES, KEYS),
    "Divided by √2": ("scaled_scores", QUERIES, KEYS),
    "Scaled scores + mask": ("masked_scores", QUERIES, KEYS),
    "softmax(row): the attention weights": ("weights", QUERIES, KEYS),
    "Weights × V: the head's output": ("output", QUERIES, ["d0", "d1"]),
}
MASK_BLOCK = "The mask added to the scores"


def layer_stages(heads: int = 6) -> list[AttentionStages]:
    """Every stage of `heads` heads (d_k 2) over QUERIES and KEYS, -inf before the softmax where ALLOWED is False."""
    rng = np.random.default_rng(3)
    made = []
    for head in range(heads):
        q = rng.standard_normal((len(QUERIES), 2)).astype(np.float32) * (head + 1)
        k, v = (rng.standard_normal((len(KEYS), 2)).astype(np.float32) for _ in range(2))
        raw = q @ k.T
        scaled = raw / np.float32(np.sqrt(2.0))
        masked = np.where(ALLOWED, scaled, np.float32(-np.inf))
        exp = np.exp(masked - masked.max(axis=-1, keepdims=True))
        weights = exp / exp.sum(axis=-1, keepdims=True)
        made.append(AttentionStages("decoder.0.self_attn", head, q, k, v, raw, scaled, masked, weights, weights @ v))
    return made


def stages_figure(layer: list[AttentionStages], head: int = 0) -> go.Figure:
    notes = [f"head {h} <i>note</i>" for h in range(len(layer))]
    return stage_frames_figure(layer, QUERIES, KEYS, title="t", head=head, scale_text="√2", notes=notes)


def sections(text: str) -> list[tuple[str | None, list[list[list[str]]]]]:
    """The CSV's sections: what no frame changes (None), then each frame's, named by the row before its blocks."""
    found: list[tuple[str | None, list[list[list[str]]]]] = [(None, [])]
    for block in read_blocks(text):
        if len(block[0]) == 1 and block[0][0].startswith("Head "):
            found.append((block[0][0], []))
            block = block[1:]
        found[-1][1].append(block)
    return found


def test_the_stage_figure_writes_the_mask_once_then_every_heads_panels_under_its_name() -> None:
    layer = layer_stages(6)
    fig = stages_figure(layer, head=2)
    text = figure_csv(fig) or ""
    found = sections(text)
    assert [name for name, _ in found] == [None, *(f"Head {h}" for h in range(6))]  # as the slider names them
    (mask,) = found[0][1]  # the mask, the same for every head, once and before the first head
    assert mask[0] == [MASK_BLOCK, *KEYS] and [row[0] for row in mask[1:]] == QUERIES
    np.testing.assert_array_equal(numbers(mask), np.where(ALLOWED, 0.0, -np.inf))
    assert sum(row[:1] == [MASK_BLOCK] for row in csv.reader(io.StringIO(text))) == 1
    for head, (_, blocks) in enumerate(found[1:]):
        assert [block[0][0] for block in blocks] == list(STAGE_BLOCKS)
        for block in blocks:
            field, rows, columns = STAGE_BLOCKS[block[0][0]]
            assert block[0][1:] == columns and [row[0] for row in block[1:]] == rows, block[0][0]
            expected = np.asarray(getattr(layer[head], field), dtype=np.float64)
            if field == "weights":  # a masked weight is 0 in the numbers and 'masked' in the file, as drawn
                expected = np.where(ALLOWED, expected, -np.inf)
            np.testing.assert_array_equal(numbers(block).astype(np.float32), expected.astype(np.float32))
    raw_5 = dict((block[0][0], block) for block in found[6][1])["Q Kᵀ: raw scores"]
    assert raw_5[0] == ["Q Kᵀ: raw scores", *KEYS] and [row[0] for row in raw_5[1:]] == QUERIES
    np.testing.assert_array_equal(numbers(raw_5).astype(np.float32), layer[5].raw_scores)
    assert has_data(fig)
    assert figure_csv(stages_figure(layer, head=5)) == text  # the file holds every head, whichever is shown


def test_a_figure_without_frames_keeps_its_blocks_named_by_their_subplot_titles() -> None:
    layer = layer_stages(3)
    fig = stages_figure(layer, head=1)
    still = go.Figure(data=fig.data, layout=fig.layout)  # the same panels, no frames: only head 1, no sections
    blocks = read_blocks(figure_csv(still) or "")
    names = [block[0][0] for block in blocks]
    assert names == [*list(STAGE_BLOCKS)[:5], MASK_BLOCK, *list(STAGE_BLOCKS)[5:]]  # in the order drawn
    assert not any(len(block[0]) == 1 for block in blocks)  # no 'Head' rows
    by_name = {block[0][0]: block for block in blocks}
    framed = sections(figure_csv(fig) or "")
    assert by_name[MASK_BLOCK] == framed[0][1][0]
    for block in framed[2][1]:  # what the frame of head 1 writes is what the still figure of head 1 writes
        assert by_name[block[0][0]] == block
    q = by_name["Q (3 × 2)"]
    np.testing.assert_array_equal(numbers(q).astype(np.float32), layer[1].q)


def test_bars_and_lines_write_their_series_side_by_side() -> None:
    bars = read_blocks(figure_csv(measures_bars(["=entropy", "sink"], [0.1, 0.2], [0.3, 0.4], title="m")) or "")
    assert bars == [
        [["y", "typical (validation mean)", "this sentence"], ["'=entropy", "0.1", "0.3"], ["sink", "0.2", "0.4"]]
    ]
    curve = read_blocks(figure_csv(training_curve([1, 2], [30.5, 31.25], [2.5, None], title="c")) or "")
    assert curve == [[["epoch", "validation BLEU", "validation loss"], ["1", "30.5", "2.5"], ["2", "31.25", ""]]]


def test_a_figure_without_data_has_no_csv() -> None:
    diagram = go.Figure(go.Scatter(x=[0.5], y=[0.5], mode="markers", marker={"opacity": 0}))
    diagram.add_annotation(x=0.5, y=0.5, text="encoder", showarrow=False)
    assert figure_csv(diagram) is None and not has_data(diagram)
    assert has_data(attention_heatmap(weights(1)[0], QUERIES, KEYS, title="t"))


def test_cells_are_numbers_or_safe_text() -> None:
    assert number_text(np.float32(0.1)) == "0.1"  # float32 data in its shortest exact form
    assert float(number_text(0.1 + 1e-12)) == 0.1 + 1e-12  # other floats in full
    assert number_text(float("nan")) == "" and number_text(None) == "" and number_text(np.int64(7)) == "7"
    assert number_text(-0.5) == "-0.5"  # a negative number stays a number
    for text in ("=SUM(A1)", "+1", "-x", "@me", "\tx"):
        assert not safe_text(text).startswith(("=", "+", "-", "@", "\t"))
    assert safe_text("a<br>b &lt;s&gt;") == "a b <s>"


def test_the_trace_json_names_every_intervention(tiny_model: Transformer) -> None:
    zero = [HeadRef("decoder.cross_attn", 1, 2), HeadRef("encoder.self_attn", 0, 1)]
    uniform = [HeadRef("decoder.self_attn", 0, 3)]
    interventions = Interventions(zero_heads=frozenset(zero), uniform_heads=frozenset(uniform), temperature=0.5)
    trace = trace_sentence(tiny_model, [5, 17, 9, 3], top_k=2, interventions=interventions, max_new_tokens=4)
    document = json.loads(trace_json(trace, zero, uniform, 0.5, indent=2))
    assert document == json.loads(trace_json(trace, zero, uniform, 0.5))  # indent changes only the layout
    assert document["zero_heads"] == ["decoder.1.cross_attn:2", "encoder.0.self_attn:1"]
    assert document["uniform_heads"] == ["decoder.0.self_attn:3"] and document["temperature"] == 0.5
