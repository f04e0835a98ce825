"""What the command lines and the Translator do with any input: bad sentences, input files line by line, a length
limit per sentence, random Unicode, and --zero-heads."""

from __future__ import annotations

import contextlib
import copy
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tiny_models import make_tiny_pretrained

from model import evaluate, translate
from model.cli import parse_heads, run_cli
from model.data.checkpoint import Pretrained, load_pretrained, save_pretrained
from model.data.corpus import load_pairs
from model.data.tokenizer import WHITESPACE
from model.decode import STOP_LENGTH, default_max_new_tokens, greedy_decode_batch
from model.inspect.interventions import Interventions
from model.nn.names import HeadRef, every_head
from model.pipeline import MAX_INPUT_CHARS, InputError, Translator, check_text

pytestmark = pytest.mark.data
REPO = Path(__file__).resolve().parents[1]
PAIRS = load_pairs("train", "en", "de")[:8]  # the tiny model was trained on these (and 8 more)
SENTENCES = [source for source, _ in PAIRS]
PROPERTY_SETTINGS = settings(
    max_examples=50, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    card = {"name": "tiny", "source_language": "en", "target_language": "de", "test": {}}
    return make_tiny_pretrained(tmp_path_factory.mktemp("pretrained") / "tiny", card=card)


@pytest.fixture(scope="module")
def translator(tiny_dir: Path) -> Translator:
    return Translator(load_pretrained(tiny_dir))


def run(module, argv: list[str]) -> tuple[int, str, str]:
    """module.main(argv) through run_cli, as `python -m` runs it: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = run_cli(lambda: module.main(argv))
    return code, out.getvalue(), err.getvalue()


def one_error_line(code: int, out: str, err: str) -> str:
    """The single 'error: ...' line of a failed run (checks exit code 2, nothing on stdout)."""
    assert code == 2, (code, out, err)
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def named_lines(message: str) -> list[int]:
    """The line numbers a message names: '... lines 2, 4, 5 cannot be translated ...' -> [2, 4, 5]."""
    found = re.search(r"lines? ([\d, ]+) cannot be translated", message)
    assert found, message
    return [int(number) for number in found.group(1).split(", ")]


# --- bad sentences on the command line ---------------------------------------------------------------------------

BAD_SENTENCES = {
    "empty": ("", "empty"),
    "spaces": ("   ", "empty"),
    "whitespace of every kind": (WHITESPACE, "empty"),
    "over the limit": ("a" * (MAX_INPUT_CHARS + 1), "limit is 1,000"),
    "a lone low surrogate": ("A dog \udcff runs.", "not valid Unicode"),
    "a lone high surrogate": ("\ud83d A dog runs.", "not valid Unicode"),
    "too many tokens": ("a b " * 120, "tokens"),
}


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
@pytest.mark.parametrize("name", BAD_SENTENCES)
def test_a_bad_sentence_is_one_error_line(tiny_dir: Path, name: str, as_json: bool) -> None:
    text, fragment = BAD_SENTENCES[name]
    argv = ["--model", str(tiny_dir), *(["--json"] if as_json else []), "--", text]
    assert fragment in one_error_line(*run(translate, argv))


def test_the_character_limit_is_inclusive() -> None:
    check_text("x" * MAX_INPUT_CHARS)
    with pytest.raises(InputError, match="1,001 characters"):
        check_text("x" * (MAX_INPUT_CHARS + 1))


def test_bytes_that_are_not_utf8_in_a_real_command_line(tiny_dir: Path) -> None:
    """Python turns such argv bytes into lone surrogates; the process must say so in one line, not crash."""
    result = subprocess.run(
        [sys.executable, "-m", "model.translate", "--model", str(tiny_dir), b"A dog \xff runs."],
        cwd=REPO,
        capture_output=True,
        timeout=300,
    )
    lines = result.stderr.decode("utf-8", "replace").splitlines()
    assert result.returncode == 2 and result.stdout == b""
    assert len(lines) == 1 and lines[0].startswith("error: ") and "not valid Unicode" in lines[0], lines


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["-x", "A dog"], "unrecognized arguments"),
        (["--top-k", "many", "A dog"], "invalid int value"),
        (["--keep-going", "A dog"], "--keep-going goes with --input-file"),
        ([], "give a sentence or --input-file"),
    ],
)
def test_a_command_line_argparse_rejects_is_one_error_line(tiny_dir: Path, argv: list[str], fragment: str) -> None:
    assert fragment in one_error_line(*run(translate, ["--model", str(tiny_dir), *argv]))


# --- input files, line by line -----------------------------------------------------------------------------------


def test_one_output_line_per_input_line_in_order(tiny_dir: Path, translator: Translator, tmp_path: Path) -> None:
    lines = [
        "A dog runs.",
        "",
        "   ",
        "Two men sit.",
        "A man\u2028rides a bike.",  # a line separator inside a line does not split it
        "A\x0cwoman sings.",
        SENTENCES[0],
    ]
    endings = ["\n", "\r\n", "\n", "\r\n", "\n", "\r", ""]
    path = tmp_path / "in.txt"
    path.write_bytes(
        b"\xef\xbb\xbf" + "".join(line + end for line, end in zip(lines, endings, strict=True)).encode("utf-8")
    )
    code, out, err = run(translate, ["--model", str(tiny_dir), "--input-file", str(path)])
    assert code == 0 and err == ""
    expected = [translator.translate(line) if line.strip() else "" for line in lines]
    assert out.splitlines() == expected
    assert out.count("\n") == len(lines)


@pytest.fixture
def file_with_bad_lines(tmp_path: Path) -> tuple[Path, list[bytes], list[int]]:
    """A file whose lines 2 (over the character limit), 4 (not UTF-8) and 5 (too many tokens) cannot be taken."""
    lines = [
        b"A dog runs.",
        ("word " * 250).encode(),
        b"",
        b"A bad \xff byte.",
        ("a b " * 120).encode(),
        SENTENCES[1].encode(),
    ]
    path = tmp_path / "in.txt"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path, lines, [2, 4, 5]


def test_lines_it_cannot_take_stop_the_run_naming_them(
    tiny_dir: Path, file_with_bad_lines: tuple[Path, list[bytes], list[int]]
) -> None:
    path, _, bad = file_with_bad_lines
    line = one_error_line(*run(translate, ["--model", str(tiny_dir), "--input-file", str(path)]))
    assert named_lines(line) == bad and str(path) in line and "--keep-going" in line


def test_keep_going_writes_empty_lines_for_them(
    tiny_dir: Path, translator: Translator, file_with_bad_lines: tuple[Path, list[bytes], list[int]]
) -> None:
    path, lines, bad = file_with_bad_lines
    code, out, err = run(translate, ["--model", str(tiny_dir), "--input-file", str(path), "--keep-going"])
    assert code == 0
    texts = [line.decode("utf-8", "surrogateescape") for line in lines]
    expected = [
        "" if number in bad or not text.strip() else translator.translate(text)
        for number, text in enumerate(texts, start=1)
    ]
    assert out.splitlines() == expected and out.count("\n") == len(lines)
    warning = err.splitlines()
    assert len(warning) == 1 and warning[0].startswith("warning: ") and named_lines(warning[0]) == bad


def test_translate_batch_names_every_line_it_cannot_take(translator: Translator) -> None:
    texts = ["A dog runs.", "x" * 1001, "", "a\udc80", "Two men sit."]
    with pytest.raises(InputError) as raised:
        translator.translate_batch(texts)
    assert named_lines(str(raised.value)) == [2, 4]
    assert sorted(translator.input_problems(texts)) == [1, 3]
    assert translator.translate_batch(["", "  "]) == ["", ""]


def test_evaluate_names_source_lines_it_cannot_take(tiny_dir: Path, tmp_path: Path) -> None:
    src, ref = tmp_path / "src.txt", tmp_path / "ref.txt"
    src.write_bytes(b"A dog runs.\n" + b"word " * 250 + b"\nA bad \xff byte.\n")
    ref.write_text("Ein Hund rennt.\nWort.\nEin Byte.\n", encoding="utf-8")
    line = one_error_line(*run(evaluate, ["--model", str(tiny_dir), "--src", str(src), "--ref", str(ref)]))
    assert named_lines(line) == [2, 3] and str(src) in line
    ref.write_bytes(b"Ein Hund rennt.\nWort.\nEin \xff Byte.\n")
    src.write_text("A dog runs.\nA word.\nA byte.\n", encoding="utf-8")
    line = one_error_line(*run(evaluate, ["--model", str(tiny_dir), "--src", str(src), "--ref", str(ref)]))
    assert f"{ref}: line 3 is not valid UTF-8" in line


def test_an_unreadable_input_file_is_one_error_line(tiny_dir: Path, tmp_path: Path) -> None:
    line = one_error_line(*run(translate, ["--model", str(tiny_dir), "--input-file", str(tmp_path)]))
    assert str(tmp_path) in line and "cannot be read" in line


# --- each sentence's own length limit ----------------------------------------------------------------------------


def never_ending(pretrained: Pretrained) -> Pretrained:
    """A copy of the model that never chooses </s>: one coordinate of the decoder's last LayerNorm is made the
    constant 1 and the end token's (tied) embedding is -100 there and 0 elsewhere, so its logit is always -100."""
    model = copy.deepcopy(pretrained.model)
    config = model.config
    final_norm = model.decoder_norm if config.norm_placement == "pre" else model.decoder_layers[-1].ff_residual.norm
    with torch.no_grad():
        final_norm.weight[0], final_norm.bias[0] = 0.0, 1.0
        model.embedding.weight[config.eos_id] = 0.0
        model.embedding.weight[config.eos_id, 0] = -100.0
    return Pretrained(path=pretrained.path, model=model, tokenizer=pretrained.tokenizer, card=pretrained.card)


def long_sentence(translator: Translator, at_least: int) -> str:
    """Training sentences joined until the source has at least `at_least` tokens (and fits the model)."""
    text = ""
    for source, _ in load_pairs("train", "en", "de")[:60]:
        longer = f"{text} {source}".strip()
        if len(translator.source_ids(longer)) > translator.max_source_tokens:
            continue
        text = longer
        if len(translator.source_ids(text)) >= at_least:
            return text
    raise AssertionError("could not build a long enough sentence")


def test_a_translation_does_not_depend_on_the_other_lines(
    tiny_dir: Path, translator: Translator, tmp_path: Path
) -> None:
    endless = Translator(never_ending(translator.pretrained))
    short = SENTENCES[2]
    long = long_sentence(endless, at_least=len(endless.source_ids(short)) + 40)
    short_ids, long_ids = endless.source_ids(short), endless.source_ids(long)
    alone = endless.trace(short)
    assert alone.stop_reason == STOP_LENGTH
    assert len(alone.output_ids) == default_max_new_tokens(endless.model, len(short_ids))
    padded = torch.zeros((2, len(long_ids)), dtype=torch.long)
    padded[0, : len(short_ids)], padded[1] = torch.tensor(short_ids), torch.tensor(long_ids)
    assert len(greedy_decode_batch(endless.model, padded)[0]) > len(alone.output_ids)  # the batch runs longer
    assert endless.translate(short) == alone.translation
    assert endless.translate_batch([long, short, long])[1] == alone.translation
    assert endless.translate_batch([short, long], batch_size=1)[0] == alone.translation

    folder = save_pretrained(tmp_path / "endless", endless.model, endless.tokenizer, card={"name": "endless"})
    path = tmp_path / "in.txt"
    path.write_text(f"{long}\n{short}\n", encoding="utf-8")
    code, out, _ = run(translate, ["--model", str(folder), "--input-file", str(path)])
    code_alone, out_alone, _ = run(translate, ["--model", str(folder), short])
    assert code == code_alone == 0 and out.splitlines()[1] == out_alone.strip()


# --- any text at all -----------------------------------------------------------------------------------------------

ANY_CHARACTER = st.one_of(
    st.characters(codec=None, exclude_categories=()),
    st.characters(categories=["Cs"]),  # lone surrogates, rare in the line above
    st.sampled_from(WHITESPACE),
    st.sampled_from("A dog runs on the beach."),
)
ANY_TEXT = st.one_of(
    st.text(alphabet=ANY_CHARACTER, max_size=80),
    st.text(alphabet=ANY_CHARACTER, min_size=MAX_INPUT_CHARS - 5, max_size=MAX_INPUT_CHARS + 5),
)


def assert_one_line(message: str) -> None:
    assert message.strip() and len(message.splitlines()) == 1, message


@PROPERTY_SETTINGS
@given(text=ANY_TEXT)
def test_any_text_gives_source_ids_or_an_input_error(translator: Translator, text: str) -> None:
    try:
        ids = translator.source_ids(text)
    except InputError as error:
        assert_one_line(str(error))
        return
    assert ids[0] == translator.tokenizer.bos_id and ids[-1] == translator.tokenizer.eos_id
    assert 3 <= len(ids) <= translator.max_source_tokens
    assert all(0 <= i < translator.tokenizer.vocab_size for i in ids)


@PROPERTY_SETTINGS
@given(text=ANY_TEXT)
def test_any_text_gives_a_trace_or_an_input_error(translator: Translator, text: str) -> None:
    try:
        trace = translator.trace(text)
    except InputError as error:
        assert_one_line(str(error))
        return
    assert isinstance(trace.translation, str) and len(trace.steps) == len(trace.output_ids) >= 1


@PROPERTY_SETTINGS
@given(text=ANY_TEXT, as_json=st.booleans())
def test_any_text_on_the_command_line_gives_one_line(tiny_dir: Path, text: str, as_json: bool) -> None:
    code, out, err = run(translate, ["--model", str(tiny_dir), *(["--json"] if as_json else []), "--", text])
    if code == 2:
        one_error_line(code, out, err)
        return
    assert code == 0 and err == "" and out.endswith("\n") and out.count("\n") == 1
    if as_json:
        assert isinstance(json.loads(out)["translation"], str)


# --- --zero-heads --------------------------------------------------------------------------------------------------


def zeroed(ref: HeadRef) -> Interventions:
    return Interventions(zero_heads=frozenset({ref}))


@pytest.fixture(scope="module")
def head_that_matters(translator: Translator) -> tuple[HeadRef, str]:
    """The first head (in every_head order) whose zeroing changes the translation of one of SENTENCES."""
    for sentence in SENTENCES:
        plain = translator.translate(sentence)
        for ref in every_head(translator.model.config):
            if translator.translate(sentence, interventions=zeroed(ref)) != plain:
                return ref, sentence
    raise AssertionError("no head of the tiny model changes any of its training translations")


def test_zero_heads_in_translate(tiny_dir: Path, translator: Translator, head_that_matters) -> None:
    ref, sentence = head_that_matters
    code, out, err = run(translate, ["--model", str(tiny_dir), "--zero-heads", str(ref), sentence])
    assert code == 0 and err == ""
    assert out.strip() == translator.translate(sentence, interventions=zeroed(ref)) != translator.translate(sentence)


def test_zero_heads_with_json_is_the_trace_with_the_head_off(
    tiny_dir: Path, translator: Translator, head_that_matters
) -> None:
    ref, sentence = head_that_matters
    code, out, _ = run(translate, ["--model", str(tiny_dir), "--json", "--zero-heads", str(ref), sentence])
    result = json.loads(out)
    assert code == 0 and result["zero_heads"] == [str(ref)]
    assert result["translation"] == translator.translate(sentence, interventions=zeroed(ref))
    code, out, _ = run(translate, ["--model", str(tiny_dir), "--json", sentence])
    assert json.loads(out)["zero_heads"] == [] and json.loads(out)["translation"] == translator.translate(sentence)


def test_trace_and_translate_agree_for_every_zeroed_head(translator: Translator, head_that_matters) -> None:
    _, sentence = head_that_matters
    for ref in every_head(translator.model.config):
        assert translator.trace(sentence, interventions=zeroed(ref)).translation == translator.translate(
            sentence, interventions=zeroed(ref)
        ), ref


def test_a_batch_with_zeroed_heads_is_each_sentence_alone(translator: Translator, head_that_matters) -> None:
    ref, _ = head_that_matters
    several = zeroed(ref)
    assert translator.translate_batch(SENTENCES, interventions=several) == [
        translator.translate(sentence, interventions=several) for sentence in SENTENCES
    ]


def test_evaluate_applies_and_records_zeroed_heads(tiny_dir: Path, tmp_path: Path, head_that_matters) -> None:
    ref, _ = head_that_matters
    src, refs = tmp_path / "src.txt", tmp_path / "ref.txt"
    src.write_text("\n".join(s for s, _ in PAIRS) + "\n", encoding="utf-8")
    refs.write_text("\n".join(t for _, t in PAIRS) + "\n", encoding="utf-8")
    results = {}
    for heads in ([], [str(ref)]):
        output = tmp_path / f"out{len(heads)}.txt"
        argv = ["--model", str(tiny_dir), "--src", str(src), "--ref", str(refs), "--output", str(output)]
        code, out, _ = run(evaluate, argv + (["--zero-heads", ",".join(heads)] if heads else []))
        assert code == 0
        results[len(heads)] = (json.loads(out), output.read_text(encoding="utf-8"))
    (plain, plain_text), (off, off_text) = results[0], results[1]
    assert plain["zero_heads"] == [] and off["zero_heads"] == [str(ref)]
    assert plain_text != off_text
    assert (plain["bleu"], plain["chrf"]) != (off["bleu"], off["chrf"])


def test_several_heads_parse(translator: Translator) -> None:
    config = translator.model.config
    heads = parse_heads("decoder.1.cross_attn:3, encoder.0.self_attn:0,decoder.1.cross_attn:3", config)
    assert heads == {HeadRef("decoder.cross_attn", 1, 3), HeadRef("encoder.self_attn", 0, 0)}


@pytest.mark.parametrize("module", [translate, evaluate], ids=["translate", "evaluate"])
@pytest.mark.parametrize(
    "value, named",
    [
        ("decoder.2.cross_attn:0", "decoder.2.cross_attn:0"),  # the tiny model has decoder layers 0 and 1
        ("encoder.0.self_attn:4", "encoder.0.self_attn:4"),  # and heads 0 to 3
        ("decoder.0.selfattn:1", "decoder.0.selfattn"),
        ("decoder.1.cross_attn", "decoder.1.cross_attn"),
        ("decoder.1.cross_attn:x", "decoder.1.cross_attn:x"),
        ("decoder.1.cross_attn:1,,encoder.0.self_attn:0", "decoder.1.cross_attn:1,,encoder.0.self_attn:0"),
    ],
)
def test_a_bad_head_is_one_error_line_naming_it(tiny_dir: Path, tmp_path: Path, module, value: str, named: str) -> None:
    if module is translate:
        argv = ["--model", str(tiny_dir), "--zero-heads", value, "A dog runs."]
    else:
        (tmp_path / "s.txt").write_text("A dog runs.\n", encoding="utf-8")
        argv = ["--model", str(tiny_dir), "--src", str(tmp_path / "s.txt"), "--ref", str(tmp_path / "s.txt")]
        argv += ["--zero-heads", value]
    line = one_error_line(*run(module, argv))
    assert named in line and "--zero-heads" in line
