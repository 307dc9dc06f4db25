"""Dataset readers: one module per official layout, each `read(root, split=None) -> Iterator[Sample]`.

Each module's docstring gives the layout it expects and where that layout is documented.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from fashionlens.data.readers import (
    clothing,
    deepfashion2,
    deepfashion_c2s,
    deepfashion_mm,
    facad,
    folder,
    manifest,
)
from fashionlens.data.sample import Sample

Reader = Callable[[Path, str | None], Iterator[Sample]]

READERS: dict[str, Reader] = {
    "deepfashion-mm": deepfashion_mm.read,
    "facad": facad.read,
    "deepfashion-c2s": deepfashion_c2s.read,
    "deepfashion2": deepfashion2.read,
    "folder": folder.read,
    "manifest": manifest.read,
    "clothing": clothing.read,
}


def read_dataset(name: str, root: str | Path, split: str | None = None) -> Iterator[Sample]:
    """Samples of dataset layout `name` (a key of READERS) stored at `root`, only `split` when given."""
    if name not in READERS:
        raise ValueError(f"unknown dataset layout {name!r}; known: {', '.join(READERS)}")
    root = Path(root)
    if not root.exists():
        raise FileNotFoundError(f"dataset root not found: {root}")
    return READERS[name](root, split)
