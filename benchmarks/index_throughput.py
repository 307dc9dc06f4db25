"""End-to-end indexing throughput: `index_catalogue` on a synthetic catalogue of shop photos, images/s.

    python benchmarks/index_throughput.py [--items 256] [--models NAME ...] [--batch-size 32]

Per model: the full run (hash, decode, embed, auto-tag, template caption, SQLite, FAISS save), an
incremental re-run of the unchanged catalogue, and the stages timed alone on the same images to show where
the time goes. Model loading and its one-time warm-up (ONNX export, tokenizer) are outside the timings; the
tagger's set-up (zero-shot phrase embeddings, once per run) and what heads read of each photo (garment
view, colour histogram) are inside. Goal (issue 6): >= 50 images/s with the default model on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from fashionlens.data.synthetic import generate_catalogue
from fashionlens.images import content_hash, load_image
from fashionlens.model import create_model
from fashionlens.search.autotag import predict_tags, tagger_for
from fashionlens.search.indexer import DEFAULT_MODEL, index_catalogue, read_catalogue

GOAL = 50.0


def line(model: str, what: str, images: int, seconds: float) -> None:
    rate = images / seconds
    mark = "  (goal)" if what == "index, full run" and model == DEFAULT_MODEL and rate >= GOAL else ""
    print(f"{model:<18} | {what:<34} | {images:>6} | {seconds:>8.2f} | {rate:>8.1f}{mark}", flush=True)


def measure(model_name: str, manifest: Path, batch_size: int) -> None:
    model = create_model(model_name).eval()
    items, _ = read_catalogue(manifest)
    model.embed_images([load_image(items[0].path)] * 2)  # one-time warm-up (ONNX export, tokenizer load)
    n = len(items)
    with tempfile.TemporaryDirectory(prefix="index-throughput-") as db:
        start = time.perf_counter()
        report = index_catalogue(manifest, db, model, model_name, batch_size=batch_size, progress=False)
        line(model_name, "index, full run", report.added, time.perf_counter() - start)
        start = time.perf_counter()
        again = index_catalogue(manifest, db, model, model_name, batch_size=batch_size, progress=False)
        line(model_name, "index, re-run (all unchanged)", again.unchanged, time.perf_counter() - start)

    start = time.perf_counter()
    images = []
    for item in items:  # as the indexer does: read once, hash, decode
        data = item.path.read_bytes()
        content_hash(data)
        images.append(load_image(data))
    line(model_name, "  stage: hash + decode", n, time.perf_counter() - start)
    start = time.perf_counter()
    vectors = np.concatenate(
        [model.embed_images(images[i : i + batch_size]).numpy() for i in range(0, n, batch_size)]
    )
    line(model_name, "  stage: embed", n, time.perf_counter() - start)
    tagger = tagger_for(model)
    start = time.perf_counter()
    predict_tags(model, tagger, images[:1], vectors[:1])
    setup = time.perf_counter() - start
    start = time.perf_counter()
    predict_tags(model, tagger, images, vectors)
    line(model_name, f"  stage: auto-tag (+{setup:.1f} s set-up)", n, time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, default=256, help="shop photos in the catalogue")
    parser.add_argument("--models", nargs="+", default=[DEFAULT_MODEL, "tiny-random"])
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    import torch

    threads, load = torch.get_num_threads(), os.getloadavg()[0]
    print(f"{os.cpu_count()} CPUs, torch on {threads} threads, load average {load:.1f}")
    with tempfile.TemporaryDirectory(prefix="catalogue-") as root:
        manifest = generate_catalogue(args.items, root, seed=0, consumer_per_item=0)
        print(f"{'model':<18} | {'what':<34} | {'images':>6} | {'seconds':>8} | {'img/s':>8}")
        print("-" * 88)
        for model in args.models:
            measure(model, manifest, args.batch_size)
    print(f"goal: >= {GOAL:.0f} images/s with {DEFAULT_MODEL}; load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
