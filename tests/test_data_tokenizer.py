"""Multi30k loading, text normalization and the joint BPE tokenizer."""

from __future__ import annotations

from pathlib import Path

import pytest

from model.data.corpus import data_dir, load_pairs, normalize, split_checksums
from model.data.tokenizer import SPECIAL_TOKENS, SubwordTokenizer, TokenizerError

pytestmark = pytest.mark.data


@pytest.fixture(scope="module")
def full_tokenizer() -> SubwordTokenizer:
    """The shipping recipe: 8,000 entries learned from both sides of the English-German train split."""
    texts = [side for pair in load_pairs("train", "en", "de") for side in pair]
    return SubwordTokenizer.train(texts, vocab_size=8000)


def test_data_dir_follows_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ATTN_DATA_DIR", str(tmp_path))
    assert data_dir() == tmp_path
    assert data_dir("elsewhere") == Path("elsewhere")
    monkeypatch.delenv("ATTN_DATA_DIR")
    assert data_dir().parts[-3:] == ("shared", "data", "multi30k")


def test_normalize_cleans_text() -> None:
    assert normalize("  Ein\u00a0Hund\tläuft  ") == "Ein Hund läuft"
    assert normalize("Cafe\u0301") == "Café"  # combining accent composed (NFC)
    assert normalize("\n\t ") == ""


def test_splits_have_the_documented_sizes() -> None:
    assert len(load_pairs("train", "en", "de")) == 29000
    assert len(load_pairs("val", "de", "en")) == 1014
    assert len(load_pairs("test_2016_flickr", "en", "de")) == 1000
    assert all("\u00a0" not in s and "\t" not in s for pair in load_pairs("train", "en", "de") for s in pair)


def test_missing_split_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"train\.en"):
        load_pairs("train", "en", "de", tmp_path)


def test_checksums_cover_each_file() -> None:
    sums = split_checksums(("en", "de"))
    assert set(sums) == {f"{s}.{lang}" for s in ("train", "val", "test_2016_flickr") for lang in ("en", "de")}
    assert all(len(value) == 64 for value in sums.values())


def test_round_trip_on_val(full_tokenizer: SubwordTokenizer) -> None:
    sentences = [side for pair in load_pairs("val", "en", "de") for side in pair]
    mismatches = [s for s in sentences if full_tokenizer.decode(full_tokenizer.encode(s)) != s]
    assert mismatches == []


def test_special_tokens_where_they_belong(full_tokenizer: SubwordTokenizer) -> None:
    assert full_tokenizer.vocab_size == 8000
    assert [full_tokenizer.token_text(i) for i in range(4)] == list(SPECIAL_TOKENS)
    for sentence in ("A dog runs on the beach.", "Zwei Männer spielen Fußball."):
        ids = full_tokenizer.encode(sentence)
        assert ids[0] == full_tokenizer.bos_id and ids[-1] == full_tokenizer.eos_id
        assert not any(full_tokenizer.is_special(i) for i in ids[1:-1])


def test_tokens_read_well(full_tokenizer: SubwordTokenizer) -> None:
    tokens = [full_tokenizer.token_text(i) for i in full_tokenizer.encode("A dog runs on the beach.")]
    assert tokens == ["<s>", "▁A", "▁dog", "▁runs", "▁on", "▁the", "▁beach", ".", "</s>"]


def test_unknown_characters_become_unk(full_tokenizer: SubwordTokenizer) -> None:
    ids = full_tokenizer.encode("a dog 🙂")
    assert full_tokenizer.unk_id in ids


def test_save_and_load(tmp_path: Path, full_tokenizer: SubwordTokenizer) -> None:
    path = tmp_path / "tokenizer.json"
    full_tokenizer.save(path)
    again = SubwordTokenizer.load(path)
    sentence = "Ein Mann fährt Fahrrad."
    assert again.encode(sentence) == full_tokenizer.encode(sentence)


def test_bad_tokenizer_files(tmp_path: Path) -> None:
    with pytest.raises(TokenizerError, match="not found"):
        SubwordTokenizer.load(tmp_path / "missing.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{ not json", encoding="utf-8")
    with pytest.raises(TokenizerError, match="cannot read"):
        SubwordTokenizer.load(broken)
