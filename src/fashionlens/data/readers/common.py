"""Helpers shared by the readers: JSON Lines with line numbers in every error, and the split filter."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def iter_jsonl(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield ("file:line", record) for each non-blank line; a malformed line raises ValueError naming it."""
    with path.open(encoding="utf-8") as file:
        for number, line in enumerate(file, start=1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(f"{where}: invalid JSON ({error.msg})") from None
            if not isinstance(record, dict):
                raise ValueError(f"{where}: expected a JSON object, got {type(record).__name__}")
            yield where, record


def require_file(path: Path, what: str) -> Path:
    """`path` if it is a file; otherwise a FileNotFoundError that says which part of the layout is missing."""
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}")
    return path
