"""Helpers of the search tests: solid-colour garments and a stand-in model that sees colour only.

Image "features" are the mean colour of the central half (one token); the joint embedding assigns it softly
to the taxonomy palette, and texts embed as the first taxonomy colour word they contain, through the same
map. The visual embedding is the raw colour (normalised [r, g, b, 255]): a different space, so tests can
tell which one a query searched. So "a red top" finds red photos, and
zero-shot colour tagging is right on solid-colour images, which lets tests assert real search behaviour
without a trained model. A plain module (not conftest) so test files and subprocesses can import it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image

from fashionlens.data.synthetic import COLOR_RGB
from fashionlens.model.colours import colour_features
from fashionlens.model.feature_cache import as_image

PALETTE = np.array(list(COLOR_RGB.values()), dtype=np.float32)
NAMES = list(COLOR_RGB)


def _embed_rgb(rgb: np.ndarray) -> np.ndarray:
    distances = ((rgb[:, None, :] - PALETTE[None]) ** 2).sum(-1)
    vectors = np.exp(-distances / (2 * 40.0**2))
    vectors = np.concatenate([vectors, np.full((len(rgb), 1), 1e-3, dtype=np.float32)], axis=1)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


#: (id, category, colour, price); the JSONL catalogue fixture tags them, a folder catalogue does not.
ITEMS = [
    ("red-top", "top", "red", 19.0),
    ("black-top", "top", "black", 25.0),
    ("blue-pants", "pants", "blue", 40.0),
    ("navy-pants", "pants", "navy", 45.0),
    ("white-dress", "dress", "white", 60.0),
    ("green-skirt", "skirt", "green", 30.0),
    ("yellow-top", "top", "yellow", 12.5),
    ("pink-dress", "dress", "pink", 80.0),
]


def solid(color: str, size: tuple[int, int] = (48, 64)) -> Image.Image:
    """A photo of one flat taxonomy colour."""
    return Image.new("RGB", size, COLOR_RGB[color])


class ColorModel:
    """Stands in for `FashionBlip2` in indexing and search (same method names and shapes)."""

    embed_dim = len(NAMES) + 1
    visual_dim = 4

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay  # seconds per image_features call: lets a test kill a run mid-way
        self.images_embedded = 0

    def eval(self) -> ColorModel:
        return self

    def image_features(self, images: Sequence[Image.Image | str]) -> torch.Tensor:
        """Mean colour of the central half as one token: [N, 1, 3]."""
        time.sleep(self.delay)
        self.images_embedded += len(images)
        means = []
        for image in images:
            image = as_image(image)
            w, h = image.size
            centre = np.asarray(image.crop((w // 4, h // 4, w - w // 4, h - h // 4)), dtype=np.float32)
            means.append(centre.reshape(-1, 3).mean(0))
        return torch.from_numpy(np.stack(means)[:, None])

    def embed_image_features(self, features: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(_embed_rgb(features.mean(1).numpy()))

    def visual_embed_features(self, features: torch.Tensor) -> torch.Tensor:
        rgb = features.mean(1)
        return torch.nn.functional.normalize(torch.cat([rgb, torch.full_like(rgb[:, :1], 255.0)], 1), dim=1)

    def embed_images(self, images: Sequence[Image.Image | str]) -> torch.Tensor:
        return self.embed_image_features(self.image_features(images))

    encoder_id = "mean-colour"
    attribute_heads = None

    def garment_views(self, images: Sequence[Image.Image | str]) -> torch.Tensor:
        return self.embed_images(images)

    def tag_inputs(self, images: Sequence[Image.Image | str]) -> dict[str, torch.Tensor] | None:
        """As `FashionBlip2.tag_inputs`: the view (here the colour embedding) and histogram the heads read."""
        if self.attribute_heads is None:
            return None
        compute = {"view": self.garment_views, "histogram": colour_features}
        return {name: compute[name](images) for name in self.attribute_heads.inputs}

    def embed_texts(self, texts: Sequence[str]) -> torch.Tensor:
        rgb = []
        for text in texts:
            words = text.lower().replace(".", " ").split()
            name = next((w for w in words if w in COLOR_RGB), None)
            rgb.append(COLOR_RGB[name] if name else (128, 128, 128))
        return torch.from_numpy(_embed_rgb(np.array(rgb, dtype=np.float32)))
