"""Embedded storage of a search index: a directory, no server to run.

    DB_DIR/items.sqlite   the source of truth: one row per item (catalogue fields, caption, attributes, image
                          content hash, embeddings) and one row per filterable value (`item_values`)
    DB_DIR/vectors.faiss  a FAISS index over the joint image-text embeddings, keyed by the items' integer
                          `vid`; derived data
    DB_DIR/visual.faiss   the same over the visual (image-only) embeddings, same vids
    DB_DIR/meta.json      model name, embedding dimensions (`dim`, `visual_dim`), format version
    DB_DIR/autotag.npz    the auto-tagger's phrase embeddings for this model (see `autotag`)

Each vector space (`SPACES`) is one SQLite column and one FAISS file. An index built before the visual space
existed has no `visual_dim` in meta.json: it opens and searches in the joint space alone, and refuses to be
written by a model with a visual space (re-index into a new directory). A store created without `visual_dim`
(plain vectors, e.g. the benchmarks) holds the joint space only.

Every write is one SQLite transaction, so an interrupted indexing run keeps exactly the batches it finished.
FAISS files are only ever replaced whole (temp file + `os.replace`) and are reconciled with SQLite whenever a
store opens: vids one lacks are added from the stored embeddings, vids SQLite no longer has are dropped. A
kill at any moment therefore leaves a store that opens and searches correctly.

Index kind: exact inner product (`IndexFlatIP`) below `HNSW_MIN_ITEMS` items, HNSW from there on; both in
an `IndexIDMap2`, so FAISS ids are our vids. Exact filtered search scans the flat vector storage (HNSW keeps
one too) with a bitmap of the rows that pass. `benchmarks/search_latency.py` measures the numbers behind
the constants below.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from fashionlens import __version__
from fashionlens.search.where import TAXONOMY_FIELDS, Condition, Expr, evaluate

FORMAT_VERSION = 1
ITEMS_FILE = "items.sqlite"
META_FILE = "meta.json"
LOCK_FILE = "write.lock"
PHRASES_FILE = "autotag.npz"

#: From this many items on, vectors go into HNSW; below it exact search is fast enough: single-query flat
#: search over 256-d takes p50 0.7 ms at 20K items, 2 ms at 50K, 5.5 ms at 100K, 65 ms at 1M.
HNSW_MIN_ITEMS = 20_000
#: HNSW graph degree and beam widths. efConstruction 40 builds 1M vectors in ~5 min on 2 busy cores (64
#: doubles that for +0.0004 recall at 100K); efSearch 128 gives recall@10 0.97 at 1M (0.94 at 64), p50 0.5 ms.
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 40
HNSW_EF_SEARCH = 128
#: Filtered search: when at most this many items pass a filter, score them all exactly; above it, fetch
#: OVERFETCH times the expected number of candidates from the ANN index and keep those that pass.
EXACT_FILTER_MAX = 20_000
OVERFETCH = 3.0
_CHUNK = 65_536


@dataclass(frozen=True)
class Space:
    """Where one vector space of an index lives."""

    column: str  # SQLite column of `items` (and field of `StoredItem`), float32 L2-normalised vectors
    file: str  # FAISS index file
    meta_key: str  # its dimension in meta.json


#: "joint": the image-text retrieval space (texts, photo + text); "visual": pooled frozen-encoder features,
#: for photo-only queries (see `fashionlens.search.engine`).
SPACES = {
    "joint": Space("vector", "vectors.faiss", "dim"),
    "visual": Space("visual", "visual.faiss", "visual_dim"),
}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    vid INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused, so a re-embedded item always gets a new vid
    id TEXT NOT NULL UNIQUE,
    image TEXT NOT NULL,        -- as the catalogue wrote it
    path TEXT NOT NULL,         -- resolved file that was indexed
    content_hash TEXT NOT NULL, -- sha256 of the image bytes
    record_hash TEXT NOT NULL,  -- of the catalogue record, to notice edited titles/prices
    caption TEXT NOT NULL,
    attributes TEXT NOT NULL,   -- JSON, taxonomy fields
    fields TEXT NOT NULL,       -- JSON, catalogue fields (title, url, price, ...)
    vector BLOB NOT NULL,       -- float32, L2-normalised, joint space
    visual BLOB                 -- float32, L2-normalised, visual space (NULL in a joint-only store)
);
CREATE TABLE IF NOT EXISTS item_values (
    vid INTEGER NOT NULL,
    field TEXT NOT NULL,
    value TEXT NOT NULL,
    num REAL                    -- set for numeric catalogue values
);
CREATE INDEX IF NOT EXISTS item_values_by_value ON item_values (field, value, vid);
CREATE INDEX IF NOT EXISTS item_values_by_num ON item_values (field, num, vid) WHERE num IS NOT NULL;
CREATE INDEX IF NOT EXISTS item_values_by_vid ON item_values (vid);
CREATE TABLE IF NOT EXISTS catalogue_fields (name TEXT PRIMARY KEY);
"""


@dataclass(frozen=True)
class StoredItem:
    """Everything stored for one catalogue item."""

    id: str
    image: str
    path: str
    content_hash: str
    record_hash: str
    caption: str
    attributes: dict[str, Any]
    fields: dict[str, Any]
    vector: np.ndarray  # joint space
    visual: np.ndarray | None = None  # visual space; required when the store has one


def replace_atomically(path: Path, write: Callable[[Path], Any]) -> None:
    """Write via `write(tmp_path)` then rename over `path`: readers see the old file or the new one, whole."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _values(item: StoredItem) -> Iterator[tuple[str, str, float | None]]:
    """Filterable (field, value, num) rows of an item: one per element of a list, numbers also as `num`."""
    for name, value in (*item.attributes.items(), *item.fields.items()):
        for element in value if isinstance(value, list) else [value]:
            if isinstance(element, bool):
                yield name, str(element).lower(), None
            elif isinstance(element, int | float) and math.isfinite(element):
                yield name, str(element), float(element)
            elif isinstance(element, str):
                yield name, element, None


def index_kind_for(n_items: int) -> str:
    """The vector index an index of `n_items` gets: "flat" (exact) or "hnsw"."""
    return "hnsw" if n_items >= HNSW_MIN_ITEMS else "flat"


def build_index(dim: int, kind: str) -> Any:
    """An empty FAISS index of `kind`, inner product, ids = vids."""
    import faiss

    if kind == "hnsw":
        inner = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        inner.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        inner.hnsw.efSearch = HNSW_EF_SEARCH
    else:
        inner = faiss.IndexFlatIP(dim)
    return faiss.IndexIDMap2(inner)


def index_kind(index: Any) -> str:
    """Kind of a built index: "hnsw" or "flat"."""
    import faiss

    return "hnsw" if isinstance(faiss.downcast_index(index.index), faiss.IndexHNSW) else "flat"


@dataclass
class _VectorIndex:
    """One space's FAISS index, and what exact filtered search needs: its flat vector storage (inside HNSW
    too) and the vids of its rows."""

    index: Any
    flat: Any
    row_vids: np.ndarray
    vid_order: np.ndarray  # argsort of row_vids

    @classmethod
    def of(cls, index: Any) -> _VectorIndex:
        import faiss

        inner = faiss.downcast_index(index.index)
        flat = faiss.downcast_index(inner.storage) if isinstance(inner, faiss.IndexHNSW) else inner
        row_vids = faiss.vector_to_array(index.id_map)
        return cls(index, flat, row_vids, np.argsort(row_vids))


class Store:
    """One index directory. Open with `Store.create` (indexer) or `Store.open` (read-only, for search).

    Reads are thread-safe (one SQLite connection per thread); a writable store is used from one thread and
    holds an exclusive lock on the directory so two indexing runs cannot interleave.
    """

    def __init__(self, db_dir: Path, meta: dict[str, Any], writable: bool) -> None:
        self.db_dir = db_dir
        self.meta = meta
        self.writable = writable
        self.dim = int(meta["dim"])
        #: Vector spaces this index holds, in `SPACES` order, and their dimensions.
        self.dims = {
            name: int(meta[space.meta_key]) for name, space in SPACES.items() if space.meta_key in meta
        }
        self._local = threading.local()
        self._lock_file = None
        if writable:
            self._lock_file = open(db_dir / LOCK_FILE, "w")  # noqa: SIM115 (held until close)
            try:
                fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                self._lock_file.close()
                raise RuntimeError(f"{db_dir} is being written by another indexing run") from None
            self._conn.executescript(_SCHEMA)
        self._passing = lru_cache(maxsize=64)(self._evaluate)
        self._facets: dict[str, list[str]] | None = None
        self._load_index()

    # -- opening ---------------------------------------------------------------------------------------

    @classmethod
    def create(cls, db_dir: str | Path, model: str, dim: int, visual_dim: int | None = None) -> Store:
        """Open `db_dir` for writing, creating it for `model` (name or path), joint dimension `dim` and
        visual dimension `visual_dim` (None: joint space only) when new.

        Raises ValueError when the directory holds an index built with another model or dimensions (its
        vectors would not be comparable with the new ones), or one built without the visual space.
        """
        db_dir = Path(db_dir)
        meta_path = db_dir / META_FILE
        if meta_path.is_file():
            meta = read_meta(db_dir)
            if visual_dim is not None and "visual_dim" not in meta:
                raise ValueError(
                    f"{db_dir} was built before indexes had visual vectors (photo search); re-index the "
                    "catalogue into a new --db directory"
                )
            if (meta["model"], meta["dim"], meta.get("visual_dim")) != (model, dim, visual_dim):
                raise ValueError(
                    f"{db_dir} was built with model {meta['model']!r} (dim {meta['dim']}, visual dim "
                    f"{meta.get('visual_dim')}), not {model!r} (dim {dim}, visual dim {visual_dim}); index "
                    f"with --model {meta['model']} or use a new --db directory"
                )
        else:
            db_dir.mkdir(parents=True, exist_ok=True)
            meta = {"format": FORMAT_VERSION, "fashionlens": __version__, "model": model, "dim": dim}
            if visual_dim is not None:
                meta["visual_dim"] = visual_dim
            replace_atomically(meta_path, lambda tmp: tmp.write_text(json.dumps(meta, indent=2) + "\n"))
        return cls(db_dir, meta, writable=True)

    @classmethod
    def open(cls, db_dir: str | Path) -> Store:
        """Open an existing index read-only. Raises FileNotFoundError when `db_dir` holds none."""
        db_dir = Path(db_dir)
        return cls(db_dir, read_meta(db_dir), writable=False)

    @property
    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            path = (self.db_dir / ITEMS_FILE).resolve()
            uri = path.as_uri() + ("?mode=rwc" if self.writable else "?mode=ro")
            conn = sqlite3.connect(uri, uri=True, timeout=30, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL" if self.writable else "PRAGMA query_only=ON")
            self._local.conn = conn
        return conn

    def close(self) -> None:
        """Release this thread's connection and the write lock."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    # -- the FAISS indexes ------------------------------------------------------------------------------

    def _load_index(self) -> None:
        """Read each space's FAISS file and reconcile it with SQLite (see module docstring); build it when
        absent."""
        vids = self.vids()
        self._indexes = {name: self._reconciled(name, vids) for name in self.dims}
        self._vids = vids
        self._passing.cache_clear()
        self._facets = None

    def _reconciled(self, space: str, vids: np.ndarray) -> _VectorIndex:
        import faiss

        path = self.db_dir / SPACES[space].file
        index = faiss.read_index(str(path)) if path.is_file() else None
        wanted = index_kind_for(len(vids))
        if index is not None and index.d == self.dims[space] and index_kind(index) == wanted:
            indexed = faiss.vector_to_array(index.id_map)
            stale = np.setdiff1d(indexed, vids)
            if stale.size and wanted == "hnsw":  # HNSW cannot delete: rebuild
                index = None
            elif stale.size:
                index.remove_ids(stale)
            missing = np.setdiff1d(vids, indexed)
        else:
            index = None
        if index is None:
            index, missing = build_index(self.dims[space], wanted), vids
        for chunk in range(0, len(missing), _CHUNK):
            ids = missing[chunk : chunk + _CHUNK]
            index.add_with_ids(self._vectors(ids, space), ids)
        return _VectorIndex.of(index)

    def save_index(self) -> None:
        """Bring the FAISS indexes up to date with SQLite and replace their files atomically."""
        import faiss

        self._load_index()
        for name, vectors in self._indexes.items():
            replace_atomically(
                self.db_dir / SPACES[name].file, lambda tmp, i=vectors.index: faiss.write_index(i, str(tmp))
            )

    def index(self, space: str = "joint") -> Any:
        """The FAISS index of `space` (ids = vids)."""
        return self._indexes[space].index

    @property
    def kind(self) -> str:
        """Kind of the vector indexes (all spaces share it): "flat" (exact) or "hnsw"."""
        return index_kind(self.index())

    # -- writing ---------------------------------------------------------------------------------------

    def upsert(self, items: Sequence[StoredItem]) -> None:
        """Insert or replace items in one transaction. An item whose image is unchanged keeps its vid (its
        vector is the same); a new or changed image gets a new vid."""
        conn = self._conn
        with conn:
            for item in items:
                row = conn.execute("SELECT vid, content_hash FROM items WHERE id = ?", (item.id,)).fetchone()
                columns = (
                    item.image,
                    item.path,
                    item.content_hash,
                    item.record_hash,
                    item.caption,
                    json.dumps(item.attributes),
                    json.dumps(item.fields),
                )
                if row is not None and row[1] == item.content_hash:
                    vid = row[0]
                    conn.execute(
                        "UPDATE items SET image = ?, path = ?, content_hash = ?, record_hash = ?, "
                        "caption = ?, attributes = ?, fields = ? WHERE vid = ?",
                        (*columns, vid),
                    )
                    conn.execute("DELETE FROM item_values WHERE vid = ?", (vid,))
                else:
                    if row is not None:
                        self._delete(row[0])
                    spaces = [SPACES[name].column for name in self.dims]
                    vectors = [_blob(getattr(item, column)) for column in spaces]
                    vid = conn.execute(
                        "INSERT INTO items (id, image, path, content_hash, record_hash, caption, attributes, "
                        f"fields, {', '.join(spaces)}) VALUES ({', '.join('?' * (8 + len(spaces)))})",
                        (item.id, *columns, *vectors),
                    ).lastrowid
                conn.executemany(
                    "INSERT INTO item_values VALUES (?, ?, ?, ?)", ((vid, *v) for v in _values(item))
                )
            names = {name for item in items for name in item.fields}
            conn.executemany("INSERT OR IGNORE INTO catalogue_fields VALUES (?)", ((name,) for name in names))

    def remove(self, ids: Iterable[str]) -> list[str]:
        """Delete items by id in one transaction; returns the ids that existed."""
        removed = []
        with self._conn:
            for item_id in ids:
                row = self._conn.execute("SELECT vid FROM items WHERE id = ?", (item_id,)).fetchone()
                if row is not None:
                    self._delete(row[0])
                    removed.append(item_id)
        return removed

    def _delete(self, vid: int) -> None:
        self._conn.execute("DELETE FROM item_values WHERE vid = ?", (vid,))
        self._conn.execute("DELETE FROM items WHERE vid = ?", (vid,))

    # -- reading ---------------------------------------------------------------------------------------

    def count(self) -> int:
        return self._conn.execute("SELECT COUNT(*) FROM items").fetchone()[0]

    def vids(self) -> np.ndarray:
        """All vids in SQLite, sorted."""
        rows = self._conn.execute("SELECT vid FROM items ORDER BY vid")
        return np.fromiter((r[0] for r in rows), dtype=np.int64)

    def hashes(self) -> dict[str, tuple[str, str]]:
        """id -> (image content hash, catalogue record hash) of every item, for incremental runs."""
        rows = self._conn.execute("SELECT id, content_hash, record_hash FROM items")
        return {item_id: (content, record) for item_id, content, record in rows}

    def vectors_by_id(self, ids: Sequence[str], space: str = "joint") -> dict[str, np.ndarray]:
        """Stored embeddings in `space` of the given items (those that exist)."""
        out = {}
        column = SPACES[space].column  # a constant, not user input
        for item_id in ids:
            row = self._conn.execute(f"SELECT {column} FROM items WHERE id = ?", (item_id,)).fetchone()
            if row is not None:
                out[item_id] = np.frombuffer(row[0], dtype="<f4")
        return out

    def _vectors(self, vids: np.ndarray, space: str) -> np.ndarray:
        """Stored embeddings [len(vids), D] in `space`, in the order of `vids` (all must exist)."""
        rows = self._conn.execute(
            f"SELECT vid, {SPACES[space].column} FROM items WHERE vid IN (SELECT value FROM json_each(?))",
            (json.dumps(vids.tolist()),),
        )
        found = dict(rows)
        out = np.empty((len(vids), self.dims[space]), dtype=np.float32)
        for row, vid in enumerate(vids.tolist()):
            out[row] = np.frombuffer(found[vid], dtype="<f4")
        return out

    def items(self, vids: Sequence[int]) -> dict[int, dict[str, Any]]:
        """vid -> item record (`{"id", "image", "caption", "attributes", **catalogue fields}`) of the vids
        still stored."""
        rows = self._conn.execute(
            "SELECT vid, id, image, caption, attributes, fields FROM items "
            "WHERE vid IN (SELECT value FROM json_each(?))",
            (json.dumps([int(v) for v in vids]),),
        )
        return {row[0]: _record(row[1:]) for row in rows}

    def get(self, item_id: str) -> dict[str, Any] | None:
        row = self._conn.execute(
            "SELECT id, image, caption, attributes, fields FROM items WHERE id = ?", (item_id,)
        ).fetchone()
        return None if row is None else _record(row)

    def image_path(self, item_id: str) -> Path | None:
        """The image file indexed for `item_id`, or None when the id is unknown or the file has gone or has
        been replaced by a link since (paths are stored resolved, so a link elsewhere no longer matches)."""
        row = self._conn.execute("SELECT path FROM items WHERE id = ?", (item_id,)).fetchone()
        if row is None:
            return None
        path = Path(row[0])
        return path if path.is_file() and path.resolve() == path else None

    def catalogue_fields(self) -> tuple[str, ...]:
        """Names of the catalogue fields present (filterable besides the taxonomy fields)."""
        return tuple(r[0] for r in self._conn.execute("SELECT name FROM catalogue_fields ORDER BY name"))

    def facets(self) -> dict[str, list[str]]:
        """Taxonomy values present per field, in taxonomy order (as of opening); absent fields left out."""
        if self._facets is None:
            rows = self._conn.execute(
                "SELECT DISTINCT field, value FROM item_values "
                "WHERE field IN (SELECT value FROM json_each(?))",
                (json.dumps(list(TAXONOMY_FIELDS)),),
            )
            present: dict[str, set[str]] = {}
            for field, value in rows:
                present.setdefault(field, set()).add(value)
            self._facets = {
                field: [v for v in allowed if v in present[field]]
                for field, allowed in TAXONOMY_FIELDS.items()
                if field in present
            }
        return self._facets

    # -- search ----------------------------------------------------------------------------------------

    def search(
        self, query: np.ndarray, k: int, where: Expr | None = None, space: str = "joint"
    ) -> tuple[np.ndarray, np.ndarray]:
        """(vids, scores) of the k best items by inner product with `query` [D] in `space`, best first.

        With `where`: when few items pass (or the index is flat) they are all scored exactly; otherwise the
        ANN index is asked for OVERFETCH times the expected number of candidates needed to find k passing
        ones, falling back to exact scoring when that leaves fewer than k (a filter far from the query).
        """
        query = np.ascontiguousarray(query, dtype=np.float32).reshape(1, -1)
        vectors = self._indexes[space]
        passing = self._passing(where, space) if where is not None else None
        with _one_omp_thread():
            if passing is None:
                return self._ann(vectors, query, k)
            if self.kind == "flat" or len(passing.vids) <= EXACT_FILTER_MAX:
                return self._exact(vectors, query, passing, k)
            total = vectors.index.ntotal
            fetch = min(total, math.ceil(OVERFETCH * k * total / len(passing.vids)))
            vids, scores = self._ann(vectors, query, fetch)
            keep = np.isin(vids, passing.vids, assume_unique=True)
            if keep.sum() >= k:
                return vids[keep][:k], scores[keep][:k]
            return self._exact(vectors, query, passing, k)

    def _ann(self, vectors: _VectorIndex, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        import faiss

        k = min(k, vectors.index.ntotal)
        if k == 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        params = faiss.SearchParametersHNSW(efSearch=max(HNSW_EF_SEARCH, k)) if self.kind == "hnsw" else None
        scores, vids = vectors.index.search(query, k, params=params)
        found = vids[0] >= 0
        return vids[0][found], scores[0][found]

    def _exact(
        self, vectors: _VectorIndex, query: np.ndarray, passing: _Passing, k: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Exact top-k among the passing items: a scan of the stored vectors that skips the others."""
        import faiss

        k = min(k, len(passing.vids))
        if k == 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        scores, rows = vectors.flat.search(query, k, params=faiss.SearchParameters(sel=passing.selector))
        found = rows[0] >= 0
        return vectors.row_vids[rows[0][found]], scores[0][found]

    def _evaluate(self, where: Expr, space: str) -> _Passing:
        """The items passing `where`, with a selector over `space`'s rows (whose order is its own). Cached per
        expression and space: the store is a snapshot between reloads."""
        import faiss

        def matching(condition: Condition) -> np.ndarray:
            sql, params = condition.sql()
            rows = self._conn.execute(f"SELECT vid FROM item_values WHERE {sql}", params)  # sql: no values
            return np.unique(np.fromiter((r[0] for r in rows), dtype=np.int64))

        vids = np.intersect1d(evaluate(where, matching, self._vids), self._vids, assume_unique=True)
        vectors = self._indexes[space]
        member = np.zeros(len(vectors.row_vids), dtype=bool)
        member[vectors.vid_order[np.searchsorted(vectors.row_vids, vids, sorter=vectors.vid_order)]] = True
        bitmap = np.packbits(member, bitorder="little")
        return _Passing(vids, bitmap, faiss.IDSelectorBitmap(len(member), faiss.swig_ptr(bitmap)))


@contextmanager
def _one_omp_thread() -> Iterator[None]:
    """Run FAISS serially in this thread for one query: OpenMP threads cannot speed up a single vector, and
    their wake-ups cost milliseconds on a busy machine (flat search over 50K: p50 24 ms on 2 threads, 2 ms
    on one). Concurrent queries get parallelism from the callers' threads; the setting is per thread."""
    import faiss

    previous = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(previous)


@dataclass(frozen=True)
class _Passing:
    """Sorted vids that pass a filter, and a FAISS selector of their rows in the flat vector storage (which
    reads `bitmap`, so it is kept alongside)."""

    vids: np.ndarray
    bitmap: np.ndarray
    selector: Any


def _blob(vector: np.ndarray) -> bytes:
    return np.ascontiguousarray(vector, dtype="<f4").tobytes()


def _record(row: Sequence[Any]) -> dict[str, Any]:
    item_id, image, caption, attributes, fields = row
    return {
        "id": item_id,
        "image": image,
        "caption": caption,
        "attributes": json.loads(attributes),
        **json.loads(fields),
    }


def read_meta(db_dir: str | Path) -> dict[str, Any]:
    """The index's meta.json (model, dim, visual_dim, format). Raises FileNotFoundError when `db_dir` holds
    no index."""
    db_dir = Path(db_dir)
    path = db_dir / META_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no index at {db_dir} (no {META_FILE}); build one with `fashionlens index`")
    meta = json.loads(path.read_text())
    if meta.get("format") != FORMAT_VERSION:
        raise ValueError(f"{db_dir} has index format {meta.get('format')}; expected {FORMAT_VERSION}")
    return meta
