"""The dataset download command, run against local gzip files through a file:// URL (never the network)."""

from __future__ import annotations

import gzip
from pathlib import Path

from model.data.corpus import LANGUAGES, SPLITS
from model.data.download import main


def test_download_decompresses_every_file(tmp_path: Path) -> None:
    source = tmp_path / "remote"
    source.mkdir()
    for split in SPLITS:
        for language in LANGUAGES:
            with gzip.open(source / f"{split}.{language}.gz", "wt", encoding="utf-8") as handle:
                handle.write(f"{split} line one {language}\nline two\n")
    dest = tmp_path / "multi30k"
    assert main(["--dest", str(dest), "--base-url", source.as_uri()]) == 0
    assert (dest / "val.de").read_text(encoding="utf-8") == "val line one de\nline two\n"
    assert len(list(dest.iterdir())) == len(SPLITS) * len(LANGUAGES)
    assert not list(dest.glob("*.part"))


def test_download_failure_is_one_clear_line(tmp_path: Path, capsys) -> None:
    assert main(["--dest", str(tmp_path / "out"), "--base-url", (tmp_path / "nowhere").as_uri()]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("error: download failed") and "\n" not in error
