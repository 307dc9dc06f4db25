"""A plain folder of images, searched recursively: ids are paths relative to the folder, without extension."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from fashionlens.data.sample import Sample

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"})


def image_files(root: Path) -> list[Path]:
    """Image files below `root` by suffix (case-insensitive), hidden files and folders skipped, sorted."""
    files = (
        path
        for path in root.rglob("*")
        if path.suffix.lower() in IMAGE_SUFFIXES
        and path.is_file()
        and not any(part.startswith(".") for part in path.relative_to(root).parts)
    )
    return sorted(files, key=lambda path: path.relative_to(root).as_posix())


def read(root: Path, split: str | None = None) -> Iterator[Sample]:
    """One Sample per image; with `split`, the images of the sub-folder of that name (e.g. root/train)."""
    folder = root / split if split is not None else root
    if not folder.is_dir():
        raise FileNotFoundError(f"image folder not found: {folder}")
    owners: dict[str, Path] = {}
    for path in image_files(folder):
        sample_id = path.relative_to(folder).with_suffix("").as_posix()
        if sample_id in owners:
            raise ValueError(f"two images share the id {sample_id!r}: {owners[sample_id]} and {path}")
        owners[sample_id] = path
        yield Sample(id=sample_id, image=path, split=split, source="folder")
