"""The store on plain numpy vectors: exact and HNSW search, filters, updates, reconciliation, locking."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from fashionlens.search import store as store_module
from fashionlens.search.store import Store, StoredItem
from fashionlens.search.where import parse_where

DIM = 16
CATEGORIES = ["top", "pants", "dress", "skirt"]
COLORS = ["red", "blue", "black", "white", "green"]


def unit(rng: np.random.Generator, n: int) -> np.ndarray:
    x = rng.standard_normal((n, DIM)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def item(i: int, vector: np.ndarray, content: str | None = None, title: str | None = None) -> StoredItem:
    colors = [COLORS[i % 5]] + ([COLORS[(i + 2) % 5]] if i % 3 == 0 else [])
    return StoredItem(
        id=f"item-{i}",
        image=f"img/{i}.jpg",
        path=f"/nowhere/{i}.jpg",
        content_hash=content or f"hash-{i}",
        record_hash="r",
        caption=f"caption {i}",
        attributes={"category": CATEGORIES[i % 4], "color": colors, "details": []},
        fields={"title": title or f"Item {i}", "price": float(i), "in_stock": i % 2 == 0},
        vector=vector,
    )


def build(db: Path, vectors: np.ndarray) -> None:
    store = Store.create(db, "test-model", DIM)
    store.upsert([item(i, v) for i, v in enumerate(vectors)])
    store.save_index()
    store.close()


def brute_force(
    vectors: np.ndarray, query: np.ndarray, k: int, allowed: list[int] | None = None
) -> list[int]:
    """Indices of the exact top-k (vids are index + 1: SQLite numbers rows from 1)."""
    scores = vectors @ query
    candidates = np.arange(len(vectors)) if allowed is None else np.array(allowed, dtype=np.int64)
    order = candidates[np.argsort(-scores[candidates], kind="stable")]
    return (order[:k] + 1).tolist()


def test_roundtrip_and_exact_search(tmp_path: Path) -> None:
    vectors = unit(np.random.default_rng(0), 200)
    build(tmp_path / "db", vectors)
    store = Store.open(tmp_path / "db")
    assert store.count() == 200 and store.kind == "flat"
    assert store.meta["model"] == "test-model" and store.meta["dim"] == DIM
    vids, scores = store.search(vectors[7], k=5)
    assert vids.tolist() == brute_force(vectors, vectors[7], 5)
    assert scores[0] == pytest.approx(1.0, abs=1e-5) and list(scores) == sorted(scores, reverse=True)
    record = store.items([vids[0]])[int(vids[0])]
    assert record == {
        "id": "item-7",
        "image": "img/7.jpg",
        "caption": "caption 7",
        "attributes": {"category": "skirt", "color": ["black"], "details": []},
        "title": "Item 7",
        "price": 7.0,
        "in_stock": False,
    }
    assert store.get("item-7") == record and store.get("nope") is None
    assert store.catalogue_fields() == ("in_stock", "price", "title")
    # Taxonomy order, not insertion order.
    assert store.facets() == {"category": ["top", "dress", "pants", "skirt"], "color": COLORS}
    with pytest.raises(Exception, match="readonly"):
        store.upsert([item(999, vectors[0])])


WHERE = [
    "category = 'top'",
    "color = 'black'",  # list field: any element
    "color != 'black' AND price < 50",
    "category IN ('dress', 'skirt') OR price >= 190",
    "NOT (in_stock = TRUE) AND title = 'Item 33'",
    "price > 1000",
]


@pytest.mark.parametrize("where", WHERE)
def test_filtered_search_equals_brute_force(tmp_path: Path, where: str) -> None:
    vectors = unit(np.random.default_rng(1), 200)
    build(tmp_path / "db", vectors)
    store = Store.open(tmp_path / "db")
    expr = parse_where(where, store.catalogue_fields())
    allowed = [i for i in range(200) if _matches(i, where)]
    query = unit(np.random.default_rng(2), 1)[0]
    vids, _ = store.search(query, k=10, where=expr)
    assert vids.tolist() == brute_force(vectors, query, 10, allowed)


def _matches(i: int, where: str) -> bool:
    """The WHERE cases above, written out in Python over the attributes of `item(i)`."""
    attributes, fields = item(i, np.zeros(DIM)).attributes, item(i, np.zeros(DIM)).fields
    category, colors, price = attributes["category"], attributes["color"], fields["price"]
    return {
        WHERE[0]: category == "top",
        WHERE[1]: "black" in colors,
        WHERE[2]: "black" not in colors and price < 50,
        WHERE[3]: category in ("dress", "skirt") or price >= 190,
        WHERE[4]: not fields["in_stock"] and fields["title"] == "Item 33",
        WHERE[5]: False,
    }[where]


def test_hnsw_search_and_both_filter_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "HNSW_MIN_ITEMS", 100)
    vectors = unit(np.random.default_rng(3), 2000)
    build(tmp_path / "db", vectors)
    store = Store.open(tmp_path / "db")
    assert store.kind == "hnsw"
    queries = unit(np.random.default_rng(4), 20)
    recall = np.mean(
        [len(set(store.search(q, 10)[0].tolist()) & set(brute_force(vectors, q, 10))) / 10 for q in queries]
    )
    assert recall >= 0.95
    expr = parse_where("category = 'top'")
    allowed = [i for i in range(2000) if i % 4 == 0]
    for exact_max in (10**6, 0):  # all passing items scored exactly / over-fetch from HNSW
        monkeypatch.setattr(store_module, "EXACT_FILTER_MAX", exact_max)
        for q in queries[:5]:
            vids, _ = store.search(q, 10, expr)
            assert all((v - 1) % 4 == 0 for v in vids.tolist())
            assert len(set(vids.tolist()) & set(brute_force(vectors, q, 10, allowed))) >= 9


def test_updates_keep_or_renew_vids_and_index_follows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    vectors = unit(np.random.default_rng(5), 50)
    build(tmp_path / "db", vectors)
    store = Store.create(tmp_path / "db", "test-model", DIM)
    # Same image, new title: same vid, stored vector untouched.
    store.upsert([item(3, vectors[0], title="Renamed")])
    assert store.items([4])[4]["title"] == "Renamed"
    # New image: new vid (51), old vid gone; its filter rows follow.
    store.upsert([item(5, vectors[0], content="new-hash")])
    assert 6 not in store.items([6]) and store.items([51])[51]["id"] == "item-5"
    assert store.remove(["item-9", "missing"]) == ["item-9"]
    store.save_index()
    assert store.hashes()["item-5"] == ("new-hash", "r") and "item-9" not in store.hashes()
    store.close()
    reader = Store.open(tmp_path / "db")
    assert reader.count() == 49
    vids, _ = reader.search(vectors[0], k=2)
    assert set(vids.tolist()) == {1, 51}
    assert reader.search(vectors[3], k=1)[0].tolist() == [4]  # vector of item-3 kept
    assert 10 not in reader.search(vectors[9], k=49)[0].tolist()
    renamed = parse_where("title = 'Renamed'", reader.catalogue_fields())
    assert reader.search(vectors[0], 5, renamed)[0].tolist() == [4]


def test_reopen_reconciles_a_stale_or_missing_vector_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    vectors = unit(np.random.default_rng(6), 300)
    build(tmp_path / "db", vectors[:200])
    # A run that committed rows but died before saving the FAISS file.
    store = Store.create(tmp_path / "db", "test-model", DIM)
    store.upsert([item(i, vectors[i]) for i in range(200, 300)])
    store.remove(["item-0"])
    store.close()
    reader = Store.open(tmp_path / "db")
    assert reader.index().ntotal == 299
    assert reader.search(vectors[250], 1)[0].tolist() == [251]
    assert 1 not in reader.search(vectors[0], 5)[0].tolist()
    (tmp_path / "db" / "vectors.faiss").unlink()
    monkeypatch.setattr(store_module, "HNSW_MIN_ITEMS", 250)  # and the kind switches on rebuild
    rebuilt = Store.open(tmp_path / "db")
    assert rebuilt.kind == "hnsw" and rebuilt.index().ntotal == 299
    assert rebuilt.search(vectors[250], 1)[0].tolist() == [251]


def test_visual_space_is_reconciled_and_filtered_like_the_joint_one(tmp_path: Path) -> None:
    rng = np.random.default_rng(8)
    joint, visual = unit(rng, 120), unit(rng, 120)[:, : DIM // 2] * np.sqrt(2)  # visual: another width
    visual /= np.linalg.norm(visual, axis=1, keepdims=True)
    store = Store.create(tmp_path / "db", "test-model", DIM, visual_dim=DIM // 2)
    store.upsert([dataclasses.replace(item(i, joint[i]), visual=visual[i]) for i in range(100)])
    store.save_index()
    # A run that died before saving: new items, a removal, and the visual file lost.
    store.upsert([dataclasses.replace(item(i, joint[i]), visual=visual[i]) for i in range(100, 120)])
    store.remove(["item-1", "item-4"])
    store.close()
    (tmp_path / "db" / "visual.faiss").unlink()
    reader = Store.open(tmp_path / "db")
    assert reader.dims == {"joint": DIM, "visual": DIM // 2} and reader.meta["visual_dim"] == DIM // 2
    assert reader.index("joint").ntotal == reader.index("visual").ntotal == 118
    where = "category = 'top'"
    allowed = [i for i in range(120) if i % 4 == 0 and i not in (1, 4)]
    for space, vectors in (("joint", joint), ("visual", visual)):
        query = vectors[110]
        assert (
            reader.search(query, 10, space=space)[0].tolist()
            == [v for v in brute_force(vectors, query, 12) if v not in (2, 5)][:10]
        )
        filtered = reader.search(query, 10, parse_where(where), space)[0].tolist()
        assert filtered == brute_force(vectors, query, 10, allowed)
    with pytest.raises(ValueError, match="visual dim 8"):
        Store.create(tmp_path / "db", "test-model", DIM, visual_dim=4)


def test_one_writer_at_a_time_and_model_mismatch(tmp_path: Path) -> None:
    writer = Store.create(tmp_path / "db", "test-model", DIM)
    with pytest.raises(RuntimeError, match="another indexing run"):
        Store.create(tmp_path / "db", "test-model", DIM)
    writer.close()
    with pytest.raises(ValueError, match="built with model 'test-model'"):
        Store.create(tmp_path / "db", "other-model", DIM)
    with pytest.raises(FileNotFoundError, match="no index at"):
        Store.open(tmp_path / "empty")
    assert not list((tmp_path / "db").glob(".*.tmp"))
