"""The figure functions are pure: numpy in, plotly figure out, no Streamlit and no torch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import pytest

from model.inspect.trace import index_labels
from viz_app.figures import attention, common, embeddings, positional, stages

ROOT = Path(__file__).resolve().parents[1]
FIGURE_MODULES = sorted(p.stem for p in (ROOT / "viz_app" / "figures").glob("*.py") if p.stem != "__init__")
TOKENS = ["<s>", "▁the", "▁dog", "▁the", "<b>x</b>", "</s>"]  # a repeat and markup on purpose
LABELS = index_labels(TOKENS)


def rng_weights(*shape: int, seed: int = 0) -> np.ndarray:
    """Rows that add up to 1, like a softmax output."""
    raw = np.random.default_rng(seed).random(shape)
    return raw / raw.sum(axis=-1, keepdims=True)


def causal(n: int) -> np.ndarray:
    return np.tril(np.ones((n, n), dtype=bool))


def heatmaps(fig: go.Figure) -> list[go.Heatmap]:
    return [trace for trace in fig.data if isinstance(trace, go.Heatmap)]


def value_layers(fig: go.Figure) -> list[go.Heatmap]:
    """The heatmaps holding values (not the grey masked layer)."""
    return [trace for trace in heatmaps(fig) if trace.name != common.MASKED_LABEL]


def masked_layers(fig: go.Figure) -> list[go.Heatmap]:
    return [trace for trace in heatmaps(fig) if trace.name == common.MASKED_LABEL]


def title_of(fig: go.Figure) -> str:
    return fig.layout.title.text or ""


def assert_escaped(labels) -> None:  # type: ignore[no-untyped-def]
    joined = " ".join(str(label) for label in labels)
    assert "<b>" not in joined and "</b>" not in joined
    assert "&lt;b&gt;x&lt;/b&gt;" in joined


# --- labels and escaping -------------------------------------------------------------------------------------------


def test_index_labels_are_unique_and_prefixed() -> None:
    assert LABELS[:3] == ["0:<s>", "1:▁the", "2:▁dog"]
    assert LABELS[1] != LABELS[3]
    assert len(set(LABELS)) == len(LABELS)


def test_escape_label_shows_markup_as_text() -> None:
    assert common.escape_label("<b>x</b> & <script>") == "&lt;b&gt;x&lt;/b&gt; &amp; &lt;script&gt;"
    assert common.escape_labels(["a", "<i>"]) == ["a", "&lt;i&gt;"]


def test_heatmap_figure_rejects_wrong_shapes() -> None:
    with pytest.raises(ValueError):
        common.heatmap_figure(np.zeros((2, 3)), ["a", "b"], ["x"], title="t", scale=common.WEIGHTS)
    with pytest.raises(ValueError):
        common.heatmap_figure(np.zeros(3), ["a"], ["x"], title="t", scale=common.WEIGHTS)


# --- attention -----------------------------------------------------------------------------------------------------


def test_attention_heatmap_shape_labels_and_fixed_range() -> None:
    weights = rng_weights(6, 6)
    before = weights.copy()
    fig = attention.attention_heatmap(weights, LABELS, LABELS, title="Encoder <b>layer</b> 0")
    (layer,) = value_layers(fig)
    assert np.asarray(layer.z).shape == (6, 6)
    np.testing.assert_allclose(np.asarray(layer.z, dtype=float), weights)
    assert (layer.zmin, layer.zmax) == (0.0, 1.0)
    assert list(layer.y) == common.escape_labels(LABELS) and list(layer.x) == common.escape_labels(LABELS)
    assert len(set(layer.x)) == 6
    assert_escaped(layer.x)
    assert "layer" in title_of(fig) and "<b>" not in title_of(fig)
    assert not masked_layers(fig)
    np.testing.assert_array_equal(weights, before)


def test_masked_cells_are_nan_with_a_separate_grey_layer() -> None:
    n = 6
    allowed = causal(n)
    weights = rng_weights(n, n) * allowed
    weights /= weights.sum(axis=-1, keepdims=True)
    before_w, before_a = weights.copy(), allowed.copy()
    fig = attention.attention_heatmap(weights, LABELS, LABELS, title="decoder self", allowed=allowed)
    (values,) = value_layers(fig)
    (grey,) = masked_layers(fig)
    z = np.asarray(values.z, dtype=float)
    assert np.isnan(z[~allowed]).all() and np.isfinite(z[allowed]).all()
    gz = np.asarray(grey.z, dtype=float)
    assert np.isfinite(gz[~allowed]).all() and np.isnan(gz[allowed]).all()
    assert common.MASKED_LABEL in grey.hovertemplate
    assert any(trace.name == common.MASKED_LABEL and trace.showlegend for trace in fig.data)
    np.testing.assert_array_equal(weights, before_w)
    np.testing.assert_array_equal(allowed, before_a)


def test_minus_inf_scores_are_masked_without_an_explicit_mask() -> None:
    scores = np.where(causal(4), np.arange(16.0).reshape(4, 4) - 8, -np.inf)
    before = scores.copy()
    fig = stages.scores_heatmap(scores, LABELS[:4], LABELS[:4], title="Scaled scores + mask")
    (values,) = value_layers(fig)
    assert np.isnan(np.asarray(values.z, dtype=float)[~causal(4)]).all()
    assert len(masked_layers(fig)) == 1
    assert values.zmin == -values.zmax and values.zmax >= 8  # diverging, centred on 0, covers the finite values
    assert title_of(fig) == "Scaled scores + mask"
    np.testing.assert_array_equal(scores, before)


def hover_at(trace: go.Heatmap, row: int, col: int) -> str:
    return str(np.asarray(trace.text, dtype=object)[row, col])


def test_head_grid_tiles_every_head_into_one_heatmap_on_the_0_1_coloraxis() -> None:
    weights = rng_weights(4, 6, 6)
    weights[1] = np.where(causal(6), weights[1], 0.0)
    before = weights.copy()
    fig = attention.head_grid(weights, LABELS, LABELS, title="every head", allowed=causal(6), cols=2)
    (values,) = value_layers(fig)
    (masked,) = masked_layers(fig)
    z = np.asarray(values.z, dtype=float)
    gap_r, gap_c = z.shape[0] - 12, z.shape[1] - 12  # 2 x 2 panels of 6 x 6 cells
    assert gap_r >= 1 and gap_c >= 1
    panel_3 = z[6 + gap_r :, 6 + gap_c :]  # head 3 is bottom right
    np.testing.assert_allclose(np.where(causal(6), panel_3, 0.0), np.where(causal(6), weights[3], 0.0))
    assert np.isnan(panel_3[~causal(6)]).all(), "masked cells are NaN in the value layer"
    assert np.isnan(z[6 : 6 + gap_r]).all() and np.isnan(z[:, 6 : 6 + gap_c]).all(), "gaps are empty"
    assert np.asarray(masked.z, dtype=float)[0, 1] == 0.0 and np.isnan(np.asarray(masked.z, dtype=float)[1, 0])
    assert values.coloraxis == "coloraxis" and (fig.layout.coloraxis.cmin, fig.layout.coloraxis.cmax) == (0.0, 1.0)
    assert [a.text for a in fig.layout.annotations] == [f"head {h}" for h in range(4)]
    assert hover_at(values, 6 + gap_r + 2, 6 + gap_c + 1) == "head 3<br>query 2:▁dog<br>key 1:▁the"
    assert "masked" in masked.hovertemplate and hover_at(masked, 0, 1).startswith("head 0<br>query 0:&lt;s&gt;")
    assert hover_at(values, 0, 1) == "" and hover_at(masked, 1, 0) == ""
    assert list(fig.layout.yaxis.ticktext) == [*common.escape_labels(LABELS)] * 2
    assert list(fig.layout.yaxis.tickvals) == [*range(6), *range(6 + gap_r, 12 + gap_r)]
    assert_escaped(fig.layout.xaxis.ticktext)
    assert title_of(fig) == "every head"
    np.testing.assert_array_equal(weights, before)


def test_head_grid_leaves_missing_panels_empty_and_labels_long_sentences_too() -> None:
    labels = [f"{i}:t" for i in range(30)]
    fig = attention.head_grid(rng_weights(3, 30, 30), labels, labels, title="three heads", cols=2)
    (values,) = value_layers(fig)
    z = np.asarray(values.z, dtype=float)
    assert np.isnan(z[-30:, -30:]).all(), "the fourth panel does not exist"
    assert not masked_layers(fig) and fig.layout.xaxis.showticklabels is not False
    assert list(fig.layout.xaxis.ticktext) == labels * 2 and list(fig.layout.yaxis.ticktext) == labels * 2


def test_layer_head_grid_and_mean() -> None:
    weights = rng_weights(2, 3, 6, 5)
    before = weights.copy()
    fig = attention.layer_head_grid(weights, LABELS, LABELS[:5], title="every layer", selected=(1, 2))
    (values,) = value_layers(fig)
    z = np.asarray(values.z, dtype=float)
    rows, cols = z.shape
    assert rows > 12 and cols > 15
    np.testing.assert_allclose(z[rows - 6 :, cols - 5 :], weights[1, 2])
    np.testing.assert_allclose(z[:6, :5], weights[0, 0])
    assert hover_at(values, rows - 1, cols - 1) == "layer 1, head 2<br>query 5:&lt;/s&gt;<br>key 4:&lt;b&gt;x&lt;/b&gt;"
    assert (fig.layout.coloraxis.cmin, fig.layout.coloraxis.cmax) == (0.0, 1.0)
    (outline,) = fig.layout.shapes
    assert outline.x0 < cols - 5 < outline.x1 and outline.y0 < rows - 6 < outline.y1
    mean = attention.mean_heatmap(weights[0], LABELS, LABELS[:5], title="mean")
    np.testing.assert_allclose(np.asarray(value_layers(mean)[0].z, dtype=float), weights[0].mean(axis=0))
    assert (value_layers(mean)[0].zmin, value_layers(mean)[0].zmax) == (0.0, 1.0)
    np.testing.assert_array_equal(weights, before)
    with pytest.raises(ValueError):
        attention.head_grid(weights, LABELS, LABELS[:5], title="wrong rank")


# --- stages --------------------------------------------------------------------------------------------------------


def test_stage_figures() -> None:
    q = np.random.default_rng(1).normal(size=(6, 8))
    before = q.copy()
    fig = stages.vectors_heatmap(q, LABELS, title="Q, head 0", value_name="Q")
    (values,) = value_layers(fig)
    assert np.asarray(values.z).shape == (6, 8)
    assert list(values.x) == [f"d{i}" for i in range(8)]
    assert values.zmin == pytest.approx(-np.abs(q).max()) and values.zmax == pytest.approx(np.abs(q).max())
    np.testing.assert_array_equal(q, before)

    allowed = causal(6)
    mask = stages.mask_heatmap(allowed, LABELS, LABELS, title="The mask")
    assert len(masked_layers(mask)) == 1 and title_of(mask) == "The mask"
    z = np.asarray(value_layers(mask)[0].z, dtype=float)
    assert (z[allowed] == 0).all() and np.isnan(z[~allowed]).all()
    assert not any(trace.showscale for trace in heatmaps(mask))  # two values only: no misleading colour bar

    w = stages.weights_heatmap(rng_weights(6, 6), LABELS, LABELS, title="softmax", allowed=allowed)
    assert (value_layers(w)[0].zmin, value_layers(w)[0].zmax) == (0.0, 1.0)


def test_qkv_figure_three_panels_on_one_symmetric_scale() -> None:
    rng = np.random.default_rng(2)
    q, k, v = rng.normal(size=(6, 8)), rng.normal(size=(5, 8)), rng.normal(size=(5, 8)) * 3
    fig = stages.qkv_figure(q, k, v, LABELS, LABELS[:5], title="Q, K and V of head 0")
    values = value_layers(fig)
    assert [np.asarray(t.z).shape for t in values] == [(6, 8), (5, 8), (5, 8)]
    assert {t.coloraxis for t in values} == {"coloraxis"}
    bound = max(np.abs(q).max(), np.abs(k).max(), np.abs(v).max())
    assert fig.layout.coloraxis.cmin == pytest.approx(-bound) and fig.layout.coloraxis.cmax == pytest.approx(bound)
    assert [a.text for a in fig.layout.annotations] == ["Q  (6 × 8)", "K  (5 × 8)", "V  (5 × 8)"]
    assert_escaped(values[0].y)
    with pytest.raises(ValueError):
        stages.qkv_figure(q, k, v[:, :4], LABELS, LABELS[:5], title="d_k differs")


def test_grid_domains_stay_inside_the_figure() -> None:
    for rows, cols in [(1, 3), (3, 8), (2, 4), (6, 16), (1, 7)]:
        grid = common.Grid(rows, cols, h_gap=0.03, v_gap=0.05)
        for col in range(cols):
            x0, x1 = grid.x_domain(col)
            assert 0.0 <= x0 < x1 <= 1.0
        for row in range(rows):
            y0, y1 = grid.y_domain(row)
            assert 0.0 <= y0 < y1 <= 1.0


def test_legend_sits_between_title_and_plot() -> None:
    fig = stages.mask_heatmap(causal(6), LABELS, LABELS, title="The mask")
    plain = stages.scores_heatmap(np.zeros((6, 6)), LABELS, LABELS, title="no mask")
    assert fig.layout.legend.yanchor == "bottom" and fig.layout.legend.y == 1.0  # just above the plot area
    assert fig.layout.margin.t > plain.layout.margin.t  # the top margin makes room for it below the title
    assert fig.layout.title.yref == "container" and fig.layout.title.yanchor == "top"


# --- embeddings and positional encoding ----------------------------------------------------------------------------


def test_embedding_figures() -> None:
    rng = np.random.default_rng(2)
    vectors = rng.normal(size=(6, 16))
    before = vectors.copy()
    fig = embeddings.embedding_heatmap(vectors, LABELS, title="Embeddings")
    (values,) = value_layers(fig)
    assert np.asarray(values.z).shape == (6, 16) and values.zmin == -values.zmax
    assert_escaped(values.y)
    assert title_of(fig) == "Embeddings"
    np.testing.assert_array_equal(vectors, before)

    norms = np.linalg.norm(vectors, axis=1)
    chart = embeddings.norms_chart(LABELS, norms, norms * 2, norms / 2, title="Norms")
    assert title_of(chart) == "Norms" and len(chart.data) >= 1

    similarity = np.clip(vectors @ vectors.T / np.outer(norms, norms), -1, 1)
    cos = embeddings.cosine_heatmap(similarity, LABELS, title="Cosine")
    assert np.asarray(value_layers(cos)[0].z).shape == (6, 6)
    assert (value_layers(cos)[0].zmin, value_layers(cos)[0].zmax) == (-1.0, 1.0)

    vocabulary = ["<pad>", "<unk>", "<s>", "</s>", "▁a", "<b>x</b>"]
    coords = rng.normal(size=(6, 2))
    coords_before = coords.copy()
    scatter = embeddings.projection_scatter(
        coords, vocabulary, [4, 5], ["0:▁a", "1:<b>x</b>"], title="PCA", chosen_id=4, neighbour_ids=[5]
    )
    assert len(scatter.data[0].x) == 6
    assert_escaped(scatter.data[0].text)
    assert title_of(scatter) == "PCA"
    np.testing.assert_array_equal(coords, coords_before)

    neighbours = embeddings.neighbours_chart(["▁a", "<b>x</b>"], np.array([0.9, 0.2]), title="Neighbours")
    assert_escaped(neighbours.data[0].y)


def test_positional_figures() -> None:
    positions, d_model = 20, 16
    pos = np.arange(positions)[:, None]
    div = np.exp(np.arange(0, d_model, 2) * (-np.log(10000.0) / d_model))
    table = np.zeros((positions, d_model))
    table[:, 0::2], table[:, 1::2] = np.sin(pos * div), np.cos(pos * div)
    before = table.copy()
    fig = positional.positional_table_heatmap(table, 5, title="Sinusoidal table")
    (values,) = value_layers(fig)
    assert np.asarray(values.z).shape == (positions, d_model)
    assert (values.zmin, values.zmax) == (-1.0, 1.0)
    assert title_of(fig) == "Sinusoidal table" and len(fig.layout.shapes) == 1
    curves = positional.dimension_curves(table, [0, 1, 6], title="Curves", marked=5)
    assert title_of(curves) == "Curves" and len(curves.data) >= 3
    similarity = positional.position_similarity_heatmap(table @ table.T / d_model, title="Similarity")
    assert np.asarray(value_layers(similarity)[0].z).shape == (positions, positions)
    assert positional.wavelength(0, d_model) == pytest.approx(2 * np.pi)
    np.testing.assert_array_equal(table, before)


# --- purity of the modules -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", FIGURE_MODULES)
def test_figure_module_source_imports_neither_torch_nor_streamlit(name: str) -> None:
    source = (ROOT / "viz_app" / "figures" / f"{name}.py").read_text(encoding="utf-8")
    for banned in ("torch", "streamlit"):
        assert f"import {banned}" not in source and f"from {banned}" not in source


def test_importing_the_figures_loads_neither_torch_nor_streamlit() -> None:
    code = (
        "import sys\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        + "".join(f"import viz_app.figures.{name}\n" for name in FIGURE_MODULES)
        + "print(sorted(m for m in ('torch', 'streamlit') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert result.stdout.strip() == "[]"


# --- every label legible up to the length limit ---------------------------------------------------------------------


def long_labels(count: int) -> list[str]:
    return index_labels([f"▁word{i}" for i in range(count)])


def token_heatmaps(labels: list[str]) -> dict[str, go.Figure]:
    """Each figure function that draws a token x token matrix, for the labels given."""
    n = len(labels)
    weights = rng_weights(n, n)
    return {
        "attention": attention.attention_heatmap(weights, labels, labels, title="one head"),
        "scores": stages.scores_heatmap(weights * 4 - 2, labels, labels, title="scores"),
        "mask": stages.mask_heatmap(causal(n), labels, labels, title="mask"),
        "cosine": embeddings.cosine_heatmap(weights, labels, title="cosine"),
        "cross": attention.averaged_cross_heatmap(weights, labels, labels, title="averaged"),
    }


@pytest.mark.parametrize("count", [40, 128])
def test_every_token_label_is_asked_for_explicitly(count: int) -> None:
    labels = long_labels(count)
    for name, fig in token_heatmaps(labels).items():
        for axis in (fig.layout.xaxis, fig.layout.yaxis):
            assert axis.tickmode == "array", f"{name}: plotly would thin the labels out"
            assert list(axis.ticktext) == labels and list(axis.tickvals) == labels, name
        assert fig.layout.xaxis.tickangle == -90, f"{name}: upright labels take one line height each"
    grid = attention.head_grid(rng_weights(8, count, count), labels, labels, title="every head")
    assert list(grid.layout.xaxis.ticktext) == labels * 2 and list(grid.layout.yaxis.ticktext) == labels * 4
    qkv = stages.qkv_figure(*(np.ones((count, 32)),) * 3, labels, labels, title="Q, K and V")
    for suffix in ("", "2", "3"):
        assert list(qkv.layout[f"yaxis{suffix}"].ticktext) == labels


def plot_size(fig: go.Figure) -> tuple[float, float]:
    """(width, height) in pixels of the plot area when the figure is drawn at its own layout.width."""
    margin = fig.layout.margin
    return fig.layout.width - margin.l - margin.r, fig.layout.height - margin.t - margin.b


def test_heatmaps_grow_with_their_token_count_and_keep_a_cell_per_label() -> None:
    for count in (6, 20, 40, 128, 178):
        labels = long_labels(count)
        for name, fig in token_heatmaps(labels).items():
            width, height = plot_size(fig)
            (layer,) = value_layers(fig)
            right = common.colorbar_room(layer.name or "") if layer.showscale is not False else 0
            assert (width - right) / count >= common.CELL_PX - 0.5, f"{name}, {count} tokens: columns too narrow"
            assert height / count >= common.CELL_PX - 0.5, f"{name}, {count} tokens: rows too short"
            # the margins hold the longest label: upright under the plot, level beside it
            assert fig.layout.margin.b >= common.text_px(labels[-1]) and fig.layout.margin.l >= common.text_px(
                labels[-1]
            )
    small, large = token_heatmaps(long_labels(10))["attention"], token_heatmaps(long_labels(60))["attention"]
    assert large.layout.width > small.layout.width and large.layout.height > small.layout.height


def test_long_titles_wrap_to_the_width_they_are_drawn_at() -> None:
    title = "Self-attention weights, layer 0 head 3 of the decoder at step 12, with every position shown"
    lines = common.wrap_title(title, 400)
    assert len(lines) > 1 and " ".join(lines) == title
    assert all(common.text_px(line, common.TITLE_FONT_PX) <= 400 - 24 for line in lines)
    layout = common.base_layout(title + " <b>", 300, width=400)
    assert layout["title"]["text"].count("<br>") == len(common.wrap_title(title + " <b>", 400)) - 1
    assert "&lt;b&gt;" in layout["title"]["text"], "the title is escaped line by line"
    one_line = common.base_layout("short", 300, width=400)
    assert layout["margin"]["t"] > one_line["margin"]["t"] and layout["height"] > one_line["height"]


def test_vocabulary_labels_are_placed_without_covering_each_other() -> None:
    rng = np.random.default_rng(4)
    vocabulary = [f"▁tok{i}" for i in range(300)]
    coords = rng.normal(size=(300, 2)) * 0.05
    coords[:40] = rng.normal(size=(40, 2)) * 0.002  # the sentence's tokens crowd one corner of the map
    ids = [*range(40), 3, 7]  # two repeats: the same row of the table, named once
    labels = index_labels([vocabulary[i] for i in ids])
    fig = embeddings.projection_scatter(coords, vocabulary, ids, labels, title="PCA", explained=[0.02, 0.011])
    notes = fig.layout.annotations
    assert len(notes) == 40 and sorted(n.text for n in notes) == sorted(vocabulary[:40])
    x0, x1 = fig.layout.xaxis.range
    y0, y1 = fig.layout.yaxis.range
    width, height = plot_size(fig)
    boxes = []
    for note in notes:
        px = (note.x - x0) / (x1 - x0) * width + note.ax
        py = (y1 - note.y) / (y1 - y0) * height + note.ay
        half = common.text_px(note.text, embeddings.LABEL_FONT_PX) / 2 + 3
        boxes.append((px - half, py - 8, px + half, py + 8))
    for i, a in enumerate(boxes):
        assert 0 <= a[0] and a[2] <= width and 0 <= a[1] and a[3] <= height, "a label leaves the plot"
        assert not any(embeddings.boxes_overlap(a, b) for b in boxes[i + 1 :]), "two labels overlap"
    assert "2.0% of the variance" in fig.layout.xaxis.title.text
    assert "1.1% of the variance" in fig.layout.yaxis.title.text


def test_positional_curves_open_on_the_sentence_and_the_table_labels_round_positions() -> None:
    table = np.random.default_rng(5).uniform(-1, 1, size=(256, 64))
    curves = positional.dimension_curves(table, [0, 5], title="Curves", marked=12)
    assert tuple(curves.layout.xaxis.range) == (-0.5, 11.5)
    assert all(len(trace.x) == 256 for trace in curves.data), "every position is drawn, a zoom away"
    full = positional.dimension_curves(table, [0, 5], title="Curves")
    assert tuple(full.layout.xaxis.range) == (-0.5, 255.5)
    fig = positional.positional_table_heatmap(table, 12, title="Table")
    rows = list(fig.layout.yaxis.tickvals)
    assert rows[:3] == ["0", "10", "20"] and len(rows) * common.CELL_PX <= positional.TABLE_PLOT_PX


# --- decoding step by step in the browser: one frame per step -------------------------------------------------------


def _stepping_trace(model):  # type: ignore[no-untyped-def]
    """A 5-step trace of the conftest tiny model with markup in every token, stages of every decoder head."""
    from model.inspect.tracing import trace_sentence
    from model.nn.names import HeadRef

    heads = [HeadRef("decoder.self_attn", layer, head) for layer in range(2) for head in range(4)]
    return trace_sentence(
        model, [5, 17, 9, 33, 3], token_text=lambda i: f"<b>{i}</b>", top_k=4, stage_heads=heads, max_new_tokens=5
    )


def _named(fig_or_frame, name: str):  # type: ignore[no-untyped-def]
    return next(trace for trace in fig_or_frame.data if trace.name == name)


def test_lower_triangle_and_step_series_take_the_traces_own_numbers(tiny_model) -> None:  # type: ignore[no-untyped-def]
    from model.nn.names import HeadRef
    from viz_app.analysis import lower_triangle, step_series

    np.testing.assert_array_equal(np.isnan(lower_triangle(np.ones((3, 3)))), ~causal(3))
    with pytest.raises(ValueError):
        lower_triangle(np.ones((2, 3)))
    trace = _stepping_trace(tiny_model)
    series = step_series(trace, 1, 2, 3)
    count = len(trace.steps)
    assert series.steps == count >= 2 and series.top_probs.shape == (count, 3)
    stage = trace.stages[HeadRef("decoder.self_attn", 1, 2)]
    for t, record in enumerate(trace.steps):
        np.testing.assert_array_equal(series.weights[t, : t + 1], record.self_attn[1, 2])
        assert np.isnan(series.weights[t, t + 1 :]).all() and np.isnan(series.scores[t, t + 1 :]).all()
        np.testing.assert_allclose(series.scores[t, : t + 1], stage.scaled_scores[t, : t + 1], rtol=1e-6)
        np.testing.assert_array_equal(series.cross[t], record.cross_attn[1])
        np.testing.assert_array_equal(series.top_probs[t], record.top_probs[:3])
        assert series.top_tokens[t] == record.top_tokens[:3] and series.chosen_tokens[t] == record.chosen_token
    # The decoder's weights rows are the teacher-forced replay's rows: the step records and the stages agree.
    np.testing.assert_allclose(np.nan_to_num(series.weights), np.tril(stage.weights[:count, :count]), atol=1e-6)


def test_stepping_figure_frames_carry_every_steps_numbers(tiny_model) -> None:  # type: ignore[no-untyped-def]
    from viz_app.analysis import step_series
    from viz_app.figures import stepping

    trace = _stepping_trace(tiny_model)
    layer, head, k = 1, 2, 3
    series = step_series(trace, layer, head, k)
    count, heads = len(trace.steps), series.cross.shape[1]
    fig = stepping.stepping_figure(series)
    assert [frame.name for frame in fig.frames] == [str(t) for t in range(count)]

    # Fixed layers: every step's row is there once; above the diagonal nothing is shown as a number.
    weights = np.asarray(_named(fig, "weight").z)
    scores = np.asarray(_named(fig, "score").z)
    for t, record in enumerate(trace.steps):
        np.testing.assert_allclose(weights[t, : t + 1], record.self_attn[layer, head], rtol=1e-6)
    above = ~causal(count)
    assert np.isnan(weights[above]).all() and np.isnan(scores[above]).all()
    assert np.isfinite(scores[~above]).all()
    hatches = [t for t in fig.data if t.name == stepping.NOT_COMPUTED_LABEL and t.mode == "lines"]
    assert len(hatches) == 2  # on the scores and on the weights
    for hatch in hatches:  # one stroke along each diagonal above the main one, i.e. through cells (i, i + c)
        segments = np.stack([np.asarray(hatch.x), np.asarray(hatch.y)], axis=1).reshape(count - 1, 3, 2)[:, :2]
        offsets = segments[:, :, 0] - segments[:, :, 1]
        np.testing.assert_allclose(offsets, np.repeat(np.arange(1, count)[:, None], 2, axis=1))
    masked = next(t for t in heatmaps(fig) if t.name == common.MASKED_LABEL)
    np.testing.assert_array_equal(np.asarray(masked.z).astype(bool), above)
    output = _named(fig, "output")
    np.testing.assert_allclose(np.asarray(output.x), [r.chosen_prob for r in trace.steps], rtol=1e-6)
    cross = np.asarray(_named(fig, "cross-attention").z).reshape(count, heads, -1)
    np.testing.assert_allclose(cross, np.stack([r.cross_attn[layer] for r in trace.steps]), rtol=1e-6)

    # Each frame: its step's candidates and output, and the window of its step on every panel.
    panels = stepping.plan_layout(series).panels
    candidates = list(fig.layout[f"yaxis{panels['topk'].suffix}"].ticktext)
    for t, record in enumerate(trace.steps):
        frame = fig.frames[t]
        assert len(frame.data) == len(frame.traces) and min(frame.traces) > fig.data.index(_named(fig, "score"))
        topk = _named(frame, "candidates")
        np.testing.assert_allclose(np.asarray(topk.x), record.top_probs[:k], rtol=1e-6)
        assert [candidates[int(y)].split("  ")[0] for y in topk.y] == common.escape_labels(record.top_tokens[:k])
        bottom, top = frame.layout[f"yaxis{panels['output'].suffix}"].range  # the output up to step t, no further
        assert bottom == t + 0.5 and top <= -0.5
        assert frame.layout[f"xaxis{panels['weights'].suffix}"].range == (-0.5, t + 0.5)
        assert frame.layout[f"yaxis{panels['mask'].suffix}"].range == (t + 0.5, -0.5)
        low, high = sorted(frame.layout[f"yaxis{panels['cross'].suffix}"].range)
        assert (low, high) == (t * heads - 0.5, (t + 1) * heads - 0.5)

    # plotly's own slider and buttons move through the frames; nothing goes back to the server.
    (slider,) = fig.layout.sliders
    assert [list(step.args[0]) for step in slider.steps] == [[str(t)] for t in range(count)]
    assert all(step.method == "animate" for step in slider.steps)
    assert str(count - 1) in slider.steps[-1].label
    labels = [button.label for button in fig.layout.updatemenus[0].buttons]
    assert sum("Play" in label for label in labels) == len(stepping.PLAY_SPEEDS_MS) and any(
        "Pause" in x for x in labels
    )
    durations = [b.args[1]["frame"]["duration"] for b in fig.layout.updatemenus[0].buttons if "Play" in b.label]
    assert sorted(durations) == sorted(stepping.PLAY_SPEEDS_MS.values()) and min(durations) >= 500

    text = fig.to_json()
    assert "<b>" not in text and "&lt;b&gt;" in text  # token markup shown as text
    with pytest.raises(ValueError):
        stepping.stepping_figure(series, start=count)


def test_stepping_figure_sizes_itself_by_token_count() -> None:
    from viz_app.analysis import StepSeries
    from viz_app.figures import stepping

    def series(steps: int, sources: int = 6) -> StepSeries:
        weights = np.where(causal(steps), 1.0 / np.arange(1, steps + 1)[:, None], np.nan)
        return StepSeries(
            layer=0,
            head=1,
            prefix_labels=tuple(index_labels(["<s>", *(f"▁w{i}" for i in range(steps - 1))])),
            source_labels=tuple(index_labels([f"▁s{i}" for i in range(sources)])),
            scores=weights,
            weights=weights,
            cross=rng_weights(steps, 4, sources),
            top_tokens=tuple(("▁a", "▁b") for _ in range(steps)),
            top_probs=np.tile([0.7, 0.2], (steps, 1)),
            chosen_tokens=tuple("▁a" for _ in range(steps)),
            chosen_probs=np.full(steps, 0.7),
            eos=tuple(i == steps - 1 for i in range(steps)),
        )

    short, long = stepping.plan_layout(series(6)), stepping.plan_layout(series(60))
    assert short.matrix_columns == 3 and long.matrix_columns == 1
    assert long.height > short.height
    for plan in (short, long):
        for panel in plan.panels.values():
            assert 0.0 <= panel.x[0] < panel.x[1] <= 1.0 and 0.0 <= panel.y[0] < panel.y[1] <= 1.0
    # A row of at least 13 px for each of the 60 decoder positions, in each matrix.
    weights = long.panels["weights"]
    assert (weights.y[1] - weights.y[0]) * (long.height - stepping.TOP_PX) >= 13 * 60 - 1
    fig = stepping.stepping_figure(series(60))
    assert len(fig.frames) == 60 and "end token" in fig.layout.sliders[0].steps[-1].label


def test_head_grid_cells_stay_large_enough_for_their_labels() -> None:
    from viz_app.figures.tiles import TILE_CELL_PX

    for count, columns in ((6, 4), (40, 2), (128, 2)):
        labels = long_labels(count)
        fig = attention.head_grid(rng_weights(8, count, count), labels, labels, title="every head")
        (values,) = value_layers(fig)
        cell_rows, cell_cols = np.asarray(values.z).shape
        width, height = plot_size(fig)
        assert height / cell_rows >= TILE_CELL_PX - 0.5, f"{count} tokens: rows too short"
        assert (width - common.colorbar_room("weight")) / cell_cols >= TILE_CELL_PX - 0.5, f"{count} tokens"
        assert len(fig.layout.xaxis.ticktext) == count * columns, f"{count} tokens: {columns} panels a row"


# --- highlights of a chosen token, and click targets (the layers x heads grid, the head lab's importance maps) ---


def test_cross_shapes_outline_one_row_and_one_column() -> None:
    row, col = common.cross_shapes(2, 1, 4, 5)
    assert (row["x0"], row["x1"], row["y0"], row["y1"]) == (-0.5, 4.5, 1.5, 2.5)
    assert (col["x0"], col["x1"], col["y0"], col["y1"]) == (0.5, 1.5, -0.5, 3.5)
    assert common.cross_shapes(None, None, 4, 5) == [] and common.cross_shapes(9, -1, 4, 5) == []
    (moved,) = common.cross_shapes(0, None, 4, 5, x_offset=10, y_offset=20)
    assert (moved["x0"], moved["y0"]) == (9.5, 19.5)


def test_weight_and_score_heatmaps_outline_the_chosen_query_row_and_key_column() -> None:
    weights = np.full((3, 4), 0.25)
    labels_q, labels_k = index_labels(["a", "b", "c"]), index_labels(["w", "x", "y", "z"])
    for fig in (
        attention.attention_heatmap(weights, labels_q, labels_k, title="t", highlight=(1, 3)),
        stages.scores_heatmap(weights, labels_q, labels_k, title="t", highlight=(1, 3)),
        stages.mask_heatmap(weights > 0, labels_q, labels_k, title="t", highlight=(1, 3)),
        attention.mean_heatmap(weights[None], labels_q, labels_k, title="t", highlight=(1, 3)),
    ):
        row, col = fig.layout.shapes
        assert (row.y0, row.y1, row.x0, row.x1) == (0.5, 1.5, -0.5, 3.5)
        assert (col.x0, col.x1, col.y0, col.y1) == (2.5, 3.5, -0.5, 2.5)
    assert not attention.attention_heatmap(weights, labels_q, labels_k, title="t").layout.shapes
    only_key = stages.weights_heatmap(weights, labels_q, labels_k, title="t", highlight=(None, 0))
    assert len(only_key.layout.shapes) == 1 and only_key.layout.shapes[0].x1 == 0.5


def test_head_grid_outlines_the_chosen_cell_in_every_panel() -> None:
    weights = np.full((4, 3, 5), 0.2)  # [H, T_q, T_k]
    fig = attention.head_grid(
        weights, index_labels(list("abc")), index_labels(list("vwxyz")), title="t", highlight=(2, 4)
    )
    shapes = fig.layout.shapes
    assert len(shapes) == 2 * 4
    rows = [s for s in shapes if s.x1 - s.x0 == 5]  # a row spans its panel's 5 keys
    cols = [s for s in shapes if s.x1 - s.x0 == 1]
    assert len(rows) == len(cols) == 4 and {(s.y0, s.y1) for s in rows} == {(1.5, 2.5)}  # query 2 of each panel
    assert sorted(c.x0 for c in cols) == sorted(r.x0 + 4 for r in rows)  # key 4 of the same panels


def test_qkv_figure_outlines_the_query_row_in_q_and_the_key_row_in_k_and_v() -> None:
    q, kv = np.ones((3, 8)), np.ones((4, 8))
    fig = stages.qkv_figure(
        q, kv, kv, index_labels(list("abc")), index_labels(list("wxyz")), title="t", highlight=(0, 2)
    )
    by_axis = {(s.xref, s.yref): (s.y0, s.y1) for s in fig.layout.shapes}
    assert by_axis == {("x", "y"): (-0.5, 0.5), ("x2", "y2"): (1.5, 2.5), ("x3", "y3"): (1.5, 2.5)}


def test_layer_head_grid_gets_one_invisible_click_target_per_panel_only_when_asked() -> None:
    weights = np.full((2, 4, 3, 3), 1 / 3)  # [L, H, T_q, T_k]
    labels = index_labels(list("abc"))
    plain = attention.layer_head_grid(weights, labels, labels, title="t")
    assert not [t for t in plain.data if t.name == common.CLICK_TARGET_NAME]
    fig = attention.layer_head_grid(weights, labels, labels, title="t", click_hint="click <me>")
    (targets,) = [t for t in fig.data if t.name == common.CLICK_TARGET_NAME]
    assert targets.type == "scatter" and targets.mode == "markers" and targets is fig.data[-1]  # on top
    assert [list(c) for c in targets.customdata] == [[layer, head] for layer in range(2) for head in range(4)]
    assert targets.marker.color == "rgba(0,0,0,0)" and targets.hovertemplate == "%{text}<extra></extra>"
    assert targets.text[6] == "layer 1, head 2<br>click &lt;me&gt;"  # escaped: plotly reads a few tags
    assert targets.marker.size <= attention.NARROW_WIDTH_PX / 4  # neighbouring targets never overlap
    heatmap = next(t for t in fig.data if t.type == "heatmap")
    centre = np.asarray(heatmap.z)[int(targets.y[6]), int(targets.x[6])]
    assert centre == pytest.approx(1 / 3)  # each target sits on its own panel's cells


def test_importance_heatmap_click_targets_carry_layer_head_and_the_hover_text() -> None:
    from viz_app.figures import heads

    drops = np.array([[0.5, -0.25], [0.0, 1.0]])
    names = [["h00", "h01"], ["h10", "h11"]]
    assert len(heads.importance_heatmap(drops, title="t", names=names, bound=1.0).data) == 1
    fig = heads.importance_heatmap(drops, title="t", names=names, bound=1.0, click_hint="open it")
    targets = fig.data[-1]
    assert targets.name == common.CLICK_TARGET_NAME
    assert [list(c) for c in targets.customdata] == [[0, 0], [0, 1], [1, 0], [1, 1]]
    assert list(targets.x) == ["head 0", "head 1", "head 0", "head 1"]
    assert list(targets.y) == ["layer 0", "layer 0", "layer 1", "layer 1"]
    assert targets.text[1] == "h01<br>drop -0.2500<br>open it"


def test_click_targets_need_one_entry_per_item() -> None:
    with pytest.raises(ValueError):
        common.click_targets([0, 1], [0], [[0], [1]], ["a", "b"], size_px=10)


def test_the_stepping_figure_and_its_data_load_neither_torch_nor_streamlit() -> None:
    code = (
        f"import sys\nsys.path.insert(0, {str(ROOT)!r})\nimport viz_app.figures.stepping\n"
        "print(sorted(m for m in ('torch', 'streamlit') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert result.stdout.strip() == "[]"
