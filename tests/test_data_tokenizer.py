"""Multi30k loading, text normalization and the joint BPE tokenizer, whose tokenizer.json alone gives our ids."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer, normalizers

from model.data.corpus import data_dir, load_pairs, normalize, split_checksums, split_path
from model.data.tokenizer import (
    SPECIAL_TOKENS,
    WHITESPACE,
    SubwordTokenizer,
    TokenizerError,
    has_legacy_normalizer,
    text_normalizer,
)

pytestmark = pytest.mark.data
PRETRAINED = Path(__file__).resolve().parents[1] / "pretrained"
SHIPPED = (
    sorted(p.name for p in PRETRAINED.iterdir() if (p / "tokenizer.json").is_file()) if PRETRAINED.is_dir() else []
)
PROPERTY_SETTINGS = settings(
    max_examples=50, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
# Text where the clean-up matters: every whitespace character, decomposed accents, Hangul jamo and compatibility
# characters NFC must leave alone. (Not just any character: the library's NFC tables lack the combining classes of
# about 50 combining marks that recent Unicode versions added, e.g. U+07FD, so there its NFC and Python's differ.)
CLEANUP_CHARACTER = st.one_of(
    st.sampled_from(WHITESPACE),
    st.sampled_from("AaEeOoUuCcNn ßäöü.,-'\"?!"),
    st.characters(min_codepoint=0x300, max_codepoint=0x36F),
    st.characters(min_codepoint=0x1100, max_codepoint=0x11FF),
    st.sampled_from("\u212b\u2126\ufb01\u00c5\u0344\u0f73\u1e9b\u0958"),
)
CLEANUP_TEXT = st.text(alphabet=CLEANUP_CHARACTER, max_size=40)
VALID_TEXT = st.text(alphabet=st.one_of(st.characters(codec="utf-8"), CLEANUP_CHARACTER), max_size=80)
# Raw lines of the splits each shipped model must tokenize exactly as before the clean-up moved into the file.
CHECKED_SPLITS = [(split, language) for split in ("val", "test_2016_flickr") for language in ("en", "de")]


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


def test_whitespace_is_what_normalize_collapses() -> None:
    everything = "".join(chr(c) for c in range(sys.maxunicode + 1))
    assert set(WHITESPACE) == set(re.findall(r"\s", everything))


@PROPERTY_SETTINGS
@given(text=CLEANUP_TEXT)
def test_the_saved_normalizer_is_normalize(text: str) -> None:
    assert text_normalizer().normalize_str(text) == normalize(text)


def legacy_ids(tokenizer_file: Path, texts: list[str]) -> list[list[int]]:
    """What the project's tokenizers gave before: an NFC-only tokenizer over text already cleaned by normalize()."""
    legacy = Tokenizer.from_file(str(tokenizer_file))
    legacy.normalizer = normalizers.NFC()
    return [encoding.ids for encoding in legacy.encode_batch([normalize(text) for text in texts])]


ODD_TEXTS = ["  Ein\u00a0Hund\tläuft  ", "Cafe\u0301 au lait", "A\u2028dog\u3000runs\n.", "\x1cA man.\x1f", ""]


def test_an_old_tokenizer_file_is_upgraded_on_load(tmp_path: Path, full_tokenizer: SubwordTokenizer) -> None:
    old_file = tmp_path / "old.json"
    full_tokenizer.save(old_file)
    data = json.loads(old_file.read_text(encoding="utf-8"))
    data["normalizer"] = {"type": "NFC"}
    old_file.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    assert has_legacy_normalizer(Tokenizer.from_file(str(old_file)))
    upgraded = SubwordTokenizer.load(old_file)
    assert [upgraded.encode(text) for text in ODD_TEXTS] == legacy_ids(old_file, ODD_TEXTS)
    alone = Tokenizer.from_file(str(old_file))
    assert any(alone.encode(text).ids != upgraded.encode(text) for text in ODD_TEXTS)  # the upgrade matters
    new_file = tmp_path / "new.json"
    upgraded.save(new_file)
    assert not has_legacy_normalizer(Tokenizer.from_file(str(new_file)))
    assert [Tokenizer.from_file(str(new_file)).encode(text).ids for text in ODD_TEXTS] == legacy_ids(
        old_file, ODD_TEXTS
    )


@PROPERTY_SETTINGS
@given(text=VALID_TEXT)
def test_a_trained_tokenizer_file_alone_gives_our_ids(
    tmp_path_factory: pytest.TempPathFactory, full_tokenizer: SubwordTokenizer, text: str
) -> None:
    path = tmp_path_factory.getbasetemp() / "trained-tokenizer.json"
    if not path.exists():
        full_tokenizer.save(path)
    assert Tokenizer.from_file(str(path)).encode(text).ids == full_tokenizer.encode(text)


@pytest.mark.parametrize("name", SHIPPED)
def test_a_shipped_tokenizer_json_holds_the_normalizer(name: str) -> None:
    assert not has_legacy_normalizer(Tokenizer.from_file(str(PRETRAINED / name / "tokenizer.json")))


@pytest.mark.parametrize("name", SHIPPED)
def test_a_shipped_tokenizer_keeps_every_token_id_of_val_and_test(name: str) -> None:
    """On every raw line of val and test_2016_flickr, English and German: the file alone, our wrapper and the
    tokenizer as it was before the clean-up moved into it give the same ids."""
    path = PRETRAINED / name / "tokenizer.json"
    alone, ours = Tokenizer.from_file(str(path)), SubwordTokenizer.load(path)
    for split, language in CHECKED_SPLITS:
        lines = split_path(split, language).read_text(encoding="utf-8").splitlines()
        before = legacy_ids(path, lines)
        assert [encoding.ids for encoding in alone.encode_batch(lines)] == before, (split, language)
        assert ours.encode_batch(lines) == before, (split, language)
        assert ours.encode_batch([normalize(line) for line in lines]) == before, (split, language)


@pytest.mark.parametrize("name", SHIPPED)
def test_a_shipped_tokenizer_json_alone_gives_our_ids_for_any_text(name: str) -> None:
    path = PRETRAINED / name / "tokenizer.json"
    alone, ours = Tokenizer.from_file(str(path)), SubwordTokenizer.load(path)

    @PROPERTY_SETTINGS
    @given(text=VALID_TEXT)
    def check(text: str) -> None:
        assert alone.encode(text).ids == ours.encode(text)

    check()
