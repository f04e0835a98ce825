"""Warnings for input far from the training data: the rules on made-up statistics, then the shipped models and the
page that shows them."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from model.data.checkpoint import load_pretrained
from model.data.familiarity import familiarity, warnings
from model.data.token_stats import TokenStats, read_token_stats
from model.pipeline import Translator

ROOT = Path(__file__).resolve().parents[1]
PRETRAINED = ROOT / "pretrained"
SPECIALS = (0, 1, 2, 3)


def made_up_stats() -> TokenStats:
    """Ids 4-7 are source-side words, 8-11 target-side words, 12 occurs on both sides equally, 13 never."""
    source = np.array([0, 5, 100, 100, 50, 50, 50, 50, 1, 1, 1, 1, 20, 0])
    target = np.array([0, 5, 100, 100, 1, 1, 1, 1, 50, 50, 50, 50, 20, 0])
    return TokenStats("en", "de", source, target, source_length_p99=8.0, sentences=100)


def test_a_sentence_like_the_training_data_gets_no_warning() -> None:
    found = familiarity(made_up_stats(), [2, 4, 5, 6, 12, 3], SPECIALS, unk_id=1)
    assert (found.too_long, found.many_unknown, found.wrong_language) == (False, False, False)
    assert warnings(found, "English", "German") == []


def test_each_rule_fires_on_its_own() -> None:
    stats = made_up_stats()
    long = familiarity(stats, [2, 4, 5, 6, 7, 4, 5, 6, 7, 3], SPECIALS, unk_id=1)
    assert long.too_long and not long.wrong_language and long.length == 10
    unknown = familiarity(stats, [2, 4, 1, 5, 1, 3], SPECIALS, unk_id=1)
    assert unknown.many_unknown and unknown.unknown == 2 and not unknown.too_long
    assert not familiarity(stats, [2, 4, 1, 5, 3], SPECIALS, unk_id=1).many_unknown
    german = familiarity(stats, [2, 8, 9, 10, 4, 3], SPECIALS, unk_id=1)
    assert german.wrong_language and (german.target_leaning, german.pieces) == (3, 4)
    half = familiarity(stats, [2, 8, 9, 4, 5, 3], SPECIALS, unk_id=1)
    assert not half.wrong_language  # "most" means more than half
    too_few = familiarity(stats, [2, 8, 9, 3], SPECIALS, unk_id=1)
    assert not too_few.wrong_language  # two pieces are too few to judge
    never_seen = familiarity(stats, [2, 13, 13, 13, 8, 3], SPECIALS, unk_id=1)
    assert never_seen.pieces == 1  # pieces absent from the training data say nothing about the language
    assert [len(warnings(f, "English", "German")) for f in (long, unknown, german)] == [1, 1, 1]


def shipped(name: str) -> tuple[Translator, TokenStats]:
    stats = read_token_stats(PRETRAINED / name)
    assert stats is not None, f"{name} has no token_stats.json"
    return Translator(load_pretrained(PRETRAINED / name)), stats


def judge(translator: Translator, stats: TokenStats, text: str):
    config = translator.model.config
    specials = (config.pad_id, config.unk_id, config.bos_id, config.eos_id)
    return familiarity(stats, translator.source_ids(text), specials, config.unk_id)


ENGLISH = "A man in a blue shirt is standing on a ladder cleaning windows."
GERMAN = "Ein Mann in einem blauen Hemd steht auf einer Leiter und putzt Fenster."
LONG_ENGLISH = (
    "A young man in a red jacket and a black hat is standing next to an old woman who is selling fresh fruit and "
    "vegetables from a small wooden cart on a busy street corner while children play football behind them."
)


@pytest.mark.parametrize(
    ("name", "own", "other"), [("multi30k-en-de", ENGLISH, GERMAN), ("multi30k-de-en", GERMAN, ENGLISH)]
)
def test_shipped_models_flag_the_other_language_only(name: str, own: str, other: str) -> None:
    translator, stats = shipped(name)
    assert not judge(translator, stats, own).wrong_language
    assert judge(translator, stats, other).wrong_language


def test_shipped_statistics_flag_a_long_sentence() -> None:
    translator, stats = shipped("multi30k-en-de")
    found = judge(translator, stats, LONG_ENGLISH)
    assert found.too_long and found.length > stats.source_length_p99 >= 20
    assert not judge(translator, stats, ENGLISH).too_long


def test_the_page_warns_above_the_translation() -> None:
    from viz_app.settings import MODELS_DIR_ENV

    previous = os.environ.get(MODELS_DIR_ENV)
    os.environ[MODELS_DIR_ENV] = str(PRETRAINED)
    try:
        at = AppTest.from_file(str(ROOT / "viz_app" / "app.py"), default_timeout=90)
        at.run()
        at.selectbox(key="model").set_value("multi30k-en-de").run()
        at.switch_page("views/translate.py")
        at.text_area(key="sentence").set_value(ENGLISH).run()
        assert not at.exception, at.exception
        assert not any("probably not English" in str(w.value) for w in at.warning)
        at.text_area(key="sentence").set_value(GERMAN).run()
        assert not at.exception, at.exception
        texts = [str(w.value) for w in at.warning]
        assert any("probably not English" in t and "English \\-\\> German" in t for t in texts), texts
    finally:
        if previous is None:
            os.environ.pop(MODELS_DIR_ENV, None)
        else:
            os.environ[MODELS_DIR_ENV] = previous


def test_the_translate_cli_notes_the_wrong_language_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    from model import translate

    assert translate.main(["--model", str(PRETRAINED / "multi30k-en-de"), GERMAN]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip() and "probably not English" in captured.err
    assert translate.main(["--model", str(PRETRAINED / "multi30k-en-de"), ENGLISH]) == 0
    assert capsys.readouterr().err == ""
