"""Colour histograms: where the mass of a photo's colours lands, the centre weighting, and the cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from fashionlens.model.colours import (
    HISTOGRAM_ID,
    HISTOGRAM_SIZE,
    HUE_BINS,
    SATURATION_BINS,
    VALUE_BINS,
    colour_features,
    colour_histogram,
)
from fashionlens.model.feature_cache import FeatureCache


def share(histogram: np.ndarray, hue: int, saturation: int, value: int) -> float:
    """The share of (weighted) pixels in one bin: the histogram is square-rooted."""
    return float(histogram[(hue * SATURATION_BINS + saturation) * VALUE_BINS + value] ** 2)


def test_a_solid_colour_fills_its_one_bin_and_the_histogram_is_a_unit_vector() -> None:
    red = colour_histogram(Image.new("RGB", (50, 80), (255, 0, 0)))  # HSV (0, 255, 255)
    assert red.shape == (HISTOGRAM_SIZE,) and red.dtype == np.float32
    assert np.linalg.norm(red) == np.float32(1.0) or abs(np.linalg.norm(red) - 1) < 1e-6
    assert share(red, 0, SATURATION_BINS - 1, VALUE_BINS - 1) > 0.999
    blue = colour_histogram(Image.new("RGB", (50, 80), (0, 0, 255)))  # hue 240 degrees: bins are centred
    assert share(blue, 240 * HUE_BINS // 360, SATURATION_BINS - 1, VALUE_BINS - 1) > 0.999
    reds = [colour_histogram(Image.new("RGB", (8, 8), rgb)) for rgb in ((255, 0, 12), (255, 12, 0))]
    assert all(share(h, 0, SATURATION_BINS - 1, VALUE_BINS - 1) > 0.999 for h in reds)  # either side of 0
    grey = colour_histogram(Image.new("L", (30, 30), 128))  # any mode: converted to RGB
    assert share(grey, 0, 0, 2) > 0.999


def test_the_centre_weighs_more_than_the_background() -> None:
    """A centred red garment covering a quarter of a white photo holds well over a quarter of the mass."""
    photo = Image.new("RGB", (80, 120), (255, 255, 255))
    ImageDraw.Draw(photo).rectangle((20, 30, 59, 89), fill=(255, 0, 0))
    histogram = colour_histogram(photo)
    assert share(histogram, 0, SATURATION_BINS - 1, VALUE_BINS - 1) > 0.5
    assert (
        abs(
            share(histogram, 0, 0, VALUE_BINS - 1)
            + share(histogram, 0, SATURATION_BINS - 1, VALUE_BINS - 1)
            - 1
        )
        < 1e-5
    )


def test_colour_features_of_paths_and_images_agree_and_the_cache_serves_them(tmp_path: Path) -> None:
    photos = [Image.new("RGB", (40, 60), (30 * i, 200, 90)) for i in range(3)]
    paths = []
    for i, photo in enumerate(photos):
        paths.append(tmp_path / f"{i}.png")
        photo.save(paths[-1])
    direct = colour_features(photos)
    assert direct.shape == (3, HISTOGRAM_SIZE)
    torch.testing.assert_close(colour_features(paths), direct)
    cache = FeatureCache(tmp_path / "cache")
    first = colour_features(paths, cache)
    assert cache.misses == 3 and (tmp_path / "cache" / HISTOGRAM_ID).is_dir()
    torch.testing.assert_close(colour_features(paths, cache), first)
    assert cache.hits == 3
    torch.testing.assert_close(first, direct.half().float())
    assert colour_features([]).shape == (0, HISTOGRAM_SIZE)
