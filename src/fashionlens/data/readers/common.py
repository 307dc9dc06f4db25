"""Helpers shared by the readers (JSON Lines with `file:line` errors come from `fashionlens.jsonl`)."""

from __future__ import annotations

from pathlib import Path


def require_file(path: Path, what: str) -> Path:
    """`path` if it is a file; otherwise a FileNotFoundError that says which part of the layout is missing."""
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}")
    return path
