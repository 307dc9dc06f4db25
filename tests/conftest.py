"""Shared fixtures. Real photos live in ../shared/data/clothing beside the checkout; tests that need them skip
with a reason where it is absent (they are never copied into the repository)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CLOTHING_DIR = Path(os.environ.get("FASHIONLENS_CLOTHING_DIR", REPO.parent / "shared" / "data" / "clothing"))


@pytest.fixture(scope="session")
def clothing_dir() -> Path:
    """The shared real labelled photos (labels.jsonl, images/, street/)."""
    if not (CLOTHING_DIR / "labels.jsonl").is_file():
        pytest.skip(f"shared clothing data not found at {CLOTHING_DIR} (set FASHIONLENS_CLOTHING_DIR)")
    return CLOTHING_DIR
