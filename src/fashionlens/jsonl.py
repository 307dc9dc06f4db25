"""JSON Lines in and out: one object per line, UTF-8. Shared by every command that reads or writes records."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO


class JsonlError(ValueError):
    """A line that is not a JSON object; the message names `file:line` so it can be fixed by hand."""


def iter_jsonl(path: str | Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield ("file:line", object) per non-blank line, so callers can name the line in their own errors."""
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise JsonlError(f"{where}: malformed JSON ({e.msg} at column {e.colno})") from None
            if not isinstance(record, dict):
                raise JsonlError(f"{where}: expected a JSON object, got {type(record).__name__}")
            yield where, record


def read_jsonl(path: str | Path) -> Iterator[dict[str, Any]]:
    """Yield the objects of a JSONL file in order, skipping blank lines."""
    for _, record in iter_jsonl(path):
        yield record


class JsonlWriter:
    """Writes one record per line and flushes after each, so an interrupted job keeps every finished record.

    `append=True` continues an existing file (resumable jobs); otherwise the file is replaced.
    """

    def __init__(self, path: str | Path, *, append: bool = False) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file: TextIO = open(self.path, "a" if append else "w", encoding="utf-8")  # noqa: SIM115

    def write(self, record: Mapping[str, Any]) -> None:
        self._file.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> JsonlWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def write_jsonl(path: str | Path, records: Iterable[Mapping[str, Any]]) -> int:
    """Write `records` to `path` (replacing it); returns how many were written."""
    count = 0
    with JsonlWriter(path) as writer:
        for record in records:
            writer.write(record)
            count += 1
    return count
