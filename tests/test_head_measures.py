"""Head measures and labels on hand-made attention matrices, where the right answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from model.inspect.head_measures import (
    HeadMeasures,
    band_share,
    confidence,
    is_punctuation,
    label_head,
    mean_measures,
    measure_head,
    offset_shares,
    row_entropy,
    side_tokens,
    spearman,
)

T = 8


def _previous_token_head(t: int = T) -> np.ndarray:
    weights = np.zeros((t, t))
    weights[0, 0] = 1.0
    for i in range(1, t):
        weights[i, i - 1] = 0.9
        weights[i, i] = 0.1
    return weights


def _uniform(t_q: int, t_k: int) -> np.ndarray:
    return np.full((t_q, t_k), 1.0 / t_k)


def _no_special(t: int) -> np.ndarray:
    return np.zeros(t, dtype=bool)


def test_a_previous_token_head_is_positional_minus_one() -> None:
    weights = _previous_token_head(12)
    shares = offset_shares(weights)
    assert shares[-1] == pytest.approx(11 / 12) and shares[0] == pytest.approx(1 / 12)
    measures = measure_head(weights, cross=False, special_keys=_no_special(12), rarest_key=None)
    assert label_head(measures).label == "positional -1"
    assert "92%" in label_head(measures).rule  # 11 of 12 queries, shown with the rule
    short = measure_head(_previous_token_head(8), cross=False, special_keys=_no_special(8), rarest_key=None)
    assert label_head(short).label != "positional -1"  # 7 of 8 = 87.5%, under the 90% criterion


def test_a_uniform_head_has_the_largest_entropy_and_is_broad() -> None:
    uniform = _uniform(T, T)
    entropies = row_entropy(uniform)
    np.testing.assert_allclose(entropies, np.log(T))
    rng = np.random.default_rng(0)
    for _ in range(20):
        other = rng.dirichlet(np.ones(T), size=T)
        assert np.all(row_entropy(other) <= entropies + 1e-12)
    measures = measure_head(uniform, cross=False, special_keys=_no_special(T), rarest_key=None)
    assert measures.entropy_ratio == pytest.approx(1.0)
    assert label_head(measures).label == "broad"
    assert confidence(uniform) == pytest.approx(1 / T)


def test_a_diagonal_cross_attention_is_an_alignment_head() -> None:
    t_q, t_k = 6, 9
    weights = np.full((t_q, t_k), 0.02)
    for i in range(t_q):
        weights[i, round(i * (t_k - 1) / (t_q - 1))] = 1.0
    weights /= weights.sum(-1, keepdims=True)
    measures = measure_head(weights, cross=True, special_keys=_no_special(t_k), rarest_key=None)
    assert measures.spearman == pytest.approx(1.0) and measures.band == pytest.approx(1.0)
    assert measures.offsets == {}
    assert label_head(measures).label == "alignment"
    reversed_weights = weights[::-1]
    backwards = measure_head(reversed_weights, cross=True, special_keys=_no_special(t_k), rarest_key=None)
    assert backwards.spearman == pytest.approx(-1.0)
    assert label_head(backwards).label != "alignment"


def test_a_head_on_the_end_token_is_a_sink() -> None:
    weights = np.full((T, T), 0.02)
    weights[:, -1] = 1.0
    weights /= weights.sum(-1, keepdims=True)
    special = _no_special(T)
    special[-1] = True
    measures = measure_head(weights, cross=False, special_keys=special, rarest_key=None)
    assert measures.special_weight > 0.8
    assert label_head(measures).label == "sink"


def test_a_head_on_the_rarest_word_is_a_rare_word_head() -> None:
    weights = np.full((T, T), 0.05)
    weights[:, 3] = 1.0
    weights[3, 3], weights[3, 2] = 0.05, 1.0  # the query at 3 looks elsewhere: 7 of 8 queries still point to 3
    weights /= weights.sum(-1, keepdims=True)
    measures = measure_head(weights, cross=False, special_keys=_no_special(T), rarest_key=3)
    assert measures.rare_share == pytest.approx(7 / 8) and measures.rare_chance == pytest.approx(1 / T)
    assert label_head(measures).label == "rare-word"
    elsewhere = measure_head(weights, cross=False, special_keys=_no_special(T), rarest_key=5)
    assert label_head(elsewhere).label != "rare-word"


def test_confidence_leaves_the_end_token_out() -> None:
    weights = _uniform(4, 4)
    weights[3] = [0.0, 0.0, 0.0, 1.0]
    end = np.array([False, False, False, True])
    assert confidence(weights, end) == pytest.approx(0.25)
    assert confidence(weights) == pytest.approx((3 * 0.25 + 1.0) / 4)


def test_spearman_and_band() -> None:
    assert spearman(np.arange(5), np.array([0, 2, 1, 3, 4])) == pytest.approx(0.9)
    assert spearman(np.arange(4), np.zeros(4)) == 0.0
    weights = np.eye(5)
    assert band_share(weights) == 1.0
    assert band_share(weights[::-1], band=1.0) == pytest.approx(1 / 5)  # only the middle query


def test_mixed_when_no_rule_holds_and_means_average() -> None:
    rng = np.random.default_rng(3)
    weights = rng.dirichlet(np.full(T, 0.3), size=T)
    measures = measure_head(weights, cross=False, special_keys=_no_special(T), rarest_key=None)
    label = label_head(measures)
    assert label.label in {"mixed", "broad"} and label.rule
    a = measure_head(_previous_token_head(), cross=False, special_keys=_no_special(T), rarest_key=None)
    b = measure_head(_uniform(T, T), cross=False, special_keys=_no_special(T), rarest_key=None)
    mean = mean_measures([a, b])
    assert mean.entropy == pytest.approx((a.entropy + b.entropy) / 2)
    assert mean.offsets[-1] == pytest.approx((a.offsets[-1] + b.offsets[-1]) / 2)
    assert HeadMeasures.from_dict(mean.to_dict()) == mean


def test_side_tokens_marks_punctuation_specials_and_the_rarest() -> None:
    assert is_punctuation(".") and is_punctuation("▁,") and not is_punctuation("▁dog") and not is_punctuation("▁")
    counts = np.zeros(20, dtype=np.int64)
    counts[[5, 6, 7, 8]] = [100, 3, 50, 1]
    side = side_tokens((2, 5, 6, 8, 7, 3), ("<s>", "▁a", "▁zebra", ".", "▁dog", "</s>"), {0, 1, 2, 3}, 3, counts)
    assert side.special.tolist() == [True, False, False, True, False, True]
    assert side.end.tolist() == [False] * 5 + [True]
    assert side.rarest() == 2  # "▁zebra": the punctuation mark is rarer but not an ordinary token
