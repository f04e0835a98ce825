"""A pretrained folder or file the operating system will not hand over is a one-line ModelLoadError naming it (never
"corrupt"), in load_pretrained and in both command lines.

Tests may run as root, where chmod 000 does not stop reads. Each in-process test chmods a copy and, when the read
still works, makes exactly that read raise the PermissionError the operating system would give. The last test runs
a real process that cannot read the files (as root: with the capabilities that bypass file permissions dropped).
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from tiny_models import make_tiny_pretrained

from model import evaluate, translate
from model.cli import run_cli
from model.data.checkpoint import ModelLoadError, load_pretrained

pytestmark = pytest.mark.data
REPO = Path(__file__).resolve().parents[1]
FILES = ["config.json", "tokenizer.json", "model.safetensors", "card.json"]
DENIED = os.strerror(errno.EACCES).lower()  # 'permission denied'


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    card = {"name": "tiny", "source_language": "en", "target_language": "de", "test": {}}
    return make_tiny_pretrained(tmp_path_factory.mktemp("pretrained") / "tiny", card=card)


@pytest.fixture
def folder(tiny_dir: Path, tmp_path: Path) -> Iterator[Path]:
    """A copy of the tiny model's folder, its permissions put back afterwards so that it can be removed."""
    copy = tmp_path / "model"
    shutil.copytree(tiny_dir, copy)
    yield copy
    copy.chmod(0o755)
    for path in copy.iterdir():
        path.chmod(0o644)


def still_readable(path: Path) -> bool:
    try:
        if path.is_dir():
            os.listdir(path)
        else:
            path.read_bytes()
    except PermissionError:
        return False
    return True


def deny_file(path: Path, monkeypatch: pytest.MonkeyPatch, error: int = errno.EACCES) -> None:
    """chmod 000 the file; where that does not stop reading it (root), its read raises as the OS would."""
    path.chmod(0)
    if error == errno.EACCES and not still_readable(path):
        return
    original = Path.read_bytes

    def read_bytes(self: Path) -> bytes:
        if self == path:
            raise OSError(error, os.strerror(error), str(self))  # PermissionError for EACCES
        return original(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)


def deny_folder(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """chmod 000 the folder; where that does not stop listing it (root), listing it raises as the OS would."""
    path.chmod(0)
    if not still_readable(path):
        return
    original = os.listdir

    def listdir(target: str | os.PathLike[str] = ".") -> list[str]:
        if Path(target) == path:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(target))
        return original(target)

    monkeypatch.setattr(os, "listdir", listdir)


def run(module, argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        code = run_cli(lambda: module.main(argv))
    return code, err.getvalue()


@pytest.mark.parametrize("name", FILES)
def test_an_unreadable_file_is_named_as_unreadable(folder: Path, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    target = folder / name
    deny_file(target, monkeypatch)
    with pytest.raises(ModelLoadError) as raised:
        load_pretrained(folder)
    assert str(raised.value) == f"{target} cannot be read: {DENIED}"
    for module, argv in (
        (translate, ["--model", str(folder), "A dog runs."]),
        (evaluate, ["--model", str(folder), "--split", "val"]),
    ):
        code, err = run(module, argv)
        assert code == 2 and err.splitlines() == [f"error: {target} cannot be read: {DENIED}"]


def test_an_unreadable_folder_is_named_as_unreadable(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    deny_folder(folder, monkeypatch)
    with pytest.raises(ModelLoadError) as raised:
        load_pretrained(folder)
    assert str(raised.value) == f"model folder {folder} cannot be read: {DENIED}"
    code, err = run(translate, ["--model", str(folder), "A dog runs."])
    assert code == 2 and err.splitlines() == [f"error: model folder {folder} cannot be read: {DENIED}"]


def test_an_input_output_error_is_named_too(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = folder / "model.safetensors"
    deny_file(target, monkeypatch, error=errno.EIO)
    with pytest.raises(ModelLoadError) as raised:
        load_pretrained(folder)
    assert str(raised.value) == f"{target} cannot be read: {os.strerror(errno.EIO).lower()}"


def test_a_real_process_that_may_not_read_them(folder: Path) -> None:
    """chmod 000 for real, in a process without the root capabilities that would read through it."""
    cases = [str(folder / name) for name in FILES] + [str(folder)]
    script = f"""
import contextlib, io, json, os, sys
from model import translate
from model.cli import run_cli
results = []
for target in {cases!r}:
    os.chmod(target, 0)
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        code = run_cli(lambda: translate.main(["--model", {str(folder)!r}, "A dog runs."]))
    os.chmod(target, 0o755 if os.path.isdir(target) else 0o644)
    results.append([target, code, err.getvalue()])
print(json.dumps(results))
"""
    prefix = []
    if os.geteuid() == 0:
        drop = "-dac_override,-dac_read_search"
        prefix = [shutil.which("setpriv") or "setpriv", "--bounding-set", drop, "--inh-caps", drop]
    result = subprocess.run(
        [*prefix, sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    for target, code, err in json.loads(result.stdout):
        where = f"model folder {target}" if target == str(folder) else target
        assert code == 2 and err.splitlines() == [f"error: {where} cannot be read: {DENIED}"], (target, err)
