"""The Overview and Residual stream figures: pure functions, data in, plotly figure out."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest

from viz_app.figures.overview import Shape, architecture_diagram, training_curve
from viz_app.figures.residual import (
    chosen_token_heatmap,
    layer_predictions_heatmap,
    relu_share_heatmap,
    stack_norms_chart,
    vectors_heatmap,
)
from viz_app.model_card import read_model_card

SHAPE = Shape(3, 2, 256, 8, 1024, 8000, "post")


def _texts(fig: go.Figure) -> str:
    return " ".join(str(a.text) for a in fig.layout.annotations)


def test_the_diagram_follows_the_configuration() -> None:
    fig = architecture_diagram(SHAPE, title="shape")
    text = _texts(fig)
    assert text.count("Self-attention, 8 heads") == 3 and text.count("Masked self-attention") == 2
    assert text.count("Cross-attention") == 2 and text.count("Feed-forward 256 → 1024, ReLU → 256") == 5
    assert "encoder layer 2" in text and "decoder layer 1" in text and "decoder layer 2" not in text
    assert "LayerNorm(x + sub-layer(x))" in text and "final LayerNorm" not in text
    assert "&lt;s&gt;" in text and "<s>" not in text.replace("<span", "").replace("<br>", "")
    arrows = [a for a in fig.layout.annotations if a.showarrow and a.arrowcolor != "#777777"]
    assert len(arrows) == 2  # the encoder's output to each decoder layer's cross-attention
    pre = _texts(architecture_diagram(Shape(1, 1, 64, 4, 128, 100, "pre"), title="pre"))
    assert "final LayerNorm" in pre and "x + sub-layer(LayerNorm(x))" in pre


def test_training_curve() -> None:
    fig = training_curve([1, 2, 3], [3.0, 20.0, 30.5], [5.0, 3.1, 2.0], title="curve")
    assert [trace.yaxis for trace in fig.data] == [None, "y2"]  # BLEU on the first axis, loss on the second
    assert list(fig.data[0].y) == [3.0, 20.0, 30.5]
    with pytest.raises(ValueError):
        training_curve([1, 2], [1.0], [1.0, 2.0], title="bad")


def test_stack_norms_chart() -> None:
    fig = stack_norms_chart(
        ["encoder.0.self_attn", "encoder.0.feed_forward"], np.ones(2), np.zeros(2), np.ones(2), title="n"
    )
    assert len(fig.data) == 3 and fig.layout.barmode == "group"
    with pytest.raises(ValueError):
        stack_norms_chart(["a"], np.ones(2), np.ones(2), np.ones(2), title="bad")


def test_vectors_heatmap_is_centred_on_zero() -> None:
    fig = vectors_heatmap(["<b>a</b>", "b"], np.array([[1.0, -3.0], [2.0, 0.5]]), title="v")
    assert fig.data[0].zmin == -3.0 and fig.data[0].zmax == 3.0
    assert list(fig.data[0].y) == ["&lt;b&gt;a&lt;/b&gt;", "b"]
    with pytest.raises(ValueError):
        vectors_heatmap(["a"], np.ones((2, 3)), title="bad")


def test_relu_share_heatmap() -> None:
    fig = relu_share_heatmap(np.array([[0.5, 1.0], [0.0, 0.25]]), ["0:<s>", "1:dog"], title="r", side="encoder")
    heat = fig.data[0]
    assert (heat.zmin, heat.zmax) == (0.0, 1.0) and list(heat.x) == ["0:&lt;s&gt;", "1:dog"]
    assert list(heat.y) == ["encoder layer 0", "encoder layer 1"] and heat.text[0][0] == "50%"


def test_layer_predictions_heatmap_marks_the_chosen_token() -> None:
    tokens = [["▁Ein", "<b>"], ["▁Ein", "▁Hund"]]
    fig = layer_predictions_heatmap(tokens, np.array([[0.4, 0.3], [0.9, 0.05]]), "▁Ein", title="lens")
    text = fig.data[0].text
    assert text[0][0].startswith("▁Ein ◀") and text[0][1].startswith("&lt;b&gt;") and "◀" not in text[1][1]
    assert (fig.data[0].zmin, fig.data[0].zmax) == (0.0, 1.0)
    with pytest.raises(ValueError):
        layer_predictions_heatmap(tokens[:1], np.ones((2, 2)), "x", title="bad")


def test_chosen_token_heatmap() -> None:
    fig = chosen_token_heatmap(np.array([[0.1, 0.2, 0.3]]), ["0:a", "1:b", "2:</s>"], title="c")
    assert list(fig.data[0].x)[-1] == "2:&lt;/s&gt;"
    with pytest.raises(ValueError):
        chosen_token_heatmap(np.ones((2, 2)), ["a"], title="bad")


def test_the_card_reader_takes_full_and_empty_cards() -> None:
    card = {
        "data": {"name": "Multi30k", "train_pairs": 29000},
        "test": {"split": "test", "decoding": "greedy", "bleu": 37.5, "signatures": {"bleu": "nrefs:1|case:mixed"}},
        "hardware": {"processor": "AMD EPYC", "cpu_count": 2},
        "wall_time_minutes": 88.2,
        "curve": [{"epoch": 1, "val_bleu": 3.1, "val_loss": 5.4}],
    }
    readme = "# m\n\n## Intended use and limits\nFor teaching.\nNot a\ntranslator.\n\n## More\nx\n"
    read = read_model_card(card, readme)
    assert read.scores[0].metric == "BLEU, cased" and read.scores[0].signature == "nrefs:1|case:mixed"
    assert read.limits == "For teaching. Not a translator." and read.hardware == "AMD EPYC, 2 CPU cores"
    assert read.curve_epochs == (1,) and read.train_pairs == 29000
    empty = read_model_card({"name": "tiny", "test": {}})
    assert empty.scores == () and empty.limits == "" and empty.wall_time_minutes is None
