"""Throughput of the labelling pipeline against a rate-capped endpoint: does it use the cap it is given?

Runs `fashionlens.labelling.annotate` on generated photos against the fake chat-completions server of
`fashionlens.labelling.testing`, answering after `--latency` seconds and refusing requests over `--cap` per
second with 429 + Retry-After, as OpenAI does. Prints images/s and the fraction of the cap used (goal >= 90 %)
for the client leaning on the server's 429s alone, and with its own request-rate cap set to the server's.

    python benchmarks/annotate.py [--images 2000] [--cap 20] [--latency 0.3] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from PIL import Image

from fashionlens.labelling import Endpoint, LabelSettings, RetryPolicy, annotate
from fashionlens.labelling.testing import FakeVisionServer


def make_photos(folder: Path, n: int) -> Path:
    """n small distinct photos (different colours, so different content hashes)."""
    folder.mkdir()
    for i in range(n):
        Image.new("RGB", (64, 64), (i % 256, i // 256, 96)).save(folder / f"p{i:05d}.png")
    return folder


def run(
    photos: Path, output: Path, cap: float, latency: float, concurrency: int, client_rpm: float | None
) -> dict:
    """One labelling job against a fresh server; returns the row of the table."""
    with FakeVisionServer(latency=latency, rate_limit=cap) as server:
        endpoint = Endpoint(
            server.base_url,
            timeout=30,
            retry=RetryPolicy(max_retries=20, backoff=0.1, max_backoff=2.0),
            concurrency=concurrency,
            requests_per_minute=client_rpm,
        )
        summary = annotate(photos, output, LabelSettings(), endpoint, progress=False)
    assert summary.labelled == summary.images and summary.failed == 0, summary.table()
    return {
        "images": summary.images,
        "requests": server.accepted,
        "429s": summary.rate_limited,
        "seconds": summary.seconds,
        "images/s": summary.images / summary.seconds,
        "req/s": server.accepted / summary.seconds,
        "cap used": server.accepted / summary.seconds / cap,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--cap", type=float, default=20.0, help="server's request-rate cap (requests/s)")
    parser.add_argument("--latency", type=float, default=0.3, help="seconds per answer")
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    settings = [
        (f"concurrency {args.concurrency}, server 429s only", None),
        (f"concurrency {args.concurrency}, client cap {args.cap * 60:g}/min", args.cap * 60),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        photos = make_photos(Path(tmp) / "photos", args.images)
        rows = [
            (name, run(photos, Path(tmp) / f"out{i}.jsonl", args.cap, args.latency, args.concurrency, rpm))
            for i, (name, rpm) in enumerate(settings)
        ]
    print(
        f"\n{args.images} images, 8 per request, {args.latency * 1000:g} ms latency, cap {args.cap:g} req/s"
    )
    header = f"| {'setting':<40} | requests | 429s | seconds | images/s | req/s | cap used |"
    print(header + "\n|" + "|".join("-" * len(cell) for cell in header.split("|")[1:-1]) + "|")
    for name, row in rows:
        print(
            f"| {name:<40} | {row['requests']:>8} | {row['429s']:>4} | {row['seconds']:>7.1f} | "
            f"{row['images/s']:>8.1f} | {row['req/s']:>5.1f} | {row['cap used']:>8.1%} |"
        )


if __name__ == "__main__":
    main()
