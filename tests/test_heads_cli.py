"""`python -m model.heads` on a tiny pretrained folder: heads.json has its schema and numbers that follow its own
definitions; and the shipped heads.json files describe the shipped models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tiny_models import make_tiny_pretrained

from model import heads
from model.data.checkpoint import load_pretrained
from model.data.corpus import load_pairs
from model.data.token_stats import count_tokens, read_token_stats, write_token_stats
from model.inspect.interventions import Interventions
from model.nn.names import HeadRef, every_head
from model.pipeline import Translator
from model.train.scoring import corpus_scores

pytestmark = pytest.mark.data
PRETRAINED = Path(__file__).resolve().parents[1] / "pretrained"
HEAD_FIELDS = {"site", "head", "kind", "layer", "label", "rule", "bleu_drop", "logprob_drop", "measures"}
LABELS = {"positional -2", "positional -1", "positional +0", "positional +1", "positional +2"} | {
    "alignment",
    "sink",
    "rare-word",
    "broad",
    "mixed",
}


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = make_tiny_pretrained(
        tmp_path_factory.mktemp("heads") / "tiny-en-de",
        card={"name": "tiny-en-de", "source_language": "en", "target_language": "de", "test": {}},
    )
    pretrained = load_pretrained(folder)
    write_token_stats(
        folder, count_tokens(pretrained.tokenizer, load_pairs("train", "en", "de")[:400], "en", "de"), None
    )
    return folder


def _check_schema(report: dict, n_heads: int) -> None:
    assert {"model", "split", "sentences", "command", "seconds", "data_sha256", "bleu", "heads", "pruning"} <= set(
        report
    )
    assert len(report["heads"]) == n_heads
    for entry in report["heads"]:
        assert HEAD_FIELDS <= set(entry), entry
        assert entry["label"] in LABELS and entry["rule"]
        assert HeadRef.parse(f"{entry['site']}:{entry['head']}").kind == entry["kind"]
    points = report["pruning"]["points"]
    assert points[0]["removed"] == 0 and points[0]["bleu"] == pytest.approx(report["bleu"])
    assert [p["removed"] for p in points] == sorted(p["removed"] for p in points)


def test_heads_json_on_a_tiny_model(tiny_folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--model", str(tiny_folder), "--max-sentences", "12", "--reestimate-every", "4", "--bleu-every", "5"]
    assert heads.main(args) == 0
    assert json.loads(capsys.readouterr().out)["wrote"].endswith("heads.json")
    report = json.loads((tiny_folder / "heads.json").read_text(encoding="utf-8"))
    pretrained = load_pretrained(tiny_folder)
    _check_schema(report, len(every_head(pretrained.config)))
    assert report["sentences"] == 12
    # the last point keeps exactly one head per kind
    assert report["pruning"]["points"][-1]["removed"] == 2 * 4 * 3 - 3
    # a bleu_drop is what evaluating with that head off gives
    translator = Translator(pretrained)
    pairs = load_pairs("val", "en", "de")[:12]
    entry = max(report["heads"], key=lambda e: abs(e["bleu_drop"]))
    off = Interventions(zero_heads=frozenset({HeadRef.parse(f"{entry['site']}:{entry['head']}")}))
    bleu = corpus_scores(translator.translate_batch([s for s, _ in pairs], interventions=off), [t for _, t in pairs])
    assert report["bleu"] - bleu["bleu"] == pytest.approx(entry["bleu_drop"], abs=1e-3)
    assert read_token_stats(tiny_folder) is not None


@pytest.mark.parametrize("name", ["multi30k-en-de", "multi30k-de-en"])
def test_shipped_heads_json_describes_the_shipped_model(name: str) -> None:
    folder = PRETRAINED / name
    report = json.loads((folder / "heads.json").read_text(encoding="utf-8"))
    pretrained = load_pretrained(folder)
    _check_schema(report, len(every_head(pretrained.config)))
    assert report["split"] == "val" and report["sentences"] == 1014
    card_sha = pretrained.card["data"]["sha256"]
    assert all(card_sha[key] == value for key, value in report["data_sha256"].items())
    assert report["model_sha256"] == pretrained.card["files_sha256"]["model.safetensors"]


def test_stats_cli_writes_the_counts_and_fails_in_one_line(
    tiny_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from model import stats
    from model.cli import run_cli

    assert stats.main(["--model", str(tiny_folder)]) == 0
    written = read_token_stats(tiny_folder)
    assert written is not None and written.sentences == 29000 and written.source_counts.sum() > 0
    capsys.readouterr()
    assert run_cli(lambda: stats.main(["--model", str(tmp_path / "missing")])) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
