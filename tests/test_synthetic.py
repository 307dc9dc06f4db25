"""The synthetic catalogue: deterministic, taxonomy-valid, every garment kind and print drawn, files and
manifest consistent."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from fashionlens.cli import app
from fashionlens.data import synthetic
from fashionlens.data.synthetic import (
    COLOR_RGB,
    GARMENTS,
    PATTERNS,
    TONE_COLORS,
    Item,
    generate_catalogue,
    iter_items,
    make_item,
    render_consumer,
    render_shop,
)
from fashionlens.jsonl import read_jsonl
from fashionlens.taxonomy import (
    ATTRIBUTE_FIELDS,
    UPPER_BODY_FIELDS,
    GarmentAttributes,
    allowed_values,
    category_of,
)

#: The garment kinds issue 2 asks for.
REQUIRED_KINDS = {
    "t-shirt",
    "shirt",
    "sweater",
    "jacket",
    "mini dress",
    "long dress",
    "straight pants",
    "shorts",
}


def _pixels(image) -> np.ndarray:
    return np.asarray(image, dtype=np.int16)


def _item(subcategory: str, seed: int = 0, **changes) -> Item:
    """An item of one kind with chosen attribute values (re-validated)."""
    item = make_item(f"test-{subcategory}-{seed}", np.random.default_rng(seed), subcategory)
    record = {**item.attributes.to_record(), **changes}
    return Item(item.item_id, GarmentAttributes.from_record(record), item.title, item.price)


def test_renders_are_deterministic_and_seed_dependent() -> None:
    first, again = next(iter_items(1, seed=5)), next(iter_items(1, seed=5))
    assert first == again
    assert render_shop(first).tobytes() == render_shop(again).tobytes()
    assert render_consumer(first, 3).tobytes() == render_consumer(again, np.random.default_rng(3)).tobytes()
    assert render_consumer(first, 3).tobytes() != render_consumer(first, 4).tobytes()
    assert [i.attributes for i in iter_items(20, seed=1)] != [i.attributes for i in iter_items(20, seed=2)]
    # A longer run with the same seed starts with the same items.
    assert list(iter_items(5, seed=7)) == list(iter_items(12, seed=7))[:5]


def test_catalogue_is_byte_identical_for_a_seed(tmp_path: Path) -> None:
    a = generate_catalogue(6, tmp_path / "a", seed=3, consumer_per_item=2, size=64)
    b = generate_catalogue(6, tmp_path / "b", seed=3, consumer_per_item=2, size=64)
    c = generate_catalogue(6, tmp_path / "c", seed=4, consumer_per_item=2, size=64)
    assert a.read_bytes() == b.read_bytes()
    files = sorted(p.relative_to(a.parent) for p in a.parent.rglob("*.jpg"))
    assert len(files) == 18
    assert all((a.parent / f).read_bytes() == (b.parent / f).read_bytes() for f in files)
    assert a.read_bytes() != c.read_bytes()


def test_many_items_are_valid_taxonomy_records() -> None:
    items = list(iter_items(600, seed=0))
    assert len({i.item_id for i in items}) == len(items)
    for item in items:
        a = item.attributes
        assert GarmentAttributes.from_record(a.to_record()) == a  # validates every value again
        assert a.subcategory in GARMENTS and a.pattern in PATTERNS
        assert 1 <= len(a.color) <= 2 and (len(a.color) == 1) == (a.pattern == "solid")
        assert all(c in TONE_COLORS[a.tone] for c in a.color)
        for name in UPPER_BODY_FIELDS:
            assert (getattr(a, name) is None) == (a.category in ("pants", "skirt"))
        assert item.price > 0 and item.url == f"https://shop.example/items/{item.item_id}"
        assert a.subcategory in item.title and a.color[0] in item.title.lower()


def test_every_kind_pattern_colour_and_variant_appears() -> None:
    assert set(GARMENTS) >= REQUIRED_KINDS
    assert {"skirt", "dress", "pants", "top"} == {category_of(k) for k in GARMENTS}
    assert {i.attributes.subcategory for i in iter_items(len(GARMENTS))} == set(GARMENTS)
    items = [i.attributes for i in iter_items(1000, seed=0)]
    assert {a.pattern for a in items} == set(PATTERNS)
    assert {a.tone for a in items} == {"normal", "vivid", "pastel/light"}
    assert {c for a in items for c in a.color} == set(COLOR_RGB)
    assert {a.sleeve_length for a in items if a.category in ("top", "dress")} == {
        "sleeveless",
        "short",
        "long",
    }
    for category in ("dress", "skirt", "pants"):
        assert len({a.total_length for a in items if a.category == category}) >= 3
    assert {a.zip_up for a in items} == {"none", "full"} and {a.button for a in items} == {"none", "full"}
    assert {"collar", "pocket", "waist banding"} <= {d for a in items for d in a.details}
    assert set(PATTERNS) <= set(allowed_values("pattern")) and set(TONE_COLORS) <= set(allowed_values("tone"))


def test_palette_must_cover_the_taxonomy() -> None:
    synthetic._check_palette(allowed_values("color"))
    with pytest.raises(RuntimeError, match="teal"):
        synthetic._check_palette((*allowed_values("color"), "teal"))


@pytest.mark.parametrize("color", ["red", "navy", "mint", "white", "khaki"])
def test_solid_garment_is_drawn_in_its_colour(color: str) -> None:
    item = _item("t-shirt", color=[color], pattern="solid", tone="normal")
    layer, mask = synthetic._garment_layer(item, 128)
    inside = _pixels(layer)[np.asarray(mask) > 0]
    assert np.abs(np.median(inside, axis=0) - COLOR_RGB[color]).max() <= 12


def test_tones_change_the_colour_the_right_way() -> None:
    def mean_rgb(tone: str) -> np.ndarray:
        item = _item("sweater", color=["blue"], pattern="solid", tone=tone)
        layer, mask = synthetic._garment_layer(item, 96)
        return _pixels(layer)[np.asarray(mask) > 0].mean(axis=0)

    normal, pastel, vivid = mean_rgb("normal"), mean_rgb("pastel/light"), mean_rgb("vivid")
    assert pastel.mean() > normal.mean() + 40  # lighter
    assert np.ptp(vivid) > np.ptp(normal)  # more saturated


def test_lengths_change_the_silhouette() -> None:
    def aspect(subcategory: str, length: str) -> float:
        _, mask = synthetic._garment_layer(_item(subcategory, total_length=length), 128)
        x0, y0, x1, y1 = mask.getbbox()
        return (y1 - y0) / (x1 - x0)

    assert aspect("long skirt", "floor") > aspect("long skirt", "knee") > aspect("mini skirt", "thigh")
    assert aspect("long dress", "floor") > aspect("mini dress", "thigh")
    assert aspect("straight pants", "ankle") > aspect("shorts", "thigh")


def test_patterns_add_a_second_colour_and_differ_from_solid() -> None:
    solid = _item("t-shirt", color=["navy"], pattern="solid", tone="normal")
    solid_pixels = _pixels(render_shop(solid, 96))
    for pattern in PATTERNS[1:]:
        item = _item("t-shirt", color=["navy", "yellow"], pattern=pattern, tone="normal")
        layer, mask = synthetic._garment_layer(item, 96)
        inside = _pixels(layer)[np.asarray(mask) > 0]
        yellowish = (np.abs(inside - COLOR_RGB["yellow"]).max(axis=1) < 40).mean()
        assert yellowish > 0.01, pattern
        assert np.abs(_pixels(render_shop(item, 96)) - solid_pixels).mean() > 1, pattern


def test_shop_and_consumer_differ_but_share_the_item(tmp_path: Path) -> None:
    manifest = generate_catalogue(4, tmp_path, seed=0, consumer_per_item=2, size=96)
    records = list(read_jsonl(manifest))
    by_item: dict[str, dict[str, list[dict]]] = {}
    for r in records:
        by_item.setdefault(r["item_id"], {}).setdefault(r["role"], []).append(r)
    assert len(by_item) == 4
    for views in by_item.values():
        assert len(views["shop"]) == 1 and len(views["consumer"]) == 2
        shop = _pixels(synthetic.Image.open(tmp_path / views["shop"][0]["image"]))
        for consumer in views["consumer"]:
            assert {k: v for k, v in consumer.items() if k not in ("id", "image", "role")} == {
                k: v for k, v in views["shop"][0].items() if k not in ("id", "image", "role")
            }
            assert np.abs(_pixels(synthetic.Image.open(tmp_path / consumer["image"])) - shop).mean() > 20


def test_manifest_matches_files_and_label_fields(tmp_path: Path) -> None:
    manifest = generate_catalogue(5, tmp_path, seed=1, consumer_per_item=1, size=80)
    assert manifest == tmp_path / "catalogue.jsonl"
    records = list(read_jsonl(manifest))
    assert len(records) == 10 and len({r["id"] for r in records}) == 10
    assert Counter(r["role"] for r in records) == {"shop": 5, "consumer": 5}
    on_disk = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.jpg")}
    assert on_disk == {r["image"] for r in records}
    for r in records:
        assert set(ATTRIBUTE_FIELDS) | {"category", "id", "image", "item_id", "role", "title", "url"} <= set(
            r
        )
        assert isinstance(r["color"], list) and isinstance(r["price"], float) and r["caption"]
        assert GarmentAttributes.from_record(r).subcategory == r["subcategory"]
        with synthetic.Image.open(tmp_path / r["image"]) as image:
            assert image.size == (80, 80) and image.mode == "RGB"


def test_manifest_uses_the_shared_label_fields(tmp_path: Path, clothing_dir: Path) -> None:
    with open(clothing_dir / "labels.jsonl", encoding="utf-8") as f:
        label = json.loads(f.readline())
    label_fields = {"category", *ATTRIBUTE_FIELDS} & set(label)
    record = next(read_jsonl(generate_catalogue(1, tmp_path, consumer_per_item=0, size=48)))
    assert label_fields <= set(record)
    assert all(isinstance(record[k], list) == isinstance(label[k], list) for k in label_fields)


@pytest.mark.parametrize("size", [48, 224, 300])
def test_size_is_respected(size: int) -> None:
    item = next(iter_items(1, seed=2))
    assert render_shop(item, size).size == (size, size)
    assert render_consumer(item, 0, size).size == (size, size)


def test_cli_writes_a_catalogue(tmp_path: Path) -> None:
    out = tmp_path / "cat"
    result = CliRunner().invoke(
        app, ["synth", str(out), "--items", "3", "--consumer-per-item", "2", "--seed", "4", "--size", "64"]
    )
    assert result.exit_code == 0, result.output
    records = list(read_jsonl(out / "catalogue.jsonl"))
    assert len(records) == 9 and all(r["item_id"].startswith("syn-4-") for r in records)
    (tmp_path / "file").write_text("x")
    assert CliRunner().invoke(app, ["synth", str(tmp_path / "file"), "--items", "1"]).exit_code == 2
