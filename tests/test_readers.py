"""Every dataset reader on a tiny copy of its official layout (tests/fixtures/datasets), and on real data."""

from __future__ import annotations

import json
import logging
import shutil
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from fashionlens.data import READERS, Sample, read_dataset
from fashionlens.data.readers import manifest
from fashionlens.images import ImageLoadError
from fashionlens.taxonomy import GarmentAttributes

FIXTURES = Path(__file__).parent / "fixtures" / "datasets"


def read(name: str, split: str | None = None, root: Path | None = None) -> list[Sample]:
    return list(read_dataset(name, root or FIXTURES / name, split))


def by_id(samples: list[Sample]) -> dict[str, Sample]:
    return {sample.id: sample for sample in samples}


def assert_box_crop(sample: Sample) -> None:
    """The crop has the box's size and shows the coloured box drawn there in the fixture, not background."""
    x0, y0, x1, y1 = sample.bbox
    crop = sample.load(crop=True)
    assert crop.size == (round(x1 - x0), round(y1 - y0))
    assert np.asarray(crop, dtype=float).mean() < 200
    assert sample.load().size == (32, 48)


def test_every_reader_has_a_fixture() -> None:
    assert sorted(READERS) == sorted(path.name for path in FIXTURES.iterdir() if path.is_dir())


@pytest.mark.parametrize("name", sorted(READERS))
def test_every_sample_image_exists_and_loads(name: str) -> None:
    samples = read(name)
    assert samples and len({s.id for s in samples}) == len(samples)
    for sample in samples:
        assert sample.load().mode == "RGB"


def test_deepfashion_mm() -> None:
    samples = by_id(read("deepfashion-mm"))
    assert sorted(samples) == [
        "MEN-Denim-id_00000080-01_1_front",
        "MEN-Denim-id_00000080-01_7_additional",
        "WOMEN-Dresses-id_00000002-02_1_front",
    ]
    front = samples["MEN-Denim-id_00000080-01_1_front"]
    assert front.image == FIXTURES / "deepfashion-mm" / "images" / "MEN-Denim-id_00000080-01_1_front.jpg"
    assert front.captions[0].startswith("This man is wearing a short-sleeve shirt")
    assert (
        front.item_id == samples["MEN-Denim-id_00000080-01_7_additional"].item_id == "MEN-Denim-id_00000080"
    )
    assert samples["WOMEN-Dresses-id_00000002-02_1_front"].item_id == "WOMEN-Dresses-id_00000002"
    assert {s.role for s in samples.values()} == {"shop"} and {s.split for s in samples.values()} == {None}


def test_deepfashion_mm_split_files(tmp_path: Path) -> None:
    root = shutil.copytree(FIXTURES / "deepfashion-mm", tmp_path / "dfmm")
    captions = json.loads((root / "captions.json").read_text())
    names = sorted(captions)
    (root / "train_captions.json").write_text(json.dumps({n: captions[n] for n in names[:2]}))
    (root / "test_captions.json").write_text(json.dumps({n: captions[n] for n in names[2:]}))
    assert [s.split for s in read("deepfashion-mm", "train", root)] == ["train", "train"]
    assert len(read("deepfashion-mm", "test", root)) == 1
    (root / "captions.json").unlink()
    assert Counter(s.split for s in read("deepfashion-mm", root=root)) == {"train": 2, "test": 1}
    with pytest.raises(FileNotFoundError, match="val"):
        read("deepfashion-mm", "val", root)


def test_facad(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        samples = read("facad")
    assert "1 listed photos" in caplog.text  # the fifth photo was never downloaded
    assert [s.id for s in samples] == [
        "122349/58d1a13f-b6b6-4e68-b2ff-3a3af47c422e",
        "122349/0a8e7c52-1d3b-4c1e-9a57-2f0e6d1b9c11",
        "122349/7f3b2d10-5e4a-4b6c-8d2e-1a9c0b7e6f55",
        "122350/c2d4e6f8-0a1b-4c3d-8e5f-6a7b8c9d0e1f",
    ]
    first, *_, last = samples
    assert first.image == FIXTURES / "facad" / "images" / "58d1a13f-b6b6-4e68-b2ff-3a3af47c422e.jpeg"
    assert first.captions[0].startswith("subtly futuristic and edgy this liquid metal cuff bracelet")
    assert first.captions[1:] == ("chain link cuff bracelet",)
    assert last.captions == ("stripe cotton t-shirt",)  # empty description: only the title
    assert [s.item_id for s in samples] == ["122349"] * 3 + ["122350"]
    assert {s.role for s in samples} == {"shop"}
    assert read("facad", root=FIXTURES / "facad" / "facad.json") == samples
    with pytest.raises(ValueError, match="no splits"):
        read("facad", "train")


def test_deepfashion_consumer_to_shop() -> None:
    samples = read("deepfashion-c2s")
    item1 = "img/TOPS/Summer_Wear/id_00000001"
    assert [s.id for s in samples][:3] == [f"{item1}/comsumer_01", f"{item1}/shop_01", f"{item1}/comsumer_02"]
    assert len(samples) == 7  # shop_01 of item 1 is in two pairs; the unpaired bbox line is ignored
    assert Counter(s.split for s in samples) == {"train": 3, "val": 2, "test": 2}
    assert Counter(s.role for s in samples) == {"consumer": 4, "shop": 3}
    assert Counter(s.position for s in samples) == {"top": 3, "full": 2, "bottom": 2}
    shop = by_id(samples)[f"{item1}/shop_01"]
    assert shop.image == FIXTURES / "deepfashion-c2s" / "Img" / "img/TOPS/Summer_Wear/id_00000001/shop_01.jpg"
    assert shop.bbox == (6.0, 4.0, 26.0, 36.0) and shop.item_id == "id_00000001"
    for sample in samples:
        assert_box_crop(sample)
    val = read("deepfashion-c2s", "val")
    assert {s.item_id for s in val} == {"id_00000002"} and {s.role for s in val} == {"shop", "consumer"}


def matches(samples: list[Sample]) -> dict[str, list[str]]:
    """Consumer item -> the shop items it should retrieve (same split and same item_id)."""
    shops = [s for s in samples if s.role == "shop" and s.item_id]
    return {
        q.id: [g.id for g in shops if (g.split, g.item_id) == (q.split, q.item_id)]
        for q in samples
        if q.role == "consumer"
    }


def test_deepfashion2() -> None:
    samples = read("deepfashion2")
    assert [s.id for s in samples] == [
        "train/000001#item1",
        "train/000001#item2",
        "train/000002#item1",
        "train/000003#item1",
        "train/000004#item1",
        "validation/000001#item1",
        "validation/000002#item1",
    ]
    first = by_id(samples)
    assert first["train/000001#item1"].image == FIXTURES / "deepfashion2" / "train" / "image" / "000001.jpg"
    assert first["train/000001#item1"].bbox == (2.0, 4.0, 30.0, 26.0)
    assert [s.item_id for s in samples] == ["1-1", None, "1-1", "1-2", "2-1", "3-1", "3-1"]
    assert [s.role for s in samples] == [
        "consumer",
        "consumer",
        "shop",
        "shop",
        "consumer",
        "shop",
        "consumer",
    ]
    assert [s.position for s in samples] == ["top", "bottom", "top", "outer", "bottom", "full", "full"]
    # Same pair and same style > 0: the user's top matches the shop's top, not the shop's style-2 jacket;
    # style 0 (the trousers) matches nothing, and a user item with no shop photo of its style has no match.
    assert matches(samples) == {
        "train/000001#item1": ["train/000002#item1"],
        "train/000001#item2": [],
        "train/000004#item1": [],
        "validation/000002#item1": ["validation/000001#item1"],
    }
    for sample in samples:
        if sample.id.endswith("#item1"):  # fixture images draw the first item's box
            assert_box_crop(sample)
    assert [s.id for s in read("deepfashion2", "validation")] == [s.id for s in samples[-2:]]
    with pytest.raises(FileNotFoundError, match="test"):
        read("deepfashion2", "test")  # the test split ships without annotations


def test_folder() -> None:
    assert [s.id for s in read("folder")] == ["train/red", "train/sub/blue", "val/green"]
    train = read("folder", "train")
    assert [(s.id, s.split) for s in train] == [("red", "train"), ("sub/blue", "train")]
    assert train[1].image == FIXTURES / "folder" / "train" / "sub" / "blue.jpg"
    with pytest.raises(FileNotFoundError):
        read("folder", "test")


def test_folder_rejects_clashing_ids(tmp_path: Path) -> None:
    for name in ("a.jpg", "a.png"):
        shutil.copy(FIXTURES / "folder" / "train" / "red.png", tmp_path / name)
    with pytest.raises(ValueError, match="share the id 'a'"):
        read("folder", root=tmp_path)


def test_manifest() -> None:
    samples = by_id(read("manifest"))
    a1, a2, b1 = samples["a1"], samples["a2"], samples["b1"]
    assert a1.image == FIXTURES / "manifest" / "photos" / "a1.jpg"
    assert a1.captions == ("A red cotton t-shirt.", "Red tee.")
    assert a1.attributes == GarmentAttributes(
        category="top", subcategory="t-shirt", color=("red",), sleeve_length="short"
    )
    assert (a1.bbox, a1.split, a1.item_id, a1.role) == ((4.0, 6.0, 28.0, 40.0), "train", "sku-1", "shop")
    assert_box_crop(a1)
    assert (a2.captions, a2.role, a2.position) == (("A person wearing a red t-shirt.",), "consumer", "top")
    assert (b1.captions, b1.attributes, b1.bbox, b1.split) == ((), None, None, "dev")
    assert [s.id for s in read("manifest", "dev")] == ["b1"]
    assert read("manifest", root=FIXTURES / "manifest" / "manifest.jsonl") == list(samples.values())


def test_manifest_round_trip(tmp_path: Path) -> None:
    root = shutil.copytree(FIXTURES / "manifest", tmp_path / "copy")
    samples = read("manifest", root=root)
    # Written beside the images: paths stay relative, so the folder can move.
    assert manifest.write(samples, root / "again.jsonl") == 3
    assert json.loads((root / "again.jsonl").read_text().splitlines()[0])["image"] == "photos/a1.jpg"
    assert read("manifest", root=root / "again.jsonl") == samples
    # Written elsewhere: absolute paths, read back unchanged.
    elsewhere = tmp_path / "elsewhere" / "out.jsonl"
    elsewhere.parent.mkdir()
    manifest.write(samples, elsewhere)
    assert json.loads(elsewhere.read_text().splitlines()[0])["image"] == str(
        (root / "photos/a1.jpg").resolve()
    )
    assert read("manifest", root=elsewhere) == [replace(s, image=s.image.resolve()) for s in samples]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"image": "a.jpg"}', "missing required field\\(s\\) id"),
        (
            '{"id": "x", "image": "a.jpg", "attributes": {"category": "top", "color": ["teal"]}}',
            "invalid color: 'teal'",
        ),
        ('{"id": "x", "image": "a.jpg", "role": "buyer"}', "role must be one of shop, consumer"),
        ("[1, 2]", "expected a JSON object"),
        ("{oops", "malformed JSON"),
    ],
)
def test_manifest_errors_name_the_line(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "manifest.jsonl"
    path.write_text('{"id": "ok", "image": "ok.jpg"}\n\n' + line + "\n")
    with pytest.raises(ValueError, match=f"manifest.jsonl:3: .*{message}"):
        read("manifest", root=tmp_path)


def test_clothing_fixture() -> None:
    samples = read("clothing")
    assert [s.id for s in samples] == [
        "00003aeb",
        "025b653a",
        "ccp-0005#bottom",
        "ccp-0005#outer",
        "ccp-0005#top",
    ]
    product, other, *street = samples
    assert (product.role, product.source, product.split, product.position) == (
        "shop",
        "clothing-dataset",
        "train",
        None,
    )
    assert product.attributes.subcategory == "t-shirt" and product.captions[0].startswith("A ")
    assert other.attributes is None and other.captions
    assert {s.role for s in street} == {"consumer"} and {s.image.name for s in street} == {"0005.jpg"}
    assert [s.position for s in street] == ["bottom", "outer", "top"]
    assert product.load(crop=True).size == product.load().size  # no bbox: crop keeps the whole photo


def test_clothing_real_data(clothing_dir: Path) -> None:
    samples = read("clothing", root=clothing_dir)
    assert len(samples) == 5018
    assert len({s.id for s in samples}) == 5018
    assert Counter(s.split for s in samples) == {"train": 4418, "dev": 600}
    assert Counter(s.role for s in samples) == {"shop": 3738, "consumer": 1280}
    assert sum(s.attributes is None for s in samples) == 22  # category "other"
    assert all(s.image.is_file() and s.captions for s in samples)
    assert [s.id for s in read("clothing", "dev", clothing_dir)] == [
        s.id for s in samples if s.split == "dev"
    ]


def test_read_dataset_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown dataset layout 'coco'; known: deepfashion-mm, facad"):
        read("coco")
    with pytest.raises(FileNotFoundError, match="dataset root not found"):
        read("folder", root=tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="bbox list not found"):
        read("deepfashion-c2s", root=tmp_path)


def test_sample_validates_and_reports_bad_boxes_as_load_errors() -> None:
    with pytest.raises(ValueError, match="role must be"):
        Sample(id="x", image=Path("x.jpg"), role="buyer")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="4 numbers"):
        Sample(id="x", image=Path("x.jpg"), bbox=(1, 2, 3))  # type: ignore[arg-type]
    image = FIXTURES / "manifest" / "photos" / "b1.jpg"
    sample = Sample(id="x", image=str(image), bbox=[40, 0, 50, 10], item_id=7)  # type: ignore[arg-type]
    assert (sample.image, sample.bbox, sample.item_id) == (image, (40.0, 0.0, 50.0, 10.0), "7")
    with pytest.raises(ImageLoadError, match="bad bbox for sample x"):
        sample.load(crop=True)
