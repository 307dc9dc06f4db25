"""On-disk cache of frozen image-encoder outputs, shared by training and indexing.

The image encoder never trains, so its tokens for an image are computed once and reused every epoch and by
every index build. Entries are keyed by the image's content hash (a path is hashed by its file bytes, an
in-memory image by its pixels) under a folder per encoder id (encoder config + weights), stored as one
float16 .npy file per image (atomic writes, so parallel workers and interrupted runs leave no torn files).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from fashionlens.images import content_hash

ImageInput = Image.Image | str | os.PathLike[str]


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
