"""The garment view: what the attribute heads read of a photo. The frozen image encoder sees the photo at its
own aspect ratio, about `VIEW_AREA` pixels, and its output tokens are mean-pooled over the whole
photo and over `BANDS` horizontal bands (top, middle, bottom).

Why not the joint embedding: retrieval squashes every photo to a 224 px square and the Q-Former keeps what
captions describe; a dress and a long top, shorts and a skirt then differ in little it keeps. Why bands: a
garment's kind shows in where it has cloth (a dress reaches the bottom band, a top does not). Why not heads on
the Q-Former's outputs: the Q-Former was trained on the train photos, so their embeddings are easier to tell
apart than a new photo's, and heads fitted on them lean on it (dev category 0.893, contributor-grouped 5-fold
cross-validation on train 0.938); heads on this view of the frozen encoder transfer (0.941 and 0.945,
`benchmarks/autotag.py`, docs/results.md). `VIEW_AREA` is a cost choice: a view of 288 x 384 px scored 0.955
on dev but cut indexing to 35 photos/s; this one keeps indexing above 50 photos/s on 2 cores.

Each pooled vector is L2-normalised and the concatenation scaled to unit norm, like the embedding and the
colour histogram the heads also read.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from PIL import Image

from fashionlens.model.feature_cache import FeatureCache, ImageInput, cached_rows
from fashionlens.model.transforms import ImageTransform

#: About this many pixels per view, whatever the photo's shape: the view's cost on the encoder.
VIEW_AREA = 224 * 320
BANDS = 3
#: View sides are multiples of this: the encoder's output stride (EfficientNet: 32), so tokens tile it.
STRIDE = 32
#: Names the recipe: part of the feature-cache folder, and what heads record they were fitted on.
VIEW_ID = f"view-{VIEW_AREA}px-mean+{BANDS}bands-v1"


def view_size(width: int, height: int) -> tuple[int, int]:
    """(width, height) of the view of a width x height photo: about `VIEW_AREA` pixels, the aspect ratio kept
    to the nearest multiple of `STRIDE` (400 x 533 -> 224 x 320)."""
    if width <= 0 or height <= 0:
        raise ValueError(f"a photo has positive sides, got {width} x {height}")
    scale = math.sqrt(VIEW_AREA / (width * height))
    return tuple(max(STRIDE, round(side * scale / STRIDE) * STRIDE) for side in (width, height))  # type: ignore[return-value]


def pool_view(tokens: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Tokens [N, T, C] of a height x width pixel view (a grid, rows first) -> [N, (1 + BANDS) * C]: the mean
    over all tokens and over each band of rows, each unit-normalised, the whole a unit vector."""
    rows = round(math.sqrt(tokens.shape[1] * height / width))
    if rows * (tokens.shape[1] // rows) != tokens.shape[1] or rows < BANDS:
        raise ValueError(
            f"{tokens.shape[1]} tokens of a {width} x {height} view are no grid of >= {BANDS} rows: the "
            "garment view needs a convolutional image encoder"
        )
    grid = tokens.reshape(len(tokens), rows, -1, tokens.shape[-1]).float()
    bands = [grid[:, rows * b // BANDS : rows * (b + 1) // BANDS] for b in range(BANDS)]
    pooled = [grid.mean(dim=(1, 2))] + [band.mean(dim=(1, 2)) for band in bands]
    return torch.cat([F.normalize(p, dim=-1) for p in pooled], dim=-1) / math.sqrt(1 + BANDS)


def view_features(
    images: Sequence[ImageInput],
    transform: ImageTransform,
    encode: Callable[[torch.Tensor], torch.Tensor],
    cache: FeatureCache | None = None,
    cache_id: str = VIEW_ID,
    batch_size: int = 32,
) -> torch.Tensor:
    """Garment views [N, F] (float32) of PIL images or paths: `encode` maps normalised pixels [n, 3, H, W] of
    any size to tokens [n, T, C]; photos of one view size are encoded together. With a cache, read from and
    stored in it under `cache_id` (name the encoder in it), as one token [1, F] each."""

    def compute(batch: list[Image.Image]) -> list[torch.Tensor]:
        sizes = [view_size(*image.size) for image in batch]
        rows: list[torch.Tensor | None] = [None] * len(batch)
        for size in dict.fromkeys(sizes):
            same = [i for i, s in enumerate(sizes) if s == size]
            pixels = torch.stack([transform.resized(batch[i], size) for i in same])
            with torch.no_grad():
                pooled = pool_view(encode(pixels), height=size[1], width=size[0])
            for i, row in zip(same, pooled, strict=True):
                rows[i] = row[None]
        return [row for row in rows if row is not None]

    found = cached_rows(cache, cache_id, images, compute, batch_size)
    return torch.stack([row[0] for row in found]) if found else torch.empty(0, 0)
