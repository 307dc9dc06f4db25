"""Search latency (p50/p99, one query at a time) and recall@10 against exact search, at 100K and 1M synthetic
256-d vectors: the store (`fashionlens.search.store`) side by side with plain FAISS, in the same run.

    python benchmarks/search_latency.py [--sizes 100000 1000000] [--queries 500] [--no-sweep]

Vectors: real embeddings have far fewer degrees of freedom than dimensions; uniformly random vectors have
no neighbourhood structure at all (every ANN index fails on them, and no model produces them). So: a 32-d
latent mixture of 1,000 clusters mapped linearly into 256-d, plus isotropic noise at half the signal's norm,
L2-normalised (nearest-neighbour cosine ~0.7). Queries are fresh draws from the same distribution. Items get
a category from their cluster (so a category filter is correlated with the query, as with real photos), a
random colour and a price.

Rows, per size:
- faiss flat: exact IndexFlatIP, the ground truth;
- faiss hnsw ef=E: the HNSW graph the store built, searched directly (no id mapping, no SQLite);
- store: `Store.search` (FAISS ids are item vids); store+rows: plus reading the k result rows from SQLite;
- store filtered: `Store.search` with a --where filter, recall against exact filtered search; "first"
  is the first query of that filter (it evaluates the filter in SQLite; later queries reuse it).
With the sweep (first size only): flat latency by collection size (why HNSW_MIN_ITEMS) and HNSW/IVF build
time and recall by parameters (why HNSW_M, HNSW_EF_CONSTRUCTION). Goals (issue 6): p99 <= 10 ms and
recall@10 >= 0.95.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable

import faiss
import numpy as np

from fashionlens.search import store as store_module
from fashionlens.search.store import Store, StoredItem
from fashionlens.search.where import parse_where

DIM = 256
K = 10
GOAL_P99_MS = 10.0
GOAL_RECALL = 0.95
CATEGORIES = ("top", "dress", "pants", "skirt")
COLORS = ("red", "blue", "black", "white", "green", "beige", "navy", "gray")
FILTERS = ("category = 'top'", "category = 'top' AND color = 'red'")


def synthetic(
    n: int, seed: int, latent: int = 32, clusters: int = 1000, noise: float = 0.5
) -> tuple[np.ndarray, np.ndarray]:
    """(unit vectors [n, DIM] float32, cluster of each row); the latent map is shared by all seeds."""
    shared = np.random.default_rng(12345)
    basis = shared.standard_normal((latent, DIM)).astype(np.float32)
    centres = shared.standard_normal((clusters, latent)).astype(np.float32)
    rng = np.random.default_rng(seed)
    cluster = rng.integers(0, clusters, n)
    out = np.empty((n, DIM), dtype=np.float32)
    for start in range(0, n, 100_000):
        part = slice(start, min(n, start + 100_000))
        z = centres[cluster[part]] + 0.6 * rng.standard_normal((part.stop - start, latent), dtype=np.float32)
        signal = z @ basis
        signal /= np.linalg.norm(signal, axis=1, keepdims=True)
        jitter = rng.standard_normal(signal.shape, dtype=np.float32)
        jitter /= np.linalg.norm(jitter, axis=1, keepdims=True)
        x = signal + noise * jitter
        out[part] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out, cluster


def timed(search: Callable[[np.ndarray], np.ndarray], queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(latencies in ms, result ids [Q, <=K]) of one query at a time, after a short warm-up. FAISS runs on one
    OpenMP thread here, as the store runs it for a query: more threads only add wake-up latency."""
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    for q in queries[:10]:
        search(q[None])
    latencies, results = [], []
    for q in queries:
        start = time.perf_counter()
        ids = search(q[None])
        latencies.append((time.perf_counter() - start) * 1000)
        results.append(ids)
    faiss.omp_set_num_threads(threads)
    return np.array(latencies), results


def recall(results: list[np.ndarray], truth: np.ndarray) -> float:
    return float(
        np.mean([len(set(r.tolist()) & set(t.tolist())) / K for r, t in zip(results, truth, strict=True)])
    )


def row(size: int, method: str, latencies: np.ndarray, rec: float | str, note: str = "") -> None:
    p50, p99 = np.percentile(latencies, [50, 99])
    rec_text = rec if isinstance(rec, str) else f"{rec:.4f}"
    print(f"{size:>9,} | {method:<44} | {p50:>8.3f} | {p99:>8.3f} | {rec_text:>9} | {note}", flush=True)


def sweep(vectors: np.ndarray, queries: np.ndarray, truth: np.ndarray) -> None:
    """Why the store's constants: flat latency by size, and index build cost against recall."""
    print("\nflat (exact) latency by collection size -> HNSW_MIN_ITEMS", flush=True)
    for n in (10_000, 20_000, 50_000, len(vectors)):
        flat = faiss.IndexFlatIP(DIM)
        flat.add(vectors[:n])
        latencies, _ = timed(lambda q, flat=flat: flat.search(q, K)[1][0], queries[:200])
        row(n, "faiss flat", latencies, "exact")
    print(
        f"\nANN index parameters at {len(vectors):,} (build on {faiss.omp_get_max_threads()} threads)",
        flush=True,
    )
    candidates: list[tuple[str, Callable[[], faiss.Index], dict[str, int]]] = [
        (f"hnsw M={m} efC={efc}", lambda m=m, efc=efc: _hnsw(m, efc), {"efSearch": 64})
        for m, efc in ((16, 40), (32, 40), (32, 64))
    ]
    nlist = int(4 * np.sqrt(len(vectors)))
    candidates += [
        (f"ivf nlist={nlist} nprobe={p}", lambda: _ivf(nlist, vectors), {"nprobe": p}) for p in (8, 32)
    ]
    built: dict[str, tuple[faiss.Index, float]] = {}
    for name, make, setting in candidates:
        key = name.rsplit(" ", 1)[0] if name.startswith("ivf") else name
        if key not in built:
            start = time.perf_counter()
            index = make()
            index.add(vectors)
            built[key] = (index, time.perf_counter() - start)
        index, seconds = built[key]
        for attribute, value in setting.items():
            setattr(index.hnsw if attribute == "efSearch" else index, attribute, value)
        latencies, results = timed(lambda q, index=index: index.search(q, K)[1][0], queries)
        label = name if name.startswith("ivf") else f"{name} ef=64"
        row(len(vectors), label, latencies, recall(results, truth), f"build {seconds:.1f} s")


def _hnsw(m: int, ef_construction: int) -> faiss.Index:
    index = faiss.IndexHNSWFlat(DIM, m, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = ef_construction
    return index


def _ivf(nlist: int, vectors: np.ndarray) -> faiss.Index:
    index = faiss.IndexIVFFlat(faiss.IndexFlatIP(DIM), DIM, nlist, faiss.METRIC_INNER_PRODUCT)
    sample = vectors[
        np.random.default_rng(0).choice(len(vectors), min(len(vectors), 50 * nlist), replace=False)
    ]
    index.train(sample)
    return index


def build_store(
    directory: str, vectors: np.ndarray, cluster: np.ndarray, colors: np.ndarray
) -> tuple[float, float]:
    """Fill a store the way the indexer does (batched transactions, then save_index); (insert s, index s)."""
    prices = np.random.default_rng(7).integers(5, 300, len(vectors))
    store = Store.create(directory, "synthetic", DIM)
    start = time.perf_counter()
    for begin in range(0, len(vectors), 10_000):
        store.upsert(
            [
                StoredItem(
                    id=f"item-{i}",
                    image=f"images/{i}.jpg",
                    path=f"/catalogue/images/{i}.jpg",
                    content_hash=f"{i:064x}",
                    record_hash="",
                    caption="",
                    attributes={"category": CATEGORIES[cluster[i] % 4], "color": [COLORS[colors[i]]]},
                    fields={"title": f"Item {i}", "price": int(prices[i])},
                    vector=vectors[i],
                )
                for i in range(begin, min(len(vectors), begin + 10_000))
            ]
        )
    inserted = time.perf_counter()
    store.save_index()
    indexed = time.perf_counter()
    store.close()
    return inserted - start, indexed - inserted


def measure(size: int, n_queries: int, with_sweep: bool) -> None:
    start = time.perf_counter()
    vectors, cluster = synthetic(size, seed=1)
    queries, _ = synthetic(n_queries, seed=2)
    flat = faiss.IndexFlatIP(DIM)
    flat.add(vectors)
    truth = flat.search(queries, K)[1] + 1  # vids are row + 1
    print(
        f"\n== {size:,} vectors (generated + ground truth in {time.perf_counter() - start:.1f} s)", flush=True
    )
    header = f"{'items':>9} | {'method':<44} | {'p50 ms':>8} | {'p99 ms':>8} | {'recall@10':>9} | note"
    print(header + "\n" + "-" * len(header))
    latencies, _ = timed(lambda q, flat=flat: flat.search(q, K)[1][0], queries[:100])
    row(size, "faiss flat (exact)", latencies, "exact", "100 queries")
    del flat
    if with_sweep:
        sweep(vectors, queries, truth - 1)
        print(header)
    colors = np.random.default_rng(3).integers(0, len(COLORS), size)
    passes = {
        FILTERS[0]: cluster % 4 == CATEGORIES.index("top"),
        FILTERS[1]: (cluster % 4 == CATEGORIES.index("top")) & (colors == COLORS.index("red")),
    }
    with tempfile.TemporaryDirectory(prefix="search-latency-") as directory:
        insert_s, index_s = build_store(directory, vectors, cluster, colors)
        store = Store.open(directory)  # as the engine opens it: reads vectors.faiss
        kind = f"{store.kind} M={store_module.HNSW_M} efC={store_module.HNSW_EF_CONSTRUCTION}"
        print(f"store: SQLite insert {insert_s:.1f} s, {kind} build {index_s:.1f} s", flush=True)
        hnsw = faiss.downcast_index(store.index().index)
        for ef in (16, 32, 64, 128):
            params = faiss.SearchParametersHNSW(efSearch=ef)
            latencies, results = timed(lambda q, p=params: hnsw.search(q, K, params=p)[1][0] + 1, queries)
            row(size, f"faiss hnsw ef={ef}", latencies, recall(results, truth))
        ef = store_module.HNSW_EF_SEARCH
        latencies, results = timed(lambda q: store.search(q[0], K)[0], queries)
        row(size, f"store (ef={ef})", latencies, recall(results, truth))
        latencies, results = timed(
            lambda q: np.array(list(store.items(store.search(q[0], K)[0].tolist()))), queries
        )
        row(size, "store+rows", latencies, recall(results, truth))
        for text in FILTERS:
            expr = parse_where(text, store.catalogue_fields())
            first = time.perf_counter()
            store.search(queries[0], K, expr)
            first_ms = (time.perf_counter() - first) * 1000
            rows = np.flatnonzero(passes[text])
            subset = faiss.IndexFlatIP(DIM)
            subset.add(vectors[rows])
            filtered_truth = rows[subset.search(queries, K)[1]] + 1
            del subset
            latencies, results = timed(lambda q, e=expr: store.search(q[0], K, e)[0], queries)
            share = f"{len(rows) / size:.1%} pass; first query {first_ms:.0f} ms"
            row(size, f"store filtered: {text}", latencies, recall(results, filtered_truth), share)
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--no-sweep", dest="sweep", action="store_false", help="skip the parameter sweep")
    args = parser.parse_args()
    print(
        f"{os.cpu_count()} CPUs, FAISS {faiss.__version__} on {faiss.omp_get_max_threads()} threads, "
        f"load average {os.getloadavg()[0]:.1f}; goals: p99 <= {GOAL_P99_MS} ms, recall@{K} >= {GOAL_RECALL}"
    )
    start = time.perf_counter()
    for i, size in enumerate(args.sizes):
        measure(size, args.queries, args.sweep and i == 0)
    print(f"\ntotal {time.perf_counter() - start:.0f} s, load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
