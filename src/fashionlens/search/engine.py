"""Queries over an index built by `fashionlens index`: by photo (or a box on it), by words, or both.

    engine = SearchEngine.open("catalogue.db")          # the model named in the index's meta.json
    engine.search(image=photo, text="in red", k=20, where="category = 'top' AND price < 50")

Which vectors a query searches:
- a photo alone (or a box on it): the visual space (the frozen encoder's pooled features), which finds the
  same garment far better than the joint space (top-1 0.61 against 0.29 for augmented copies of catalogue
  photos, docs/results.md). An index built before it had visual vectors answers
  photo queries in the joint space;
- words alone: the joint image-text space;
- a photo and words: the joint space, one query: the normalised weighted sum of their embeddings, weight
  `TEXT_WEIGHT` on the text (0.5: both count equally, as both are unit vectors in the same space).
Scores are cosine similarities (in the space searched, so not comparable between query kinds).

Words naming taxonomy values ("red mini dress": a colour, a subcategory, its category; see `query_terms`)
re-rank: max(`RERANK_FETCH`, 5 k) candidates are fetched and each constraint an item's stored attributes
satisfy adds `TERM_BONUS` to its score, for text and photo-plus-text queries alike. Words naming none
change nothing.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from fashionlens.captions import template_caption
from fashionlens.data.sample import Box
from fashionlens.images import crop_box, to_rgb
from fashionlens.search.autotag import predict_tags, tagger_for
from fashionlens.search.query_terms import find_terms, rerank
from fashionlens.search.store import PHRASES_FILE, Store
from fashionlens.search.where import SearchError, parse_where

__all__ = ["MAX_K", "TERM_BONUS", "TEXT_WEIGHT", "SearchEngine", "SearchError", "parse_box"]

#: Weight of the text embedding when a photo and words are given together.
TEXT_WEIGHT = 0.5
#: Score added per taxonomy value named in the query that an item has: the smallest reaching the train plateau
#: (colour right in top 10: 0.50 at 0, 0.60 at 0.05, 0.65 from 0.2 to 1; experiments/tune_term_bonus.py).
TERM_BONUS = 0.2
#: Candidates re-ranked for k results when the query names taxonomy values: max(RERANK_FETCH, 5 k).
RERANK_FETCH = 100
MAX_K = 1000
#: Seconds the first of concurrent queries waits for others to share its model call (see `_Batcher`).
BATCH_WINDOW = 0.002
#: Most queries embedded in one model call.
MAX_BATCH = 16


class _Batch:
    """Queries embedded in one model call; `done` is set once `results` or `error` is."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self.results: list[Any] = []
        self.error: BaseException | None = None
        self.done = threading.Event()


class _Batcher:
    """Micro-batches concurrent calls: `batcher(item)` returns `run([..., item, ...])[i]`, so queries from
    many threads share one model call (eight texts embed in about twice the time of one).

    The first query of a batch leads it: it waits `window` seconds for others to join (so a lone query is
    delayed by at most `window`), then for `lock` (the model), and only then closes the batch, so queries
    arriving while the model is busy ride along in the next call. A batch also closes at `max_batch` queries.
    The leader runs the batch and hands every member its result, or the exception the batch raised.
    `window` 0 runs every query on its own.
    """

    def __init__(
        self, run: Callable[[list[Any]], Sequence[Any]], lock: threading.Lock, window: float, max_batch: int
    ) -> None:
        self.run = run
        self.lock = lock
        self.window = window
        self.max_batch = max_batch
        self._changed = threading.Condition()
        self._open: _Batch | None = None

    def __call__(self, item: Any) -> Any:
        if self.window <= 0:
            with self.lock:
                return self.run([item])[0]
        with self._changed:
            batch = self._open
            leader = batch is None
            if batch is None:
                batch = self._open = _Batch()
            index = len(batch.items)
            batch.items.append(item)
            if len(batch.items) >= self.max_batch:
                self._open = None
                self._changed.notify_all()
        if leader:
            self._lead(batch)
        else:
            batch.done.wait()
        if batch.error is not None:
            raise batch.error
        return batch.results[index]

    def _lead(self, batch: _Batch) -> None:
        deadline = time.monotonic() + self.window
        with self._changed:
            while self._open is batch and (remaining := deadline - time.monotonic()) > 0:
                self._changed.wait(remaining)
        try:
            with self.lock:
                with self._changed:
                    if self._open is batch:
                        self._open = None
                batch.results = list(self.run(batch.items))
        except BaseException as error:
            batch.error = error
        finally:
            batch.done.set()


def parse_box(text: str, name: str = "box") -> Box:
    """A box as typed by a person or sent by the page, "x0,y0,x1,y1" in pixels of the photo; whether it fits
    the photo is checked by `SearchEngine.search`. `name` is how the error message calls the input."""
    try:
        x0, y0, x1, y1 = (float(part) for part in text.split(","))
    except ValueError:
        raise SearchError(f"{name} takes four numbers x0,y0,x1,y1, got {text!r}") from None
    return x0, y0, x1, y1


class SearchEngine:
    """A read-only index plus the model that embeds queries. Thread-safe; model calls run one at a time
    (they are CPU-bound, and Hugging Face tokenizers must not be shared between threads), so concurrent
    queries are embedded together: text queries in one call, photo queries in another, each waiting at most
    `batch_window` seconds for company (0: no batching; see `_Batcher`). `term_bonus`: see module docstring.
    """

    def __init__(
        self,
        store: Store,
        model: Any,
        batch_window: float = BATCH_WINDOW,
        max_batch: int = MAX_BATCH,
        term_bonus: float = TERM_BONUS,
    ) -> None:
        if int(model.embed_dim) != store.dim:
            raise ValueError(f"model embeds into {model.embed_dim} dimensions, the index holds {store.dim}")
        if "visual" in store.dims and int(model.visual_dim) != store.dims["visual"]:
            raise ValueError(
                f"model's visual space has {model.visual_dim} dimensions, "
                f"the index holds {store.dims['visual']}"
            )
        self.store = store
        self.term_bonus = term_bonus
        self.model = model
        self.tagger = tagger_for(model, store.db_dir / PHRASES_FILE)
        self._model_lock = threading.Lock()
        self._embed_text = _Batcher(self._embed_texts, self._model_lock, batch_window, max_batch)
        self._embed_photo = _Batcher(self._embed_photos, self._model_lock, batch_window, max_batch)

    @classmethod
    def open(cls, db_dir: str | Path, model: Any = None) -> SearchEngine:
        """Open the index in `db_dir` with `model`, or the model its meta.json names when None.

        Raises FileNotFoundError when `db_dir` holds no index.
        """
        store = Store.open(db_dir)
        if model is None:
            from fashionlens.model import create_model

            model = create_model(store.meta["model"]).eval()
        return cls(store, model)

    def _embed_texts(self, texts: list[str]) -> list[np.ndarray]:
        return list(np.asarray(self.model.embed_texts(texts)))

    def _embed_photos(self, queries: list[tuple[Image.Image, str]]) -> list[np.ndarray]:
        """Each photo's vector in its space, "visual" or "joint": one encoder pass for all photos."""
        features = self.model.image_features([image for image, _ in queries])
        vectors: list[np.ndarray] = [np.empty(0)] * len(queries)
        embedders = {"visual": self.model.visual_embed_features, "joint": self.model.embed_image_features}
        for space, embed in embedders.items():
            rows = [i for i, (_, s) in enumerate(queries) if s == space]
            if rows:
                for i, vector in zip(rows, np.asarray(embed(features[rows])), strict=True):
                    vectors[i] = vector
        return vectors

    def _query(self, image: Image.Image | None, text: str | None) -> tuple[str, np.ndarray]:
        """The space to search and the query vector in it (see module docstring)."""
        space = "visual" if text is None and "visual" in self.store.dims else "joint"
        image_vector = None if image is None else self._embed_photo((image, space))
        text_vector = None if text is None else self._embed_text(text)
        if image_vector is None:
            return space, text_vector
        if text_vector is None:
            return space, image_vector
        query = (1 - TEXT_WEIGHT) * image_vector + TEXT_WEIGHT * text_vector
        return "joint", query / max(float(np.linalg.norm(query)), 1e-12)

    def search(
        self,
        image: Image.Image | None = None,
        text: str | None = None,
        box: tuple[float, float, float, float] | None = None,
        k: int = 20,
        where: str | None = None,
    ) -> list[dict[str, Any]]:
        """The k items most similar to the photo (cropped to `box`, pixel x0, y0, x1, y1), the text, or both,
        among those passing `where`. Each result: `{"id", "score", "image", "caption", "attributes",
        **catalogue fields}`, best first; the score includes the bonuses of taxonomy values the words name.

        Raises SearchError for no query, a bad k, a bad box, or a bad filter.
        """
        text = text.strip() if text is not None else None
        if image is None and not text:
            raise SearchError("give a photo, a text, or both")
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
            raise SearchError(f"k must be a whole number from 1 to {MAX_K}, got {k!r}")
        where = where.strip() if where is not None else None
        expr = parse_where(where, self.store.catalogue_fields()) if where else None
        if image is not None:
            image = to_rgb(image)
        if box is not None:
            if image is None:
                raise SearchError("a box needs a photo to apply to")
            if len(box) != 4 or not all(isinstance(v, int | float) and math.isfinite(v) for v in box):
                raise SearchError(f"a box is four finite numbers x0, y0, x1, y1; got {box!r}")
            try:
                image = crop_box(image, box)
            except ValueError as error:
                raise SearchError(str(error)) from None
        space, query = self._query(image, text or None)
        terms = find_terms(text) if text else ()
        fetch = max(RERANK_FETCH, 5 * k) if terms else k
        vids, scores = self.store.search(query, fetch, expr, space)
        records = self.store.items(vids.tolist())
        results = [
            {"id": records[vid]["id"], "score": float(score), **records[vid]}
            for vid, score in zip(vids.tolist(), scores.tolist(), strict=True)
            if vid in records
        ]
        return rerank(results, terms, self.term_bonus)[:k] if terms else results

    def describe(self, image: Image.Image) -> dict[str, Any]:
        """`{"caption", "attributes"}` of a photo as indexing would store them: the auto-tagged attributes and
        their template caption."""
        with self._model_lock:
            attributes = predict_tags(self.model, self.tagger, [to_rgb(image)])[0]
        return {"caption": template_caption(attributes), "attributes": attributes.to_record()}

    def get(self, item_id: str) -> dict[str, Any] | None:
        """An item's record (no score), or None for an unknown id."""
        return self.store.get(item_id)

    def image_path(self, item_id: str) -> Path | None:
        """The catalogue image file indexed for `item_id`; None for an unknown id, or a file gone or swapped
        for a link since indexing. Only paths recorded by the indexer are ever returned."""
        return self.store.image_path(item_id)

    def facets(self) -> dict[str, list[str]]:
        """Taxonomy values present per field (e.g. {"category": [...], "color": [...]}), in taxonomy order."""
        return self.store.facets()

    def count(self) -> int:
        return self.store.count()
