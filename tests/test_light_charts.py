"""The Attention page's charts are light to send: float32 numbers travel as float32, and the tiled grids name a
cell in its hover from its panel's number and the axes' tick labels instead of one text string per cell. The
lighter form shows the same hover and downloads the same numbers."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import numpy as np
import plotly.io as pio
import pytest
from app_helpers import APP_PATH, contrast, models_dir  # noqa: F401  (models_dir is a fixture)
from streamlit.testing.v1 import AppTest

from model.inspect.trace import AttentionStages
from viz_app.exports import figure_csv
from viz_app.figures import attention, common
from viz_app.figures.stage_frames import stage_frames_figure
from viz_app.figures.tiles import Tiling, tiled_traces

LABELS = ["<s>", "▁a", "▁dog", "&", "<b>x</b>", "</s>"]
NORMAL = "A brown dog is running through the grass with a ball in its mouth."
FIELD = re.compile(r"%\{(customdata(?:\[\d\])?|x|y)\}")


def rng_weights(*shape: int, seed: int = 0) -> np.ndarray:
    raw = np.random.default_rng(seed).random(shape, dtype=np.float32)
    return raw / raw.sum(axis=-1, keepdims=True)


def causal(n: int) -> np.ndarray:
    return np.tril(np.ones((n, n), dtype=bool))


def tick_names(axis) -> dict[float, str]:  # type: ignore[no-untyped-def]
    return {float(v): str(t) for v, t in zip(axis.tickvals, axis.ticktext, strict=True)}


def hover_of(fig, trace, row: int, col: int) -> str:  # type: ignore[no-untyped-def]
    """The hover plotly shows at one cell: the text string of a text hover, or the template filled in from the
    cell's customdata and the axes' tick labels at its coordinates (what plotly's hover reads on these axes)."""
    template = trace.hovertemplate.split("<extra>")[0]
    if trace.text is not None:
        return template.replace("%{text}", str(np.asarray(trace.text, dtype=object)[row, col]))
    data = None if trace.customdata is None else trace.customdata[row][col]
    x_names, y_names = tick_names(fig.layout.xaxis), tick_names(fig.layout.yaxis)

    def field(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "x":
            return x_names[float(col)]
        if name == "y":
            return y_names[float(row)]
        return str(data if name == "customdata" else data[int(name[-2])])

    return FIELD.sub(field, template)


def drawn_cells(trace) -> list[tuple[int, int]]:  # type: ignore[no-untyped-def]
    z = np.asarray(trace.z, dtype=float)
    return [(int(r), int(c)) for r, c in zip(*np.nonzero(np.isfinite(z)), strict=True)]


def assert_same_hover_and_numbers(text_fig, light_fig) -> None:  # type: ignore[no-untyped-def]
    heatmaps = [t for t in text_fig.data if t.type == "heatmap"]
    light = [t for t in light_fig.data if t.type == "heatmap"]
    assert [t.name for t in heatmaps] == [t.name for t in light]
    for old, new in zip(heatmaps, light, strict=True):
        assert new.text is None and new.customdata is not None
        np.testing.assert_array_equal(np.asarray(new.z, dtype=float), np.asarray(old.z, dtype=float))
        cells = drawn_cells(old)
        assert cells
        for row, col in cells:
            assert hover_of(light_fig, new, row, col) == hover_of(text_fig, old, row, col)


def test_light_head_grid_shows_the_same_hover_and_downloads_the_same_numbers() -> None:
    weights = rng_weights(5, 6, 6)
    for allowed in (None, causal(6)):
        text_fig = attention.head_grid(weights, LABELS, LABELS, title="t", allowed=allowed, cols=2)
        light_fig = attention.head_grid(weights, LABELS, LABELS, title="t", allowed=allowed, cols=2, compact_hover=True)
        assert_same_hover_and_numbers(text_fig, light_fig)
        assert figure_csv(light_fig) == figure_csv(text_fig)
        assert light_fig.layout.xaxis.ticktext == text_fig.layout.xaxis.ticktext  # every label still drawn


def test_light_head_grid_without_labels_keeps_hidden_ticks_for_its_hover() -> None:
    weights = rng_weights(4, 6, 6)
    text_fig = attention.head_grid(weights, LABELS, LABELS, title="t", show_labels=False)
    light_fig = attention.head_grid(weights, LABELS, LABELS, title="t", show_labels=False, compact_hover=True)
    assert light_fig.layout.xaxis.showticklabels is False and light_fig.layout.yaxis.showticklabels is False
    assert_same_hover_and_numbers(text_fig, light_fig)


def test_light_layer_head_grid_shows_the_same_hover_and_numbers_and_names_the_tokens_in_its_csv() -> None:
    weights = rng_weights(2, 3, 6, 6)
    kwargs = {"title": "t", "allowed": causal(6), "selected": (1, 2), "click_hint": "click"}
    text_fig = attention.layer_head_grid(weights, LABELS, LABELS, **kwargs)
    light_fig = attention.layer_head_grid(weights, LABELS, LABELS, **kwargs, compact_hover=True)
    assert_same_hover_and_numbers(text_fig, light_fig)
    assert light_fig.layout.xaxis.showticklabels is False and light_fig.layout.yaxis.showticklabels is False
    assert light_fig.data[-1].name == common.CLICK_TARGET_NAME  # the click targets are unchanged, still on top
    text_blocks, light_blocks = csv_blocks(figure_csv(text_fig)), csv_blocks(figure_csv(light_fig))
    assert len(light_blocks) == len(text_blocks) == 6
    for old, new in zip(text_blocks, light_blocks, strict=True):
        assert new[0][0] == old[0][0]  # the block's name: 'layer 0 · head 0', ...
        assert new[0][1:] == LABELS and [row[0] for row in new[1:]] == LABELS  # tokens where positions were
        assert [row[1:] for row in new[1:]] == [row[1:] for row in old[1:]]  # the same numbers


def csv_blocks(text: str | None) -> list[list[list[str]]]:
    blocks: list[list[list[str]]] = [[]]
    for row in csv.reader(io.StringIO(text or "")):
        if row:
            blocks[-1].append(row)
        else:
            blocks.append([])
    return blocks


def test_tiled_traces_refuse_panel_ids_that_do_not_fit() -> None:
    tiling = Tiling(1, 2, 2, 2, 1, 1)
    panels = np.zeros((1, 2, 2, 2), dtype=np.float32)
    with pytest.raises(ValueError):
        tiled_traces(
            panels, tiling, [["a", "b"]], ["r0", "r1"], ["c0", "c1"], scale=common.WEIGHTS, panel_ids=np.zeros((2, 2))
        )


def test_float32_numbers_are_sent_as_float32_and_wider_ones_in_full() -> None:
    narrow = rng_weights(3, 4)
    wide = narrow.astype(np.float64) / 3
    for matrix, dtype in ((narrow, "f4"), (wide, "f8")):
        fig = common.heatmap_figure(
            matrix,
            LABELS[:3],
            LABELS[:4],
            title="t",
            scale=common.symmetric_scale(matrix),
            value_name="score",
            row_title="query",
            col_title="key",
        )  # a score matrix alone, on a diverging scale
        sent = json.loads(pio.to_json(fig, validate=False))
        assert sent["data"][0]["z"]["dtype"] == dtype
        np.testing.assert_array_equal(np.asarray(fig.data[0].z, dtype=np.float64), matrix.astype(np.float64))
    grid = attention.head_grid(rng_weights(2, 3, 3), LABELS[:3], LABELS[:3], title="t", allowed=causal(3))
    for trace in json.loads(pio.to_json(grid, validate=False))["data"]:
        if trace["type"] == "heatmap":
            assert trace["z"]["dtype"] == "f4"
    stage = json.loads(pio.to_json(float32_stage_figure(), validate=False))
    heatmaps = [t for t in stage["data"] if t["type"] == "heatmap"]
    heatmaps += [t for frame in stage["frames"] for t in frame["data"]]
    assert len(stage["frames"]) == 2 and heatmaps
    assert all(trace["z"]["dtype"] == "f4" for trace in heatmaps)  # every head's numbers, in every frame


def float32_stage_figure():  # type: ignore[no-untyped-def]
    """Every stage of two float32 heads of a causal self-attention layer over LABELS, in one figure."""
    n, d_k = len(LABELS), 4
    rng = np.random.default_rng(1)
    layer = []
    for head in range(2):
        q, k, v = (rng.standard_normal((n, d_k), dtype=np.float32) for _ in range(3))
        raw = q @ k.T
        scaled = raw / np.float32(2.0)
        masked = np.where(causal(n), scaled, np.float32(-np.inf))
        weights = np.exp(masked - masked.max(axis=-1, keepdims=True))
        weights /= weights.sum(axis=-1, keepdims=True)
        layer.append(AttentionStages("decoder.0.self_attn", head, q, k, v, raw, scaled, masked, weights, weights @ v))
    return stage_frames_figure(
        layer, LABELS, LABELS, title="t", head=0, scale_text="√4 = 2", notes=["head 0", "head 1"]
    )


def attention_page_charts(kind: str | None = None) -> list:
    """What the Attention page sends for NORMAL (at attention `kind`, else the page's default): its chart elements."""
    at = AppTest.from_file(str(APP_PATH), default_timeout=60)
    at.run()
    at.text_area(key="sentence").set_value(NORMAL).run()
    at.switch_page("views/attention.py")
    at.run()
    if kind is not None:
        at.radio(key="att_kind").set_value(kind).run()
    assert not at.exception, at.exception
    return list(at.get("plotly_chart"))


def attention_page_specs(kind: str | None = None) -> list[dict]:
    """Each chart's spec from attention_page_charts."""
    return [json.loads(element.proto.spec) for element in attention_page_charts(kind)]


def test_the_attention_page_sends_no_text_string_per_cell(models_dir: Path) -> None:  # noqa: F811
    specs = attention_page_specs("decoder.self_attn")
    assert len(specs) == 3  # two charts of the layer's heads (its mean and heads; every layer), then every stage
    (staged,) = [spec for spec in specs if spec.get("frames")]
    assert len(staged["frames"]) == len(staged["layout"]["sliders"][0]["steps"]) >= 2  # a frame per head
    for spec in specs:
        traces = [*spec["data"], *(trace for frame in spec.get("frames", ()) for trace in frame["data"])]
        for trace in traces:
            if trace["type"] == "heatmap":
                assert "text" not in trace, spec["layout"]["title"]["text"]
                assert trace["z"]["dtype"] == "f4", spec["layout"]["title"]["text"]


def test_every_labelled_axis_of_the_attention_page_skips_plotlys_overflow_check(models_dir: Path) -> None:  # noqa: F811
    """plotly.js measures every tick label against the chart's edge unless ticklabeloverflow is "allow" (our
    margins are sized to the labels, so that check never hides one; bench/figure_draw.py: the head grid drew in
    about 0.4 of the time without it). Every axis that draws tick labels from an array says so."""
    labelled = 0
    for spec in attention_page_specs():
        layout = spec["layout"]
        for name, axis in layout.items():
            if name.startswith(("xaxis", "yaxis")) and axis.get("ticktext") and axis.get("showticklabels", True):
                labelled += 1
                assert axis.get("ticklabeloverflow") == "allow", (layout["title"]["text"], name)
    assert labelled >= 6  # the head grid's two axes, the mean's two, and the stage figure's


def test_loading_a_model_freezes_the_long_lived_objects_for_the_garbage_collector(models_dir: Path) -> None:  # noqa: F811
    """Streamlit collects garbage after every script run; the modules and the model, frozen once they are loaded,
    are not walked again each time."""
    import gc

    from viz_app import resources

    resources.load_translator.clear()
    gc.unfreeze()
    try:
        assert gc.get_freeze_count() == 0
        resources.load_translator(str(models_dir / "tiny-en-de"))
        assert gc.get_freeze_count() > 10_000  # every module and function imported so far, and the model
    finally:
        gc.unfreeze()
        resources.load_translator.clear()


def test_charts_go_out_with_a_digest_of_their_data_and_without_their_own_width(models_dir: Path) -> None:  # noqa: F811
    """ui.plotly_chart: layout.datarevision changes exactly when the data do; the width is left to the column."""
    from viz_app.chart_cache import data_revision

    weights = rng_weights(2, 3, 3)
    first = attention.head_grid(weights, LABELS[:3], LABELS[:3], title="t", allowed=causal(3))
    again = attention.head_grid(weights.copy(), LABELS[:3], LABELS[:3], title="another title", allowed=causal(3))
    changed = weights.copy()
    changed[1, 2, 0] += 1e-3
    other = attention.head_grid(changed, LABELS[:3], LABELS[:3], title="t", allowed=causal(3))
    relabelled = attention.head_grid(weights, LABELS[3:], LABELS[:3], title="t", allowed=causal(3))
    assert data_revision(first) == data_revision(again)  # the layout (title) is compared by plotly itself
    assert data_revision(first) != data_revision(other)
    assert data_revision(first) != data_revision(relabelled)  # hover text or ticks drawn from the labels
    layouts = [spec["layout"] for spec in attention_page_specs()]
    assert len(layouts) == 3
    assert all(len(layout["datarevision"]) == 24 and "width" not in layout for layout in layouts)
    assert len({layout["datarevision"] for layout in layouts}) == 3


def test_charts_go_out_without_a_template_or_streamlits_theme_on_a_transparent_paper(models_dir: Path) -> None:  # noqa: F811
    """ui.plotly_chart sends theme=None and no template (Streamlit's chart component rebuilds a themed template after
    the first draw, and plotly.js then redraws the whole figure); the house style fills in only what a figure left
    unset, and its text colour reads on both of Streamlit's backgrounds."""
    elements = attention_page_charts()
    assert len(elements) == 3
    for element in elements:
        layout = json.loads(element.proto.spec)["layout"]
        assert element.proto.theme == ""
        assert "template" not in layout
        assert layout["paper_bgcolor"] == layout["plot_bgcolor"] == common.TRANSPARENT
        assert layout["font"]["color"] == common.TEXT_COLOUR
    fig = attention.head_grid(rng_weights(2, 3, 3), LABELS[:3], LABELS[:3], title="t", allowed=causal(3))
    fig.layout.font.color = "#123456"
    fig.layout.xaxis.automargin = False
    common.house_style(fig)
    assert fig.layout.font.color == "#123456" and fig.layout.xaxis.automargin is False  # the figure's own wins
    assert fig.layout.yaxis.gridcolor == common.FAINT_LINE and "template" not in fig.to_plotly_json()["layout"]
    for background in ("#ffffff", "#0e1117"):  # Streamlit's light and dark backgrounds
        assert contrast(common.TEXT_COLOUR, background) >= 4.3


@pytest.mark.parametrize("compact", [False, True])
def test_head_grid_with_the_mean_draws_it_first_names_it_and_keeps_every_head(compact: bool) -> None:
    weights = rng_weights(5, 6, 6)
    allowed = causal(6)
    plain = attention.head_grid(weights, LABELS, LABELS, title="t", allowed=allowed, cols=2, compact_hover=compact)
    fig = attention.head_grid(
        weights,
        LABELS,
        LABELS,
        title="t",
        allowed=allowed,
        cols=2,
        compact_hover=compact,
        with_mean=True,
        highlight=(2, 1),
    )
    mean_masked, mean, masked, values = [t for t in fig.data if t.type == "heatmap"]
    assert (mean.x0, mean.y0, mean_masked.x0, mean_masked.y0) == (0, 0, 0, 0) and mean.coloraxis == "coloraxis"
    expected = np.where(allowed, weights.mean(axis=0), np.nan)
    np.testing.assert_allclose(np.asarray(mean.z, dtype=float), expected, rtol=1e-6)
    assert np.isfinite(np.asarray(mean_masked.z, dtype=float)).sum() == (~allowed).sum()
    assert (
        hover_of(fig, mean, 3, 1)
        == f"mean of the 5 heads<br>query {common.escape_label(LABELS[3])}<br>key {LABELS[1]}<br>weight %{{z:.6f}}"
    )
    assert [a.text for a in fig.layout.annotations] == ["mean of the 5 heads", *[f"head {h}" for h in range(5)]]
    # the heads sit one panel row lower, and their hover still names the right head
    z = np.asarray(values.z, dtype=float)
    top = int(min(v for v, t in tick_names(fig.layout.yaxis).items() if v > 5))
    assert np.isnan(z[:6]).all() and np.isnan(np.asarray(masked.z, dtype=float)[:6]).all(), "no mean drawn twice"
    np.testing.assert_array_equal(z[top : top + 6, :6][allowed], weights[0][allowed])
    assert hover_of(fig, values, top + 2, 1).startswith(f"head 0<br>query {LABELS[2]}<br>key {LABELS[1]}")
    assert len(fig.layout.shapes) == 2 * 6  # the chosen row and column in the mean and in every head
    # the CSV lists the mean first, under its name, then the same heads as without it
    blocks, heads = csv_blocks(figure_csv(fig)), csv_blocks(figure_csv(plain))
    assert blocks[0][0][0] == "mean of the 5 heads" and [row[0] for row in blocks[0][1:]] == LABELS
    mean_rows = [row[1:] for row in blocks[0][1:]]
    assert all(cell == "masked" for r, row in enumerate(mean_rows) for cell in row[r + 1 :])
    np.testing.assert_allclose([float(row[0]) for row in mean_rows], expected[:, 0], rtol=1e-6)
    assert blocks[1:] == heads
