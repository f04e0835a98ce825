"""The figure functions are pure: numpy in, plotly figure out, no Streamlit and no torch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import pytest

from model.inspect.trace import index_labels
from viz_app.figures import attention, common, decoding, embeddings, positional, stages

ROOT = Path(__file__).resolve().parents[1]
FIGURE_MODULES = ["common", "attention", "decoding", "embeddings", "positional", "stages", "tiles"]
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


def test_head_grid_leaves_missing_panels_empty_and_hides_labels_for_long_sentences() -> None:
    labels = [f"{i}:t" for i in range(30)]
    fig = attention.head_grid(rng_weights(3, 30, 30), labels, labels, title="three heads", cols=2)
    (values,) = value_layers(fig)
    z = np.asarray(values.z, dtype=float)
    assert np.isnan(z[-30:, -30:]).all(), "the fourth panel does not exist"
    assert not masked_layers(fig) and fig.layout.xaxis.showticklabels is False


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


# --- decoding ------------------------------------------------------------------------------------------------------


def test_topk_chart_highlights_the_choice_and_escapes() -> None:
    probs = np.array([0.6, 0.3, 0.1])
    before = probs.copy()
    fig = decoding.topk_chart(["▁Hund", "<b>x</b>", "</s>"], probs, 0, title="Step 2: top 3")
    (bar,) = fig.data
    assert list(bar.x) == [0.6, 0.3, 0.1]
    assert bar.marker.color[0] == common.HIGHLIGHT_COLOUR and bar.marker.color[1] == common.BASE_COLOUR
    assert_escaped(bar.y)
    assert "&lt;/s&gt;" in bar.y
    assert tuple(fig.layout.xaxis.range) == (0.0, 1.0)
    assert title_of(fig) == "Step 2: top 3"
    np.testing.assert_array_equal(probs, before)
    with pytest.raises(ValueError):
        decoding.topk_chart(["a"], probs, 0, title="t")


def test_cross_rows_and_timeline_and_focus() -> None:
    rows = rng_weights(4, 6)
    fig = decoding.cross_rows_heatmap(rows, LABELS, title="cross rows", selected_head=2)
    (values,) = value_layers(fig)
    assert np.asarray(values.z).shape == (4, 6) and (values.zmin, values.zmax) == (0.0, 1.0)
    assert list(values.y) == ["head 0", "head 1", "head 2", "head 3"]
    assert len(fig.layout.shapes) == 1

    probs = np.array([0.9, 0.5, 0.8, 0.7], dtype=np.float32)
    before = probs.copy()
    timeline = decoding.timeline_chart(
        ["▁ein", "▁ein", "<b>x</b>", "</s>"], probs, 1, title="Timeline", eos=[0, 0, 0, 1]
    )
    (bar,) = timeline.data
    assert list(bar.y)[:2] == ["0:▁ein", "1:▁ein"] and len(set(bar.y)) == 4
    assert_escaped(bar.y)
    assert bar.marker.color[1] == common.HIGHLIGHT_COLOUR and bar.marker.color[3] == "#9a9a9a"
    assert title_of(timeline) == "Timeline"
    np.testing.assert_array_equal(probs, before)

    focus = decoding.source_focus_heatmap(rng_weights(3, 6), LABELS[:3], LABELS, title="focus")
    assert np.asarray(value_layers(focus)[0].z).shape == (3, 6)
    assert (value_layers(focus)[0].zmin, value_layers(focus)[0].zmax) == (0.0, 1.0)


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
