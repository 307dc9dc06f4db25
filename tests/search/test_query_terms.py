"""Taxonomy terms in query text, and the re-ranking by them, alone and inside SearchEngine."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from search_helpers import solid

from fashionlens.search.engine import SearchEngine
from fashionlens.search.indexer import index_catalogue
from fashionlens.search.query_terms import find_terms, rerank


def test_longest_phrase_wins_and_brings_its_category() -> None:
    assert find_terms("Red MINI   dress") == (
        ("color", "red"),
        ("subcategory", "mini dress"),
        ("category", "dress"),
    )
    assert find_terms("blue shirt dress") == (
        ("color", "blue"),
        ("subcategory", "shirt dress"),
        ("category", "dress"),
    )
    assert find_terms("a navy t-shirt") == (
        ("color", "navy"),
        ("subcategory", "t-shirt"),
        ("category", "top"),
    )


def test_only_whole_words_match_and_nothing_named_gives_no_terms() -> None:
    assert find_terms("reddish topcoat") == ()
    assert find_terms("something comfy for the weekend") == ()
    assert find_terms("dress, dress; red!") == (("category", "dress"), ("color", "red"))


def test_rerank_adds_a_bonus_per_satisfied_term() -> None:
    results = [
        {"id": "a", "score": 0.50, "attributes": {"category": "top", "color": ["blue"]}},
        {"id": "b", "score": 0.45, "attributes": {"category": "dress", "color": ["red", "white"]}},
        {"id": "c", "score": 0.40, "attributes": {}},
    ]
    ranked = rerank(results, find_terms("red dress"), bonus=0.1)
    assert [r["id"] for r in ranked] == ["b", "a", "c"]
    assert ranked[0]["score"] == pytest.approx(0.65)
    assert [r["id"] for r in rerank(results, find_terms("red dress"), bonus=0.0)] == ["a", "b", "c"]


def _engine(tmp_path: Path, model, items: list[tuple[str, str, str, str]]) -> SearchEngine:
    """An index of solid-colour photos (id, pixel colour, tagged colour, category)."""
    lines = []
    for item_id, pixels, tag, category in items:
        solid(pixels).save(tmp_path / f"{item_id}.png")
        record = {"id": item_id, "image": f"{item_id}.png", "category": category, "color": [tag], "price": 10}
        lines.append(json.dumps(record) + "\n")
    (tmp_path / "catalogue.jsonl").write_text("".join(lines))
    index_catalogue(tmp_path / "catalogue.jsonl", tmp_path / "db", model, "color", progress=False)
    return SearchEngine.open(tmp_path / "db", model=model)


def test_engine_moves_an_item_tagged_with_the_named_colour_up(color_model, tmp_path: Path) -> None:
    # A grey photo tagged red: the stand-in embeds "red" close to orange pixels and far from grey ones.
    items = [
        ("red", "red", "red", "top"),
        ("orange", "orange", "orange", "top"),
        ("grey", "gray", "red", "top"),
    ]
    engine = _engine(tmp_path, color_model, items)
    engine.term_bonus = 0.0
    assert [r["id"] for r in engine.search(text="red top", k=3)] == ["red", "orange", "grey"]
    engine.term_bonus = 1.0
    results = engine.search(text="red top", k=3)
    assert [r["id"] for r in results] == ["red", "grey", "orange"]
    assert results[0]["score"] == pytest.approx(3.0, abs=1e-3)  # cosine 1 plus colour and category bonuses


def test_queries_naming_nothing_are_unchanged(catalogue: Path, color_model, tmp_path: Path) -> None:
    index_catalogue(catalogue, tmp_path / "db", color_model, "color", progress=False)
    engine = SearchEngine.open(tmp_path / "db", model=color_model)
    before = engine.search(image=solid("navy"), text="something comfy", k=5)
    engine.term_bonus = 10.0
    assert engine.search(image=solid("navy"), text="something comfy", k=5) == before
    filtered = engine.search(text="pink dress", k=5, where="price < 70")
    assert filtered and "pink-dress" not in [r["id"] for r in filtered]
    assert all(r["price"] < 70 for r in filtered)
