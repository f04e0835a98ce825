"""Pretrained folders: safe round trip, and every bad input to the CLIs ends in one clear line and exit code 2."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from tiny_models import make_tiny_pretrained, tiny_tokenizer

from model import evaluate, translate
from model.cli import run_cli
from model.data.checkpoint import ModelLoadError, load_pretrained
from model.pipeline import InputError, Translator

pytestmark = pytest.mark.data
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    card = {"name": "tiny", "source_language": "en", "target_language": "de", "test": {}}
    return make_tiny_pretrained(tmp_path_factory.mktemp("pretrained") / "tiny", card=card)


def copy_of(folder: Path, tmp_path: Path) -> Path:
    target = tmp_path / "copy"
    shutil.copytree(folder, target)
    return target


def cli(module, argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = run_cli(lambda: module.main(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(code: int, err: str, fragment: str) -> None:
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert fragment in lines[0]


def test_round_trip_keeps_translations(tiny_dir: Path) -> None:
    loaded = load_pretrained(tiny_dir)
    assert loaded.card["name"] == "tiny"
    assert all(p.dtype == torch.float32 for p in loaded.model.parameters())
    translator = Translator(loaded)
    sentence = "Two young, White males are outside near many bushes."
    assert translator.translate(sentence) == translator.trace(sentence).translation != ""


def test_weights_are_stored_without_pickle(tiny_dir: Path) -> None:
    header_size = int.from_bytes((tiny_dir / "model.safetensors").read_bytes()[:8], "little")
    header = json.loads((tiny_dir / "model.safetensors").read_bytes()[8 : 8 + header_size])
    assert {entry["dtype"] for name, entry in header.items() if name != "__metadata__"} == {"F16"}
    assert not list(tiny_dir.glob("*.pt")) and not list(tiny_dir.glob("*.bin"))


def test_translate_cli_prints_translation(tiny_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(
        translate, ["--model", str(tiny_dir), "Two young, White males are outside near many bushes."], capsys
    )
    assert code == 0 and out.strip() == "Zwei junge weiße Männer sind im Freien in der Nähe vieler Büsche."


def test_translate_cli_json_trace(tiny_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(translate, ["--model", str(tiny_dir), "--json", "A man <b>runs</b>."], capsys)
    trace = json.loads(out)
    assert code == 0
    assert trace["source"]["tokens"][0] == "<s>" and len(trace["steps"]) == len(trace["output_ids"])
    assert len(out.strip().splitlines()) == 1
    assert (trace["zero_heads"], trace["uniform_heads"], trace["temperature"]) == ([], [], 1.0)


def test_translate_cli_json_indent(tiny_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, flat, _ = cli(translate, ["--model", str(tiny_dir), "--json", "A dog runs."], capsys)
    code_indented, indented, _ = cli(
        translate, ["--model", str(tiny_dir), "--json", "--indent", "2", "A dog runs."], capsys
    )
    assert code == code_indented == 0
    assert json.loads(indented) == json.loads(flat)
    assert len(indented.splitlines()) > 100 and indented.splitlines()[1].startswith('  "')
    code, _, err = cli(translate, ["--model", str(tiny_dir), "--indent", "2", "A dog runs."], capsys)
    assert_one_line_error(code, err, "--indent goes with --json")


def test_translate_cli_input_file(tiny_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = tmp_path / "in.txt"
    lines.write_text("A dog runs.\n\nTwo men sit.\n", encoding="utf-8")
    code, out, _ = cli(translate, ["--model", str(tiny_dir), "--input-file", str(lines)], capsys)
    assert code == 0 and len(out.splitlines()) == 3 and out.splitlines()[1] == ""


def test_missing_model_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(translate, ["--model", str(tmp_path / "nope"), "hello"], capsys)
    assert_one_line_error(code, err, "model folder not found")


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_corrupt_weights(tiny_dir: Path, tmp_path: Path, damage: str, capsys: pytest.CaptureFixture[str]) -> None:
    folder = copy_of(tiny_dir, tmp_path)
    weights = folder / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(
        {"garbage": b"\x00\x01not a safetensors file" * 50, "truncated": data[: len(data) // 2], "empty": b""}[damage]
    )
    code, _, err = cli(translate, ["--model", str(folder), "hello"], capsys)
    assert_one_line_error(code, err, "corrupt or truncated")


def test_weights_that_do_not_fit_config(tiny_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = copy_of(tiny_dir, tmp_path)
    config = json.loads((folder / "config.json").read_text())
    config["d_ff"] = config["d_ff"] * 2
    (folder / "config.json").write_text(json.dumps(config))
    code, _, err = cli(evaluate, ["--model", str(folder), "--split", "val"], capsys)
    assert_one_line_error(code, err, "do not fit config.json")


def test_tokenizer_that_does_not_match(tiny_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = copy_of(tiny_dir, tmp_path)
    tiny_tokenizer(vocab_size=200).save(folder / "tokenizer.json")
    code, _, err = cli(translate, ["--model", str(folder), "hello"], capsys)
    assert_one_line_error(code, err, "do not belong together")


def test_empty_input_file(tiny_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n", encoding="utf-8")
    code, _, err = cli(translate, ["--model", str(tiny_dir), "--input-file", str(empty)], capsys)
    assert_one_line_error(code, err, "no text to translate")
    code, _, err = cli(evaluate, ["--model", str(tiny_dir), "--src", str(empty), "--ref", str(empty)], capsys)
    assert_one_line_error(code, err, "nothing to evaluate")


def test_bad_sentences(tiny_dir: Path) -> None:
    translator = Translator(load_pretrained(tiny_dir))
    with pytest.raises(InputError, match="empty"):
        translator.trace("   ")
    with pytest.raises(InputError, match="characters"):
        translator.trace("word " * 500)
    with pytest.raises(InputError, match="tokens"):
        translator.trace("a b " * 120)
    trace = translator.trace("<script>alert(1)</script> 🙂 \u200b ünïcode")
    assert "<unk>" in trace.source.tokens


def test_corrupt_config_and_card(tiny_dir: Path, tmp_path: Path) -> None:
    folder = copy_of(tiny_dir, tmp_path)
    (folder / "card.json").write_text("[1, 2")
    with pytest.raises(ModelLoadError, match=r"card\.json"):
        load_pretrained(folder)
    (folder / "config.json").write_text('{"d_model": -3}')
    with pytest.raises(ModelLoadError, match="config"):
        load_pretrained(folder)


def test_real_entry_point_exit_code(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "model.translate", "--model", str(tmp_path / "missing"), "hi"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"error: model folder not found: {tmp_path / 'missing'}"]
