"""Micro-batching of concurrent queries in SearchEngine: fewer model calls, same results, shared errors."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import torch
from search_helpers import ITEMS, ColorModel, solid

from fashionlens.search.engine import SearchEngine
from fashionlens.search.indexer import index_catalogue

THREADS = 8


class CountingModel(ColorModel):
    """The colour stand-in, recording the size of every text and photo model call; each call takes a little
    time (as a real model's does), and `fail` makes text calls raise."""

    def __init__(self, fail: bool = False) -> None:
        super().__init__()
        self.fail = fail
        self.text_calls: list[int] = []
        self.photo_calls: list[int] = []

    def embed_texts(self, texts: Sequence[str]) -> torch.Tensor:
        self.text_calls.append(len(texts))
        time.sleep(0.02)
        if self.fail:
            raise RuntimeError("model exploded")
        return super().embed_texts(texts)

    def image_features(self, images: Sequence[Any]) -> torch.Tensor:
        self.photo_calls.append(len(images))
        return super().image_features(images)


@pytest.fixture
def db(catalogue: Path, color_model: ColorModel, tmp_path: Path) -> Path:
    index_catalogue(catalogue, tmp_path / "db", color_model, "color", progress=False)
    return tmp_path / "db"


def concurrently(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run `calls` from THREADS threads released together; each result, or the exception it raised."""
    start = threading.Barrier(len(calls))

    def one(call: Callable[[], Any]) -> Any:
        start.wait()
        try:
            return call()
        except Exception as error:  # the test inspects it
            return error

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(one, calls))


def test_concurrent_queries_share_model_calls_and_match_sequential_results(db: Path) -> None:
    model = CountingModel()
    engine = SearchEngine.open(db, model=model)
    colors = [color for _, _, color, _ in ITEMS][:THREADS]
    queries = [{"text": f"a {c} garment"} for c in colors] + [{"image": solid(c)} for c in colors]
    queries += [{"image": solid(c), "text": "black"} for c in colors]  # photo in the joint space
    unbatched = SearchEngine(engine.store, ColorModel(), batch_window=0)
    sequential = [unbatched.search(**q, k=5) for q in queries]

    results = concurrently([lambda q=q: engine.search(**q, k=5) for q in queries])

    assert results == sequential
    assert sum(model.text_calls) == 2 * THREADS and len(model.text_calls) < 2 * THREADS
    assert sum(model.photo_calls) == 2 * THREADS and len(model.photo_calls) < 2 * THREADS


def test_an_error_in_a_batched_call_reaches_every_caller(db: Path) -> None:
    model = CountingModel(fail=True)
    engine = SearchEngine(SearchEngine.open(db, model=model).store, model, batch_window=0.05)

    results = concurrently([lambda c=c: engine.search(text=c) for _, _, c, _ in ITEMS[:THREADS]])

    assert all(isinstance(r, RuntimeError) and str(r) == "model exploded" for r in results)
    assert len(model.text_calls) < THREADS  # callers did wait on a shared call
    model.fail = False
    assert engine.search(text="red", k=1)[0]["id"] == "red-top"  # the engine still works afterwards


def test_window_zero_calls_the_model_once_per_query(db: Path) -> None:
    model = CountingModel()
    engine = SearchEngine(SearchEngine.open(db, model=model).store, model, batch_window=0)

    results = concurrently([lambda c=c: engine.search(text=c, k=1) for _, _, c, _ in ITEMS[:THREADS]])

    assert [r[0]["id"] for r in results] == [item_id for item_id, *_ in ITEMS[:THREADS]]
    assert model.text_calls == [1] * THREADS
