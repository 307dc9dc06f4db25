"""The garment view: its size per photo shape, the pooling over bands, and features through a model's encoder
(batched by size as one by one, cached)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from PIL import Image

from fashionlens.model import create_model
from fashionlens.model.feature_cache import FeatureCache
from fashionlens.model.garment_view import BANDS, STRIDE, VIEW_AREA, pool_view, view_size


@pytest.mark.parametrize(
    ("photo", "view"),
    [
        ((400, 533), (224, 320)),  # the product photos' 3:4
        ((533, 400), (320, 224)),
        ((500, 500), (256, 256)),
        ((40, 60), (224, 320)),  # small photos are enlarged
        ((10, 2000), (STRIDE, 3776)),  # never below one stride
    ],
)
def test_view_keeps_the_aspect_ratio_and_about_its_area(
    photo: tuple[int, int], view: tuple[int, int]
) -> None:
    assert view_size(*photo) == view
    assert all(side % STRIDE == 0 for side in view)
    if min(photo) > 20:
        assert 0.75 < view[0] * view[1] / VIEW_AREA < 1.25


def test_view_size_refuses_an_empty_photo() -> None:
    with pytest.raises(ValueError, match="positive"):
        view_size(0, 10)


def test_pooling_is_over_the_photo_and_each_band_top_to_bottom() -> None:
    rows, cols, channels = 6, 4, 3
    grid = torch.zeros(1, rows, cols, channels)
    grid[0, :2, :, 0] = 1.0  # top band: channel 0
    grid[0, 2:4, :, 1] = 1.0  # middle: channel 1
    grid[0, 4:, :, 2] = 1.0  # bottom: channel 2
    pooled = pool_view(grid.reshape(1, rows * cols, channels), height=rows * 32, width=cols * 32)
    assert pooled.shape == (1, (1 + BANDS) * channels)
    assert pooled.norm().item() == pytest.approx(1.0)
    whole, top, middle, bottom = pooled[0].reshape(1 + BANDS, channels) * math.sqrt(1 + BANDS)
    torch.testing.assert_close(whole, torch.full((3,), 3**-0.5))
    for band, channel in ((top, 0), (middle, 1), (bottom, 2)):
        torch.testing.assert_close(band, torch.eye(3)[channel])


def test_pooling_refuses_tokens_that_are_no_grid() -> None:
    with pytest.raises(ValueError, match="convolutional"):
        pool_view(torch.randn(2, 50, 8), height=224, width=224)  # a class token and 7 x 7 patches


def test_model_views_batch_photos_of_any_shape_as_one_by_one_and_cache(tmp_path: Path) -> None:
    model = create_model("tiny-random").eval()
    photos = [
        Image.new("RGB", (40, 60), (200, 30, 30)),
        Image.new("RGB", (60, 40), (30, 200, 30)),
        Image.new("RGB", (50, 75), (30, 30, 200)),
    ]
    views = model.garment_views(photos)
    hidden = model.config.image_encoder.architecture["hidden_size"]
    assert views.shape == (3, (1 + BANDS) * hidden)
    torch.testing.assert_close(views.norm(dim=1), torch.ones(3))
    alone = torch.cat([model.garment_views([photo]) for photo in photos])
    torch.testing.assert_close(views, alone, atol=1e-5, rtol=1e-5)
    cache = FeatureCache(tmp_path)
    stored = model.garment_views(photos, cache=cache)
    torch.testing.assert_close(stored, views, atol=2e-3, rtol=1e-3)  # float16 in the cache
    assert torch.equal(model.garment_views(photos, cache=cache), stored)  # read back, not recomputed
    assert any(model.encoder_id in path.name for path in tmp_path.iterdir())
