"""SearchEngine over a catalogue indexed with the colour stand-in: photo, text, both, box, filters, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from search_helpers import ITEMS, solid

from fashionlens.search.engine import SearchEngine, SearchError
from fashionlens.search.indexer import index_catalogue
from fashionlens.search.store import META_FILE, SPACES


@pytest.fixture
def engine(catalogue: Path, color_model, tmp_path: Path) -> SearchEngine:
    index_catalogue(catalogue, tmp_path / "db", color_model, "color", progress=False)
    return SearchEngine.open(tmp_path / "db", model=color_model)


def ids(results: list[dict]) -> list[str]:
    return [r["id"] for r in results]


def test_text_and_photo_queries_rank_the_matching_item_first(engine: SearchEngine) -> None:
    for item_id, _, color, _ in ITEMS:
        assert ids(engine.search(text=f"a {color} garment", k=3))[0] == item_id
        by_photo = engine.search(image=solid(color, (200, 120)), k=len(ITEMS))
        assert ids(by_photo)[0] == item_id and len(by_photo) == len(ITEMS)
        assert by_photo[0]["score"] == pytest.approx(1.0, abs=1e-4)
    result = engine.search(text="red", k=1)[0]
    assert list(result)[:5] == ["id", "score", "image", "caption", "attributes"]
    assert result["title"] == "Red top" and result["url"] == "https://shop.example/red-top"
    assert result["image"] == "img/red-top.png" and result["attributes"]["category"] == "top"


def test_photo_plus_text_combines_both(engine: SearchEngine) -> None:
    # A navy photo with the words "black": both navy and black items lead, ahead of any other colour.
    top2 = ids(engine.search(image=solid("navy"), text="black", k=2))
    assert set(top2) == {"navy-pants", "black-top"}


def space_scores(engine: SearchEngine, space: str, query: np.ndarray) -> dict[str, float]:
    """Cosine of `query` with every stored item in `space`, by id."""
    ids_ = [item_id for item_id, *_ in ITEMS]
    return {i: float(v @ query) for i, v in engine.store.vectors_by_id(ids_, space).items()}


def test_photo_queries_search_the_visual_space_and_text_the_joint_space(engine: SearchEngine) -> None:
    model = engine.model
    features = model.image_features([solid("mint")])  # a colour no item has: rankings differ by space
    visual = space_scores(engine, "visual", model.visual_embed_features(features)[0].numpy())
    joint = space_scores(engine, "joint", model.embed_image_features(features)[0].numpy())
    by_visual, by_joint = (sorted(scores, key=scores.__getitem__, reverse=True) for scores in (visual, joint))
    assert by_visual[:3] != by_joint[:3]  # else this test could not tell the spaces apart
    results = engine.search(image=solid("mint"), k=len(ITEMS))
    assert ids(results) == by_visual
    assert [r["score"] for r in results] == pytest.approx([visual[i] for i in by_visual], abs=1e-5)
    boxed = engine.search(image=solid("mint", (100, 100)), box=(10, 10, 90, 90), k=3)
    assert ids(boxed) == by_visual[:3]
    text = model.embed_texts(["mint"])[0].numpy()
    by_text = engine.search(text="mint", k=len(ITEMS))
    assert [r["score"] for r in by_text] == pytest.approx(
        sorted(space_scores(engine, "joint", text).values(), reverse=True), abs=1e-5
    )


def test_index_without_visual_vectors_searches_photos_in_the_joint_space(
    catalogue: Path, color_model, tmp_path: Path
) -> None:
    db = tmp_path / "db"
    index_catalogue(catalogue, db, color_model, "color", progress=False)
    meta = json.loads((db / META_FILE).read_text())
    del meta["visual_dim"]  # as written before indexes had visual vectors
    (db / META_FILE).write_text(json.dumps(meta))
    (db / SPACES["visual"].file).unlink()
    old = SearchEngine.open(db, model=color_model)
    query = color_model.embed_images([solid("mint")])[0].numpy()
    joint = space_scores(old, "joint", query)
    results = old.search(image=solid("mint"), k=len(ITEMS))
    assert [r["score"] for r in results] == pytest.approx(sorted(joint.values(), reverse=True), abs=1e-5)
    with pytest.raises(ValueError, match="re-index the catalogue into a new --db directory"):
        index_catalogue(catalogue, db, color_model, "color", progress=False)


def test_box_searches_only_that_region(engine: SearchEngine) -> None:
    scene = Image.new("RGB", (200, 100), (255, 255, 255))
    scene.paste(solid("green", (100, 100)), (0, 0))
    scene.paste(solid("pink", (100, 100)), (100, 0))
    assert ids(engine.search(image=scene, box=(0, 0, 100, 100), k=1)) == ["green-skirt"]
    assert ids(engine.search(image=scene, box=(100.0, 0.0, 200.0, 100.0), k=1)) == ["pink-dress"]


def test_where_filters_on_attributes_and_catalogue_fields(engine: SearchEngine) -> None:
    tops = {"red-top", "black-top", "yellow-top"}
    assert set(ids(engine.search(text="red", k=20, where="category = 'top'"))) == tops
    assert ids(engine.search(text="red", k=20, where="price < 20")) == ["red-top", "yellow-top"]
    assert ids(engine.search(text="blue", k=2, where="color IN ('blue', 'navy') AND NOT price > 42")) == [
        "blue-pants"
    ]
    small_not_red = engine.search(text="red", k=5, where="sizes = 'S' AND color != 'red'")
    assert set(ids(small_not_red)) == tops - {"red-top"}
    assert engine.search(text="red", where="title = 'No such thing'") == []
    assert len(engine.search(text="red", where="   ")) == len(ITEMS)  # blank filter = no filter


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "give a photo, a text, or both"),
        ({"text": "  "}, "give a photo, a text, or both"),
        ({"text": "red", "k": 0}, "k must be a whole number from 1 to 1000"),
        ({"text": "red", "k": 2.5}, "k must be a whole number"),
        ({"text": "red", "box": (0, 0, 10, 10)}, "a box needs a photo"),
        ({"image": solid("red"), "box": (10, 10, 5, 20)}, "empty or inverted box"),
        ({"image": solid("red"), "box": (500, 500, 600, 600)}, "lies outside the 48x64 image"),
        ({"image": solid("red"), "box": (0, 0, float("nan"), 5)}, "four finite numbers"),
        ({"text": "red", "where": "brand = 'x'"}, "unknown field 'brand' (filterable: button, category"),
        ({"text": "red", "where": "price < 'cheap'"}, "< compares numbers"),
        ({"text": "red", "where": "category = 'top' AND"}, "at column 21: expected a condition"),
    ],
)
def test_bad_queries_raise_search_error(engine: SearchEngine, kwargs: dict, message: str) -> None:
    with pytest.raises(SearchError) as caught:
        engine.search(**kwargs)
    assert message in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_items_images_facets_and_describe(engine: SearchEngine, catalogue: Path) -> None:
    assert engine.count() == len(ITEMS)
    item = engine.get("white-dress")
    assert item is not None and "score" not in item and item["price"] == 60.0
    assert item["caption"] == "A white dress."  # template caption of the catalogue's tags
    assert engine.get("nope") is None
    assert engine.image_path("white-dress") == (catalogue.parent / "img/white-dress.png").resolve()
    for bad in ("nope", "../catalogue.jsonl", str(catalogue), "img/white-dress.png"):
        assert engine.image_path(bad) is None
    (catalogue.parent / "img/white-dress.png").unlink()
    assert engine.image_path("white-dress") is None  # file gone since indexing
    (catalogue.parent / "img/white-dress.png").symlink_to(catalogue)
    assert engine.image_path("white-dress") is None  # swapped for a link elsewhere
    assert engine.facets() == {  # present values only, in taxonomy order
        "category": ["top", "dress", "pants", "skirt"],
        "color": ["red", "blue", "navy", "pink", "black", "white", "green", "yellow"],
    }
    described = engine.describe(solid("mint"))
    assert described["attributes"]["color"] == ["mint"]
    assert described["caption"].startswith("A ") and "mint" in described["caption"]


def test_open_errors(tmp_path: Path, color_model) -> None:
    with pytest.raises(FileNotFoundError, match="no index at"):
        SearchEngine.open(tmp_path / "nothing", model=color_model)
