"""Colour histograms of photos: what the attribute heads' colour and tone heads read beside the garment view.

An encoder trained to tell objects apart (ImageNet) and a joint space trained on captions keep a garment's
kind far better than its exact hue: on the dev product photos a linear head on the shipped model's embedding
named a labelled colour for 48.9 % of them, on the embedding and this histogram for 68.6 %
(`benchmarks/autotag.py`, when the heads read the embedding). The histogram is over hue x saturation x value
of a small copy of the photo, each pixel weighted by a Gaussian around the centre (garments are photographed
centred, backgrounds fill the edges), and square-rooted so that it is a unit vector like the embedding and the
view (Hellinger map: dot products compare shares).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image

from fashionlens.model.feature_cache import FeatureCache, ImageInput, cached_rows

HUE_BINS, SATURATION_BINS, VALUE_BINS = 12, 4, 4
HISTOGRAM_SIZE = HUE_BINS * SATURATION_BINS * VALUE_BINS
#: Names the histogram recipe: the feature-cache folder, and what heads record they were fitted on.
HISTOGRAM_ID = f"hsv-histogram-{HUE_BINS}x{SATURATION_BINS}x{VALUE_BINS}-v2"
_SIDE = 96  # pixels on the longer side: colours need no detail
_SPREAD = (1 / 3, 1 / 4)  # Gaussian sigma as a fraction of height, width (garments are taller than wide)


def colour_histogram(image: Image.Image) -> np.ndarray:
    """Centre-weighted, square-rooted HSV histogram [HISTOGRAM_SIZE] (float32, unit L2 norm) of one photo."""
    small = image.convert("RGB")
    small.thumbnail((_SIDE, _SIDE))
    hsv = np.asarray(small.convert("HSV"), dtype=np.int64)
    height, width = hsv.shape[:2]
    rows, cols = np.mgrid[0:height, 0:width]
    weight = np.exp(
        -(((rows + 0.5 - height / 2) / (height * _SPREAD[0])) ** 2)
        - ((cols + 0.5 - width / 2) / (width * _SPREAD[1])) ** 2
    )
    hue = (hsv[..., 0] * HUE_BINS + 128) // 256 % HUE_BINS  # bins centred on red, yellow, green, ...
    saturation = hsv[..., 1] * SATURATION_BINS // 256
    value = hsv[..., 2] * VALUE_BINS // 256
    bins = (hue * SATURATION_BINS + saturation) * VALUE_BINS + value
    counts = np.bincount(bins.ravel(), weights=weight.ravel(), minlength=HISTOGRAM_SIZE)
    return np.sqrt(counts / counts.sum()).astype(np.float32)


def colour_features(images: Sequence[ImageInput], cache: FeatureCache | None = None) -> torch.Tensor:
    """Colour histograms [N, HISTOGRAM_SIZE] (float32) of PIL images or paths; with a cache, read from and
    stored in it beside the image tokens, as one token [1, HISTOGRAM_SIZE] each (float16-rounded)."""
    rows = cached_rows(
        cache,
        HISTOGRAM_ID,
        images,
        lambda batch: [torch.from_numpy(colour_histogram(image))[None] for image in batch],
        batch_size=64,
    )
    return torch.stack([row[0] for row in rows]) if rows else torch.empty(0, HISTOGRAM_SIZE)
