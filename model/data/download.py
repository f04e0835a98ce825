"""Fetch Multi30k (task 1) from its public repository for users with internet:
`python -m model.data.download --dest DIR`. Tests call it on local files (a file:// base URL), never over the network.
"""

from __future__ import annotations

import argparse
import gzip
import shutil
import sys
import urllib.request
from pathlib import Path

from model.data.corpus import LANGUAGES, SPLITS

# The commit named in the shared data's SOURCE.md, so downloads match the files the shipped models used.
DEFAULT_BASE_URL = (
    "https://raw.githubusercontent.com/multi30k/dataset/a3d2e0d26b56f3846f66a952536ffed4e401d05a/data/task1/raw"
)


def download(
    dest: Path, base_url: str = DEFAULT_BASE_URL, languages: tuple[str, ...] = LANGUAGES, timeout: float = 60.0
) -> list[Path]:
    """Download and decompress {split}.{lang}.gz for every split and language into dest; returns the files."""
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    for split in SPLITS:
        for language in languages:
            url = f"{base_url.rstrip('/')}/{split}.{language}.gz"
            target = dest / f"{split}.{language}"
            partial = target.with_suffix(target.suffix + ".part")
            with (
                urllib.request.urlopen(url, timeout=timeout) as response,
                gzip.GzipFile(fileobj=response) as gz,
                partial.open("wb") as out,
            ):
                shutil.copyfileobj(gz, out)
            partial.replace(target)
            written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m model.data.download", description=__doc__.splitlines()[0])
    parser.add_argument("--dest", type=Path, required=True, help="folder to write the text files into")
    parser.add_argument("--base-url", default=DEFAULT_BASE_URL, help="where the .gz files are (http(s):// or file://)")
    parser.add_argument("--languages", nargs="+", default=list(LANGUAGES), choices=LANGUAGES)
    args = parser.parse_args(argv)
    try:
        files = download(args.dest, args.base_url, tuple(args.languages))
    except (OSError, EOFError) as error:
        print(f"error: download failed: {error}", file=sys.stderr)
        return 2
    print(f"wrote {len(files)} files to {args.dest}; point ATTN_DATA_DIR or --data-dir at it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
