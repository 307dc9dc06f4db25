"""Indexing: catalogue formats, bad inputs skipped, incremental re-runs, removal, and kill -9 mid-run."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from search_helpers import ITEMS, solid

from fashionlens.model.colours import colour_features
from fashionlens.model.heads import AttributeHeads
from fashionlens.search.engine import SearchEngine
from fashionlens.search.indexer import index_catalogue, read_catalogue
from fashionlens.search.store import Store
from fashionlens.taxonomy import GarmentAttributes


def test_folder_catalogue_ids_are_relative_paths_without_extension(photo_folder: Path) -> None:
    items, failed = read_catalogue(photo_folder)
    assert [i.id for i in items] == ["broken", "skirt", "tops/blue", "tops/red"]
    assert items[3].image == "tops/red.jpg" and items[3].path == (photo_folder / "tops/red.jpg").resolve()
    assert items[3].attributes is None and items[3].fields == {} and failed == []


def test_jsonl_catalogue_keeps_fields_and_tags_and_reports_bad_lines(catalogue: Path) -> None:
    with catalogue.open("a") as f:
        f.write(json.dumps({"image": "img/red-top.png"}) + "\n")
        f.write(
            json.dumps({"id": "bad-tag", "image": "img/red-top.png", "category": "top", "color": ["rde"]})
            + "\n"
        )
        f.write(json.dumps({"id": "red-top", "image": "img/black-top.png"}) + "\n")
        f.write(
            json.dumps(
                {"id": 7, "image": "/abs/x.jpg", "caption": "Mine.", "attributes": {"category": "skirt"}}
            )
        )
    items, failed = read_catalogue(catalogue)
    assert [i.id for i in items] == [i[0] for i in ITEMS] + ["7"]
    first = items[0]
    assert first.fields == {
        "title": "Red top",
        "url": "https://shop.example/red-top",
        "price": 19.0,
        "sizes": ["S", "M"],
    }
    assert first.attributes is not None and first.attributes.color == ("red",) and first.caption is None
    assert first.path == (catalogue.parent / "img/red-top.png").resolve()
    assert items[-1].path == Path("/abs/x.jpg") and items[-1].caption == "Mine."
    assert items[-1].attributes is not None and items[-1].attributes.category == "skirt"
    reasons = [(where.rsplit(":", 1)[1], reason) for where, reason in failed]
    assert reasons[0] == ("9", "missing or invalid 'id'")
    assert reasons[1][0] == "10" and "invalid color: 'rde'" in reasons[1][1]
    assert reasons[2][0] == "11" and "duplicate id 'red-top'" in reasons[2][1]


def test_index_skips_bad_images_and_reruns_incrementally(
    photo_folder: Path, color_model, tmp_path: Path
) -> None:
    db = tmp_path / "db"
    report = index_catalogue(photo_folder, db, color_model, "color", progress=False)
    assert (report.added, report.total, report.index_kind) == (3, 3, "flat")
    assert [item_id for item_id, _ in report.failed] == ["broken"]
    assert color_model.images_embedded == 3

    engine = SearchEngine.open(db, model=color_model)
    red = engine.get("tops/red")
    assert red is not None and red["attributes"]["color"] == ["red"]  # auto-tagged
    assert red["caption"] == f"A red {red['attributes']['subcategory']}." or red["caption"].startswith("A ")
    assert engine.image_path("tops/red") == (photo_folder / "tops/red.jpg").resolve()

    again = index_catalogue(photo_folder, db, color_model, "color", progress=False)
    assert (again.added, again.reembedded, again.unchanged) == (0, 0, 3)
    assert color_model.images_embedded == 3  # nothing re-embedded

    solid("yellow").save(photo_folder / "tops" / "red.jpg")  # same id, new image
    solid("pink").save(photo_folder / "new.png")
    changed = index_catalogue(photo_folder, db, color_model, "color", remove=["skirt"], progress=False)
    # skirt.png is still in the folder: --remove wins for this run.
    assert (changed.added, changed.reembedded, changed.unchanged, changed.removed) == (1, 1, 1, ["skirt"])
    assert color_model.images_embedded == 5
    engine = SearchEngine.open(db, model=color_model)
    assert engine.count() == 3 and engine.get("skirt") is None
    assert engine.get("tops/red")["attributes"]["color"] == ["yellow"]
    assert [r["id"] for r in engine.search(text="yellow", k=1)] == ["tops/red"]
    # The photo (visual) index followed the new image and the removal too.
    by_photo = engine.search(image=solid("yellow"), k=10)
    assert by_photo[0]["id"] == "tops/red" and by_photo[0]["score"] == pytest.approx(1.0, abs=1e-5)
    assert "skirt" not in [r["id"] for r in by_photo] and len(by_photo) == 3
    yellow = color_model.image_features([photo_folder / "tops/red.jpg"])  # the new JPEG, as indexed
    expected = color_model.visual_embed_features(yellow)[0].numpy()
    assert engine.store.vectors_by_id(["tops/red"], "visual")["tops/red"] == pytest.approx(expected, abs=1e-6)
    assert_spaces_in_sync(engine.store)


def test_edited_catalogue_line_refreshes_without_embedding(
    catalogue: Path, color_model, tmp_path: Path
) -> None:
    db = tmp_path / "db"
    index_catalogue(catalogue, db, color_model, "color", progress=False)
    lines = catalogue.read_text().splitlines()
    record = json.loads(lines[0])
    record["price"] = 9.99
    record.pop("category")
    record.pop("color")  # tags dropped: now auto-tagged from the stored embedding
    gone = {"id": "gone", "image": "img/gone.png"}
    catalogue.write_text("\n".join([json.dumps(record), *lines[1:], json.dumps(gone)]) + "\n")
    embedded = color_model.images_embedded
    report = index_catalogue(catalogue, db, color_model, "color", progress=False)
    assert (report.refreshed, report.unchanged, color_model.images_embedded) == (1, len(ITEMS) - 1, embedded)
    assert report.failed == [
        ("gone", f"cannot read {catalogue.parent / 'img/gone.png'}: No such file or directory")
    ]
    engine = SearchEngine.open(db, model=color_model)
    assert engine.get("red-top")["price"] == 9.99
    assert engine.get("red-top")["attributes"]["color"] == ["red"]
    assert [r["id"] for r in engine.search(text="red", k=1, where="price < 10")] == ["red-top"]


SLOW_INDEXER = """
import sys
sys.path.insert(0, {tests!r})
from search_helpers import ColorModel
from fashionlens.search.indexer import index_catalogue
index_catalogue({catalogue!r}, {db!r}, ColorModel(delay=0.3), "color", batch_size=2, progress=False)
"""


def test_killed_run_leaves_a_consistent_store_and_rerun_completes(tmp_path: Path, color_model) -> None:
    root = tmp_path / "many"
    root.mkdir()
    colors = ["red", "blue", "green", "black", "white", "pink", "navy", "yellow", "mint", "beige"] * 3
    for i, color in enumerate(colors):
        solid(color).save(root / f"{i:02d}-{color}.png")
    db = tmp_path / "db"
    script = SLOW_INDEXER.format(tests=str(Path(__file__).parent), catalogue=str(root), db=str(db))
    process = subprocess.Popen([sys.executable, "-c", script], env={**os.environ, "HF_HUB_OFFLINE": "1"})
    deadline = time.monotonic() + 60
    committed = 0
    while committed < 4 and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
        try:
            with sqlite3.connect(f"file:{db / 'items.sqlite'}?mode=ro", uri=True, timeout=5) as conn:
                committed = conn.execute("SELECT COUNT(*) FROM items").fetchone()[0]
        except sqlite3.OperationalError:  # not created yet
            pass
    assert process.poll() is None, "indexing finished before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()

    engine = SearchEngine.open(db, model=color_model)  # no vectors.faiss yet: rebuilt from SQLite
    partial = engine.count()
    assert 4 <= partial < len(colors) and partial % 2 == 0  # whole batches only
    assert engine.store.index("joint").ntotal == engine.store.index("visual").ntotal == partial
    first = engine.search(text="red", k=1)[0]
    assert first["id"] == "00-red" and first["attributes"]["color"] == ["red"]

    report = index_catalogue(root, db, color_model, "color", progress=False)
    assert (report.unchanged, report.added, report.total) == (partial, len(colors) - partial, len(colors))
    assert color_model.images_embedded == len(colors) - partial
    store = Store.open(db)
    assert store.count() == len(colors) and len(set(store.hashes())) == len(colors)
    assert store._conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert_spaces_in_sync(store)


def assert_spaces_in_sync(store: Store) -> None:
    """Both FAISS indexes hold exactly the stored items, each item under the same vid in both."""
    import faiss

    assert set(store.dims) == {"joint", "visual"}
    for space in store.dims:
        assert sorted(faiss.vector_to_array(store.index(space).id_map).tolist()) == store.vids().tolist()


def test_tiny_random_end_to_end_on_the_synthetic_catalogue(tmp_path: Path) -> None:
    model_package = pytest.importorskip("fashionlens.model", reason="model package not built yet")
    from fashionlens.data.synthetic import generate_catalogue

    manifest = generate_catalogue(4, tmp_path / "synth", seed=0, consumer_per_item=1)
    model = model_package.create_model("tiny-random").eval()
    report = index_catalogue(manifest, tmp_path / "db", model, "tiny-random", progress=False)
    assert (report.added, report.failed, report.total) == (8, [], 8)
    engine = SearchEngine.open(tmp_path / "db")  # rebuilds tiny-random from meta.json
    records = [json.loads(line) for line in manifest.read_text().splitlines()]
    results = engine.search(image=solid("red"), text="a red top", k=8)
    assert {r["id"] for r in results} == {r["id"] for r in records}
    shop = engine.get(records[0]["id"])
    assert shop["attributes"]["category"] == records[0]["category"]  # the catalogue's own tags
    assert shop["caption"] == records[0]["caption"] and shop["item_id"] == records[0]["item_id"]
    described = engine.describe(solid("blue"))
    assert described["caption"].endswith(".") and described["attributes"]["category"] != "other"


def test_attribute_heads_tag_new_and_refreshed_items_from_their_photos(
    catalogue: Path, color_model, tmp_path: Path
) -> None:
    kinds = {"top": "t-shirt", "pants": "slacks", "dress": "long dress", "skirt": "mini skirt"}
    photos = [solid(color) for _, _, color, _ in ITEMS]
    tags = [GarmentAttributes(c, subcategory=kinds[c], color=(color,)) for _, c, color, _ in ITEMS]
    inputs = {"view": color_model.garment_views(photos).numpy(), "histogram": colour_features(photos).numpy()}
    color_model.attribute_heads = AttributeHeads.fit(inputs, tags, color_model.encoder_id, steps=100)
    records = [json.loads(line) for line in catalogue.read_text().splitlines()]
    for record in records:  # untagged: every item is auto-tagged by the heads
        record.pop("category"), record.pop("color")
    catalogue.write_text("".join(json.dumps(r) + "\n" for r in records))
    db = tmp_path / "db"
    index_catalogue(catalogue, db, color_model, "color", progress=False)
    records[0]["price"] = 1.0  # an edited line: re-tagged from its photo
    catalogue.write_text("".join(json.dumps(r) + "\n" for r in records))
    assert index_catalogue(catalogue, db, color_model, "color", progress=False).refreshed == 1
    engine = SearchEngine.open(db, model=color_model)
    for item_id, _, color, _ in ITEMS:
        assert engine.get(item_id)["attributes"]["color"][0] == color
    assert engine.describe(solid("navy"))["attributes"]["color"][0] == "navy"
