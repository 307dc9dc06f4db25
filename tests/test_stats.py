from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from fashionlens.cli import app
from fashionlens.jsonl import write_jsonl
from fashionlens.stats import plot_word_histograms, record_texts, word_stats


def test_record_texts_prefers_caption_then_description_then_captions() -> None:
    assert record_texts({"caption": "a b", "description": "c"}) == ["a b"]
    assert record_texts({"description": "c d e"}) == ["c d e"]
    assert record_texts({"captions": ["x", "y z"]}) == ["x", "y z"]
    assert record_texts({"category": "other"}) == []


def test_word_stats_mean_and_median(tmp_path: Path) -> None:
    path = tmp_path / "caps.jsonl"
    write_jsonl(path, [{"caption": "one two"}, {"caption": "one two three four"}, {"description": "x"}])
    stats = word_stats(path)
    # The third line has no caption field but does have a description: it counts.
    assert stats.counts == (2, 4, 1)
    assert stats.n == 3
    assert stats.mean == pytest.approx(7 / 3)
    assert stats.median == 2.0


def test_file_without_texts_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    write_jsonl(path, [{"id": "a"}])
    with pytest.raises(ValueError, match="no caption"):
        word_stats(path)


def test_plot_writes_png(tmp_path: Path) -> None:
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    write_jsonl(a, [{"caption": "w " * n} for n in (3, 5, 5, 8)])
    write_jsonl(b, [{"captions": ["w " * 12, "w " * 20]}])
    out = tmp_path / "plots" / "words.png"
    plot_word_histograms([a, b], out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_prints_table_and_writes_plot(tmp_path: Path) -> None:
    caps, labels = tmp_path / "caps.jsonl", tmp_path / "labels.jsonl"
    write_jsonl(caps, [{"caption": "a b c"}, {"caption": "a b c d e"}])
    write_jsonl(labels, [{"description": "a"}, {"description": "a b"}, {"description": "a b c d e f"}])
    out = tmp_path / "words.png"
    result = CliRunner().invoke(app, ["stats", str(caps), str(labels), "--plot", str(out)])
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line.split()[1:] for line in result.stdout.splitlines()}
    assert rows["file"] == ["n", "mean", "median"]
    assert rows[str(caps)] == ["2", "4.0", "4.0"]
    assert rows[str(labels)] == ["3", "3.0", "2.0"]
    assert out.stat().st_size > 0


def test_cli_unreadable_file_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{nope\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["stats", str(bad)])
    assert result.exit_code == 2
    assert "bad.jsonl:1" in result.stderr
    assert "Traceback" not in result.output
