from __future__ import annotations

import json
from pathlib import Path

import pytest

from fashionlens.jsonl import JsonlError, JsonlWriter, read_jsonl, write_jsonl


def test_round_trip_keeps_order_and_unicode(tmp_path: Path) -> None:
    records = [{"id": "a", "caption": "crème côtelée"}, {"id": "b", "n": [1, 2]}]
    path = tmp_path / "sub" / "out.jsonl"
    assert write_jsonl(path, records) == 2
    assert list(read_jsonl(path)) == records
    assert "crème" in path.read_text(encoding="utf-8")  # UTF-8, not \u escapes


def test_blank_lines_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text('{"a": 1}\n\n   \n{"a": 2}\n', encoding="utf-8")
    assert [r["a"] for r in read_jsonl(path)] == [1, 2]


@pytest.mark.parametrize(
    ("line", "message"), [("{oops", "malformed JSON"), ("[1, 2]", "expected a JSON object")]
)
def test_bad_line_names_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"a": 1}\n\n' + line + "\n", encoding="utf-8")
    records = read_jsonl(path)
    assert next(records) == {"a": 1}  # lines before the bad one are still read
    with pytest.raises(JsonlError, match=rf"bad\.jsonl:3: {message}"):
        next(records)


def test_write_replaces_and_writer_appends(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    write_jsonl(path, [{"a": 1}, {"a": 2}])
    write_jsonl(path, [{"a": 3}])
    with JsonlWriter(path, append=True) as writer:
        writer.write({"a": 4})
    assert [r["a"] for r in read_jsonl(path)] == [3, 4]


def test_writer_flushes_each_record(tmp_path: Path) -> None:
    """A record is on disk as soon as it is written: an interrupted job loses nothing it finished."""
    path = tmp_path / "x.jsonl"
    writer = JsonlWriter(path)
    writer.write({"a": 1})
    assert json.loads(path.read_text(encoding="utf-8")) == {"a": 1}
    writer.close()
