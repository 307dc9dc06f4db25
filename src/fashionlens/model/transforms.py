"""Image preprocessing: a fixed square resize and per-encoder normalisation. No augmentation.

Every image goes through the same transform in training, indexing and search, so frozen-encoder features
can be cached once per image (`feature_cache`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image

from fashionlens.model.config import ImageEncoderConfig


class ImageTransform:
    """PIL RGB image -> float tensor [3, S, S]: bicubic resize to S x S (as BLIP-2's eval processor; no crop,
    so a garment at the edge of a product photo is never cut off), scaled to [0, 1], then (x - mean) / std."""

    def __init__(self, image_size: int, mean: Sequence[float], std: Sequence[float]) -> None:
        self.image_size = image_size
        self.mean = torch.tensor(mean, dtype=torch.float32).view(3, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(3, 1, 1)

    @classmethod
    def for_encoder(cls, config: ImageEncoderConfig) -> ImageTransform:
        return cls(config.image_size, config.mean, config.std)

    def __call__(self, image: Image.Image) -> torch.Tensor:
        return self.resized(image, (self.image_size, self.image_size))

    def resized(self, image: Image.Image, size: tuple[int, int]) -> torch.Tensor:
        """The same transform to another (width, height): the attribute heads' view (`garment_view`)."""
        resized = image.convert("RGB").resize(size, Image.Resampling.BICUBIC)
        pixels = torch.from_numpy(np.asarray(resized, dtype=np.float32) / 255.0).permute(2, 0, 1)
        return (pixels - self.mean) / self.std

    def batch(self, images: Sequence[Image.Image]) -> torch.Tensor:
        """[N, 3, S, S] for a list of images."""
        return torch.stack([self(image) for image in images])
