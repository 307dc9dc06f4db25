"""On-disk cache of frozen image-encoder outputs, shared by training and indexing.

The image encoder never trains, so its tokens for an image are computed once and reused every epoch and by
every index build. Entries are keyed by the image's content hash (a path is hashed by its file bytes, an
in-memory image by its pixels) under a folder per encoder id (encoder config + weights), stored as one
float16 .npy file per image (atomic writes, so parallel workers and interrupted runs leave no torn files).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from fashionlens.images import content_hash, load_image

ImageInput = Image.Image | str | os.PathLike[str]


def as_image(image: ImageInput) -> Image.Image:
    """A PIL image as is; a path decoded (`load_image`)."""
    return image if isinstance(image, Image.Image) else load_image(image)


def decoded_once(images: Sequence[ImageInput], cache: FeatureCache | None) -> Sequence[ImageInput]:
    """Images for several passes (tokens, garment view, histogram): without a cache, paths are decoded here
    once rather than in every pass; with one, kept as paths, whose cache keys are their files' bytes."""
    return images if cache is not None else [as_image(image) for image in images]


def image_key(image: ImageInput) -> str:
    """Content hash of an image: of the file's bytes for a path, of mode, size and pixels for a PIL image."""
    if isinstance(image, Image.Image):
        header = f"{image.mode}:{image.width}x{image.height}:".encode()
        return content_hash(header + image.tobytes())
    return content_hash(image)


class FeatureCache:
    """Image tokens [T, C] by (encoder id, image key), as float16 files under `root/<encoder id>/`."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.hits = 0
        self.misses = 0

    def path(self, encoder_id: str, key: str) -> Path:
        return self.root / encoder_id / key[:2] / f"{key}.npy"

    def get(self, encoder_id: str, key: str) -> torch.Tensor | None:
        """The cached tokens (float32) or None; counts hits and misses."""
        path = self.path(encoder_id, key)
        try:
            tokens = np.load(path)
        except (FileNotFoundError, ValueError, OSError):  # absent, or unreadable: recompute
            self.misses += 1
            return None
        self.hits += 1
        return torch.from_numpy(tokens.astype(np.float32))

    def put(self, encoder_id: str, key: str, tokens: torch.Tensor) -> None:
        path = self.path(encoder_id, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{path.stem}.{os.getpid()}.partial.npy")
        np.save(partial, tokens.detach().to(torch.float16).cpu().numpy())
        os.replace(partial, path)


def cached_rows(
    cache: FeatureCache | None,
    encoder_id: str,
    images: Sequence[ImageInput],
    compute: Callable[[list[Image.Image]], Iterable[torch.Tensor]],
    batch_size: int,
) -> list[torch.Tensor]:
    """Per image, its value under `encoder_id`: read from the cache, else `compute`d on the decoded images,
    `batch_size` at a time, and stored. With a cache every returned value is float16-rounded (hits and misses
    alike), so a result does not depend on what happened to be cached."""
    keys = [image_key(image) for image in images] if cache is not None else []
    found: list[torch.Tensor | None] = (
        [cache.get(encoder_id, key) for key in keys] if cache is not None else [None] * len(images)
    )
    missing = [i for i, value in enumerate(found) if value is None]
    for start in range(0, len(missing), batch_size):
        chunk = missing[start : start + batch_size]
        for i, value in zip(chunk, compute([as_image(images[i]) for i in chunk]), strict=True):
            if cache is not None:
                cache.put(encoder_id, keys[i], value)
                value = value.half().float()
            found[i] = value
    return [value for value in found if value is not None]
