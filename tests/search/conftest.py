"""Fixtures for the search tests: a small catalogue of solid-colour garments and the colour stand-in model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from search_helpers import ITEMS, ColorModel, solid


@pytest.fixture
def color_model() -> ColorModel:
    return ColorModel()


@pytest.fixture
def catalogue(tmp_path: Path) -> Path:
    """`catalogue.jsonl` with tagged items (title, url, price, a list field) and their images."""
    root = tmp_path / "shop"
    (root / "img").mkdir(parents=True)
    with (root / "catalogue.jsonl").open("w") as f:
        for item_id, category, color, price in ITEMS:
            solid(color).save(root / "img" / f"{item_id}.png")
            record = {
                "id": item_id,
                "image": f"img/{item_id}.png",
                "title": f"{color.title()} {category}",
                "url": f"https://shop.example/{item_id}",
                "price": price,
                "sizes": ["S", "M"] if category == "top" else ["M"],
                "category": category,
                "color": [color],
            }
            f.write(json.dumps(record) + "\n")
    return root / "catalogue.jsonl"


@pytest.fixture
def photo_folder(tmp_path: Path) -> Path:
    """An untagged folder catalogue: nested folders, one corrupt file, one hidden file."""
    root = tmp_path / "photos"
    (root / "tops").mkdir(parents=True)
    solid("red").save(root / "tops" / "red.jpg")
    solid("blue").save(root / "tops" / "blue.png")
    solid("green").save(root / "skirt.png")
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    solid("black").save(root / ".hidden.png")
    return root
