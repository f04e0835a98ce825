"""The figure functions are pure: numpy in, plotly figure out, no Streamlit and no torch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import pytest

from model.inspect.trace import AttentionStages, index_labels
from viz_app.figures import attention, common, embeddings, positional, stage_frames

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


def scores_figure(scores: np.ndarray, query_labels, key_labels, *, title: str, highlight=None) -> go.Figure:  # type: ignore[no-untyped-def]
    """A score matrix [T_q, T_k] alone (raw, scaled or + mask) on a diverging scale centred on 0, -inf cells grey."""
    row, col = highlight or (None, None)
    return common.heatmap_figure(
        scores,
        query_labels,
        key_labels,
        title=title,
        scale=common.symmetric_scale(scores),
        value_name="score",
        row_title="query",
        col_title="key",
        highlight_row=row,
        highlight_col=col,
    )


def mask_figure(allowed: np.ndarray, query_labels, key_labels, *, title: str, highlight=None) -> go.Figure:  # type: ignore[no-untyped-def]
    """The additive mask alone: 0 (light) where a key may be attended, -inf (grey) where not, no colour bar."""
    row, col = highlight or (None, None)
    allowed = allowed.astype(bool)
    return common.heatmap_figure(
        np.where(allowed, 0.0, -np.inf).astype(np.float32),
        query_labels,
        key_labels,
        title=title,
        scale=stage_frames.MASK_SCALE,
        allowed=allowed,
        value_name="added to the score",
        row_title="query",
        col_title="key",
        show_scale=False,
        highlight_row=row,
        highlight_col=col,
    )


# The value layers of the stage figure, by trace name, and the field of AttentionStages each one draws.
STAGE_FIELDS = {
    "Q": "q",
    "K": "k",
    "V": "v",
    "raw score": "raw_scores",
    "scaled score": "scaled_scores",
    "score + mask": "masked_scores",
    "weight": "weights",
    "output": "output",
}
MASK_NAME = "added to the score"  # the mask panel's value layer: the same for every head
MATRIX_NAMES = ("raw score", "scaled score", MASK_NAME, "score + mask", "weight")  # query x key panels


def make_stages(
    heads: int, n_q: int, n_k: int, d_k: int = 8, *, allowed: np.ndarray | None = None, seed: int = 0
) -> list[AttentionStages]:
    """One layer's heads computed as the model does, head h's Q (h + 1) times larger (so each head has its own
    range), -inf before the softmax where `allowed` is False."""
    rng = np.random.default_rng(seed)
    allowed = np.ones((n_q, n_k), dtype=bool) if allowed is None else allowed
    made = []
    for head in range(heads):
        q = (rng.normal(size=(n_q, d_k)) * (head + 1)).astype(np.float32)
        k, v = (rng.normal(size=(n_k, d_k)).astype(np.float32) for _ in range(2))
        raw = q @ k.T
        scaled = raw / np.float32(np.sqrt(d_k))
        masked = np.where(allowed, scaled, -np.inf).astype(np.float32)
        exp = np.exp(masked - masked.max(axis=-1, keepdims=True))
        weights = (exp / exp.sum(axis=-1, keepdims=True)).astype(np.float32)
        output = (weights @ v).astype(np.float32)
        made.append(AttentionStages("decoder.0.self_attn", head, q, k, v, raw, scaled, masked, weights, output))
    return made


def stage_notes(count: int) -> list[str]:
    return [f"head {h}: query <b>{h}</b> & its keys" for h in range(count)]


def stage_figure(stages_, query_labels, key_labels, *, head: int = 0, highlight=None, notes=None) -> go.Figure:  # type: ignore[no-untyped-def]
    return stage_frames.stage_frames_figure(
        stages_,
        query_labels,
        key_labels,
        title="Decoder self-attention, layer 0",
        head=head,
        scale_text="√8",
        notes=stage_notes(len(stages_)) if notes is None else notes,
        highlight=highlight,
    )


def expected_stage_z(stage: AttentionStages, name: str) -> np.ndarray:
    """What a stage panel draws for one head: its numbers, NaN where the mask removed a cell (-inf, or a weight
    of exactly 0 there), so the grey layer under it shows through."""
    values = np.asarray(getattr(stage, STAGE_FIELDS[name]), dtype=np.float64)
    if name in ("score + mask", "weight"):
        values = np.where(np.isfinite(stage.masked_scores), values, np.nan)
    return values


def named_layer(fig: go.Figure, name: str) -> go.Heatmap:
    (layer,) = [trace for trace in value_layers(fig) if trace.name == name]
    return layer


def suffix_of(trace: go.Heatmap) -> str:
    return (trace.xaxis or "x")[1:]


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
    fig = scores_figure(scores, LABELS[:4], LABELS[:4], title="Scaled scores + mask")
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


def test_layer_head_grid_and_the_mean_over_heads() -> None:
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
    np.testing.assert_allclose(attention.mean_over_heads(weights[0]), weights[0].mean(axis=0))
    np.testing.assert_array_equal(weights, before)
    with pytest.raises(ValueError):
        attention.head_grid(weights, LABELS, LABELS[:5], title="wrong rank")


# --- stages --------------------------------------------------------------------------------------------------------


def test_stage_figures() -> None:
    q = np.random.default_rng(1).normal(size=(6, 8))
    before = q.copy()
    fig = embeddings.embedding_heatmap(q, LABELS, title="Q, head 0", value_name="Q")  # the vectors-per-token figure
    (values,) = value_layers(fig)
    assert np.asarray(values.z).shape == (6, 8)
    assert list(values.x) == [f"d{i}" for i in range(8)]
    assert values.zmin == pytest.approx(-np.abs(q).max()) and values.zmax == pytest.approx(np.abs(q).max())
    np.testing.assert_array_equal(q, before)

    allowed = causal(6)
    mask = mask_figure(allowed, LABELS, LABELS, title="The mask")
    assert len(masked_layers(mask)) == 1 and title_of(mask) == "The mask"
    z = np.asarray(value_layers(mask)[0].z, dtype=float)
    assert (z[allowed] == 0).all() and np.isnan(z[~allowed]).all()
    assert not any(trace.showscale for trace in heatmaps(mask))  # two values only: no misleading colour bar

    w = attention.attention_heatmap(rng_weights(6, 6), LABELS, LABELS, title="softmax", allowed=allowed)
    assert (value_layers(w)[0].zmin, value_layers(w)[0].zmax) == (0.0, 1.0)


def test_stage_frames_figure_has_one_frame_per_head_with_that_heads_numbers() -> None:
    layer = make_stages(4, 6, 5)  # 6 queries, 5 keys: rows and columns cannot be swapped unnoticed
    before = [{name: np.copy(getattr(stage, field)) for name, field in STAGE_FIELDS.items()} for stage in layer]
    fig = stage_figure(layer, LABELS, LABELS[:5], head=2)
    assert [frame.name for frame in fig.frames] == ["0", "1", "2", "3"]
    moving = list(fig.frames[0].traces)
    assert sorted(fig.data[i].name for i in moving) == sorted(STAGE_FIELDS)  # every panel but the mask
    for h, frame in enumerate(fig.frames):
        assert list(frame.traces) == moving and len(frame.data) == len(moving)
        for index, update in zip(frame.traces, frame.data, strict=True):
            name = fig.data[index].name
            np.testing.assert_array_equal(
                np.asarray(update.z, dtype=np.float64), expected_stage_z(layer[h], name), err_msg=f"head {h} {name}"
            )
    for name in STAGE_FIELDS:  # the figure opens on head 2's numbers
        z = np.asarray(named_layer(fig, name).z, dtype=np.float64)
        np.testing.assert_array_equal(z, expected_stage_z(layer[2], name), err_msg=name)
    (slider,) = fig.layout.sliders
    assert slider.active == 2 and slider.currentvalue.prefix == "Head "
    assert [list(step.args[0]) for step in slider.steps] == [[str(h)] for h in range(4)]
    assert all(step.method == "animate" for step in slider.steps)  # in the browser, no server round trip
    assert all(step.args[1]["frame"]["redraw"] for step in slider.steps)  # heatmaps change: redraw

    q, k, raw, output = (named_layer(fig, name) for name in ("Q", "K", "raw score", "output"))
    assert list(q.y) == common.escape_labels(LABELS) and list(k.y) == common.escape_labels(LABELS[:5])
    assert list(q.x) == [f"d{i}" for i in range(8)] and list(output.x) == list(q.x)
    assert list(raw.y) == common.escape_labels(LABELS) and list(raw.x) == common.escape_labels(LABELS[:5])
    assert_escaped(q.y)
    titles = [a.text for a in fig.layout.annotations][:9]
    assert titles[:3] == ["Q  (6 × 8)", "K  (5 × 8)", "V  (5 × 8)"] and "Divided by √8" in titles
    assert title_of(fig) == "Decoder self-attention, layer 0"
    for stage, saved in zip(layer, before, strict=True):  # the stages are not modified
        for name, field in STAGE_FIELDS.items():
            np.testing.assert_array_equal(getattr(stage, field), saved[name])


def test_stage_frames_figure_keeps_one_colour_scale_per_panel_over_every_head() -> None:
    layer = make_stages(3, 6, 6, allowed=causal(6))
    fig = stage_figure(layer, LABELS, LABELS)
    axes = {name: named_layer(fig, name).coloraxis for name in STAGE_FIELDS}
    assert axes["Q"] == axes["K"] == axes["V"] == "coloraxis"  # Q, K and V on one scale
    assert len({axes[name] for name in STAGE_FIELDS if name not in ("Q", "K", "V")} | {"coloraxis"}) == 6
    bound_qkv = max(float(np.abs(getattr(s, f)).max()) for s in layer for f in "qkv")
    assert bound_qkv > max(float(np.abs(getattr(layer[0], f)).max()) for f in "qkv")  # head 0 alone is not enough
    qkv_axis = fig.layout[axes["Q"]]
    assert qkv_axis.cmin == pytest.approx(-bound_qkv) and qkv_axis.cmax == pytest.approx(bound_qkv)
    for name in ("raw score", "scaled score", "score + mask", "output"):
        values = [np.asarray(getattr(stage, STAGE_FIELDS[name]), dtype=np.float64) for stage in layer]
        bound = max(float(np.abs(v[np.isfinite(v)]).max()) for v in values)
        shown = float(np.abs(values[0][np.isfinite(values[0])]).max())
        axis = fig.layout[axes[name]]
        assert axis.cmin == pytest.approx(-bound) and axis.cmax == pytest.approx(bound), name  # symmetric, all heads
        assert bound > shown, f"{name}: the range covers the heads not shown"
    assert (fig.layout[axes["weight"]].cmin, fig.layout[axes["weight"]].cmax) == (0.0, 1.0)
    bars = {fig.layout[axis].colorbar.title.text for axis in set(axes.values())}
    assert bars == {"Q, K, V", "raw", "scaled", "+ mask", "weight", "output"}  # one bar per scale

    mask = named_layer(fig, MASK_NAME)  # the same for every head: no frame replaces it, and no colour scale
    mask_index = list(fig.data).index(mask)
    assert all(mask_index not in frame.traces for frame in fig.frames)
    assert mask.coloraxis is None and mask.showscale is False
    z = np.asarray(mask.z, dtype=float)
    assert (z[causal(6)] == 0).all() and np.isnan(z[~causal(6)]).all()


def test_stage_frames_figure_shows_the_grey_masked_cells_of_a_causal_mask() -> None:
    allowed = causal(6)
    layer = make_stages(3, 6, 6, allowed=allowed)
    fig = stage_figure(layer, LABELS, LABELS, head=1)
    masked = masked_layers(fig)
    grey_axes = sorted((t.xaxis, t.yaxis) for t in masked)
    named = sorted(
        (named_layer(fig, n).xaxis, named_layer(fig, n).yaxis) for n in (MASK_NAME, "score + mask", "weight")
    )
    assert grey_axes == named  # the mask, the masked scores and the weights; not the raw or scaled scores
    replaced = {index for frame in fig.frames for index in frame.traces}
    for layer_ in masked:
        gz = np.asarray(layer_.z, dtype=float)
        assert np.isfinite(gz[~allowed]).all() and np.isnan(gz[allowed]).all()
        assert common.MASKED_LABEL in layer_.hovertemplate
        assert list(fig.data).index(layer_) not in replaced  # the same grey cells for every head
    for name in ("raw score", "scaled score"):  # scores above the diagonal exist (teacher forcing): drawn
        assert np.isfinite(np.asarray(named_layer(fig, name).z, dtype=float)).all()
    for frame in fig.frames:
        for index, update in zip(frame.traces, frame.data, strict=True):
            if fig.data[index].name in ("score + mask", "weight"):
                z = np.asarray(update.z, dtype=float)
                assert np.isnan(z[~allowed]).all() and np.isfinite(z[allowed]).all()


def test_stage_frames_figure_writes_each_heads_note_in_its_frame() -> None:
    layer = make_stages(3, 6, 6)
    notes = stage_notes(3)
    fig = stage_figure(layer, LABELS, LABELS, head=1, notes=notes)
    titles = [a.text for a in fig.layout.annotations][:-1]
    assert fig.layout.annotations[-1].text == "head 1: query &lt;b&gt;1&lt;/b&gt; &amp; its keys"
    for h, frame in enumerate(fig.frames):
        texts = [a.text for a in frame.layout.annotations]
        assert texts[-1] == common.escape_label(notes[h]) and texts[:-1] == titles  # panel titles stay
        assert not any("<b>" in text for text in texts)
        assert not any(common.escape_label(notes[other]) in texts for other in range(3) if other != h)
    long_note = " ".join(["one cell followed through every stage"] * 12)
    tall = stage_figure(layer, LABELS, LABELS, notes=[long_note, "short", "short"])
    lines = tall.frames[0].layout.annotations[-1].text.split("<br>")
    assert len(lines) > 1 and " ".join(lines) == long_note  # wrapped to the figure's width
    assert tall.layout.margin.b > fig.layout.margin.b and tall.layout.height > fig.layout.height  # room for it


def test_stage_frames_figure_refuses_a_wrong_number_of_notes_or_a_head_out_of_range() -> None:
    layer = make_stages(3, 4, 4)
    labels = LABELS[:4]
    with pytest.raises(ValueError):
        stage_figure(layer, labels, labels, notes=stage_notes(2))
    with pytest.raises(ValueError):
        stage_figure(layer, labels, labels, notes=stage_notes(4))
    for head in (-1, 3):
        with pytest.raises(ValueError):
            stage_figure(layer, labels, labels, head=head)
    with pytest.raises(ValueError):
        stage_figure([], labels, labels)


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
    fig = mask_figure(causal(6), LABELS, LABELS, title="The mask")
    plain = scores_figure(np.zeros((6, 6)), LABELS, LABELS, title="no mask")
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
        "scores": scores_figure(weights * 4 - 2, labels, labels, title="scores"),
        "mask": mask_figure(causal(n), labels, labels, title="mask"),
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
    fig = stage_figure(make_stages(2, count, count, d_k=32), labels, labels)
    dims = [f"d{i}" for i in range(0, 32, 4)]
    plot_height = fig.layout.height - fig.layout.margin.t - fig.layout.margin.b
    panels = value_layers(fig)
    assert sorted(t.name for t in panels) == sorted([*STAGE_FIELDS, MASK_NAME])
    for trace in panels:
        x_axis, y_axis = fig.layout[f"xaxis{suffix_of(trace)}"], fig.layout[f"yaxis{suffix_of(trace)}"]
        assert x_axis.tickmode == y_axis.tickmode == "array", f"{trace.name}: plotly would thin the labels out"
        assert list(y_axis.ticktext) == labels and list(y_axis.tickvals) == labels, trace.name
        columns = labels if trace.name in MATRIX_NAMES else dims  # every token, or every fourth dimension
        assert list(x_axis.ticktext) == columns and list(x_axis.tickvals) == columns, trace.name
        assert x_axis.tickangle == -90, trace.name
        y0, y1 = y_axis.domain
        assert (y1 - y0) * plot_height / count >= common.CELL_PX - 0.5, f"{trace.name}: rows too short"
        if trace.name in MATRIX_NAMES:
            x0, x1 = x_axis.domain
            assert (x1 - x0) * fig.layout.width / count >= common.CELL_PX - 0.5, f"{trace.name}: columns too narrow"
        if y_axis.showticklabels is False:  # only right of a panel on the same row that labels the same tokens
            assert any(
                other is not trace
                and tuple(fig.layout[f"yaxis{suffix_of(other)}"].domain) == tuple(y_axis.domain)
                and fig.layout[f"yaxis{suffix_of(other)}"].showticklabels is not False
                and list(fig.layout[f"yaxis{suffix_of(other)}"].ticktext) == labels
                and fig.layout[f"xaxis{suffix_of(other)}"].domain[1] <= x_axis.domain[0]
                for other in panels
            ), f"{trace.name}: its rows are named nowhere"


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
        scores_figure(weights, labels_q, labels_k, title="t", highlight=(1, 3)),
        mask_figure(weights > 0, labels_q, labels_k, title="t", highlight=(1, 3)),
    ):
        row, col = fig.layout.shapes
        assert (row.y0, row.y1, row.x0, row.x1) == (0.5, 1.5, -0.5, 3.5)
        assert (col.x0, col.x1, col.y0, col.y1) == (2.5, 3.5, -0.5, 2.5)
    assert not attention.attention_heatmap(weights, labels_q, labels_k, title="t").layout.shapes
    only_key = attention.attention_heatmap(weights, labels_q, labels_k, title="t", highlight=(None, 0))
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


def stage_outlines(fig: go.Figure) -> dict[str, list[tuple[float, float, float, float]]]:
    """(x0, x1, y0, y1) of the outlines drawn on each stage panel, by the name of the panel's value layer."""
    names = {(t.xaxis, t.yaxis): t.name for t in value_layers(fig)}
    found: dict[str, list[tuple[float, float, float, float]]] = {}
    for shape in fig.layout.shapes:
        found.setdefault(names[(shape.xref, shape.yref)], []).append((shape.x0, shape.x1, shape.y0, shape.y1))
    return {name: sorted(boxes) for name, boxes in found.items()}


def test_stage_frames_figure_outlines_the_query_row_in_q_the_key_row_in_k_and_v_and_the_cell_in_the_matrices() -> None:
    layer = make_stages(2, 3, 4)  # 3 queries, 4 keys, d_k 8
    labels_q, labels_k = index_labels(list("abc")), index_labels(list("wxyz"))
    fig = stage_figure(layer, labels_q, labels_k, highlight=(0, 2))
    vector_row = {"Q": (-0.5, 7.5, -0.5, 0.5), "K": (-0.5, 7.5, 1.5, 2.5), "V": (-0.5, 7.5, 1.5, 2.5)}
    cross = [(-0.5, 3.5, -0.5, 0.5), (1.5, 2.5, -0.5, 2.5)]  # query 0's row and key 2's column
    assert stage_outlines(fig) == {
        **{name: [box] for name, box in vector_row.items()},
        **{name: cross for name in MATRIX_NAMES},
        "output": [(-0.5, 7.5, -0.5, 0.5)],  # the query's output row
    }
    assert all(not frame.layout.shapes for frame in fig.frames)  # the outlines stay for every head
    assert not stage_figure(layer, labels_q, labels_k).layout.shapes
    only_key = stage_outlines(stage_figure(layer, labels_q, labels_k, highlight=(None, 0)))
    assert only_key == {
        "K": [(-0.5, 7.5, -0.5, 0.5)],
        "V": [(-0.5, 7.5, -0.5, 0.5)],
        **{name: [(-0.5, 0.5, -0.5, 2.5)] for name in MATRIX_NAMES},
    }


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
