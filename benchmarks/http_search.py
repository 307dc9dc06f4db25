"""HTTP search latency under concurrent clients, against a real `fashionlens serve` on 127.0.0.1.

Builds (or reuses) the demo index: a synthetic catalogue of shop photos. Text queries are taxonomy phrases;
photo queries are the catalogue's consumer photos (the same garments, photographed as a shopper would). Each
client sends its next request as soon as the previous one returns, so latency includes queueing.

    python benchmarks/http_search.py [--items 200] [--model fashionlens-mini] [--clients 8] [--requests 200]
                                     [--threads N]

Goals (issue 6): text p99 <= 50 ms, photo p99 <= 250 ms with 8 clients.
"""

from __future__ import annotations

import argparse
import itertools
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np

from fashionlens.cli.demo import prepare_demo
from fashionlens.taxonomy import allowed_values

GOALS_MS = {"text": 50.0, "photo": 250.0}


def start_server(db: Path, threads: int | None) -> tuple[subprocess.Popen[str], str]:
    """`fashionlens serve` on a free port; returns the process and its URL once it is listening."""
    command = [sys.executable, "-m", "fashionlens", "serve", "--db", str(db), "--port", "0"]
    process = subprocess.Popen(
        command + (["--threads", str(threads)] if threads else []),
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert process.stdout is not None
    for line in process.stdout:
        if match := re.search(r"at (http://\S+/)", line):
            threading.Thread(target=process.stdout.read, daemon=True).start()  # keep the pipe drained
            return process, match.group(1)
    raise RuntimeError(f"fashionlens serve exited with {process.wait()} before listening")


def measure(
    url: str, send: Callable[[httpx.Client, int], httpx.Response], clients: int, requests: int
) -> dict[str, float]:
    """p50/p99 latency (ms) and throughput of `requests` calls made by `clients` closed-loop clients."""
    counter = itertools.count()
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    with httpx.Client(base_url=url, timeout=120, limits=limits) as http, ThreadPoolExecutor(clients) as pool:

        def one(_: int) -> float:
            start = time.perf_counter()
            send(http, next(counter)).raise_for_status()
            return time.perf_counter() - start

        list(pool.map(one, range(2 * clients)))  # warm-up
        start = time.perf_counter()
        latencies = np.array(list(pool.map(one, range(requests)))) * 1e3
        wall = time.perf_counter() - start
    return {"p50": np.percentile(latencies, 50), "p99": np.percentile(latencies, 99), "rps": requests / wall}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, default=200, help="synthetic catalogue size")
    parser.add_argument("--model", default="fashionlens-mini", help="model that builds the index and serves")
    parser.add_argument("--workdir", type=Path, default=Path("runs/demo"), help="where the demo index lives")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=200, help="measured requests per query kind")
    parser.add_argument("-k", type=int, default=20)
    parser.add_argument("--threads", type=int, help="the server's PyTorch threads (default: PyTorch's)")
    args = parser.parse_args()

    demo = prepare_demo(args.workdir, items=args.items, model=args.model)
    photos = [p.read_bytes() for p in sorted(demo.query_photos.glob("*.jpg"))[:64]]
    db = demo.db
    del demo  # the server process loads its own model
    texts = [f"{c} {s}" for c, s in itertools.product(allowed_values("color"), allowed_values("subcategory"))]
    texts = [texts[i] for i in np.random.default_rng(0).permutation(len(texts))[:64]]
    kinds: dict[str, Callable[[httpx.Client, int], httpx.Response]] = {
        "text": lambda c, i: c.post("/api/search", data={"text": texts[i % len(texts)], "k": args.k}),
        "photo": lambda c, i: c.post(
            "/api/search",
            data={"k": args.k},
            files={"image": ("q.jpg", photos[i % len(photos)], "image/jpeg")},
        ),
    }

    process, url = start_server(db, args.threads)
    try:
        rows = {kind: measure(url, send, args.clients, args.requests) for kind, send in kinds.items()}
        items = httpx.get(url + "health").json()["items"]
    finally:
        process.terminate()
        process.wait(timeout=30)

    print(
        f"\nHTTP search, {items} items, model {args.model}, server threads {args.threads or 'default'}, "
        f"{args.clients} concurrent clients, "
        f"{args.requests} requests per kind, k={args.k}, {os.cpu_count()} CPUs "
        f"(load average {os.getloadavg()[0]:.1f} at the end)"
    )
    print("| query | p50 ms | p99 ms | req/s | goal p99 ms | met |\n|---|---:|---:|---:|---:|---|")
    for kind, row in rows.items():
        goal = GOALS_MS[kind]
        print(
            f"| {kind} | {row['p50']:.1f} | {row['p99']:.1f} | {row['rps']:.1f} | {goal:.0f} | "
            f"{'yes' if row['p99'] <= goal else 'no'} |"
        )


if __name__ == "__main__":
    main()
