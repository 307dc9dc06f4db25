"""Synthetic catalogue rendering speed on one core: shop renders, consumer renders, and the whole catalogue
(shop + consumer renders, JPEG encoding, manifest) written to a temp folder.

    python benchmarks/synthetic.py [--items 300] [--size 224 ...]

Rates are images per CPU-second of this process (time.process_time), so other jobs on a shared machine do not
count against them; wall-clock rates are printed beside them. Goal (issue 2): >= 200 images/s at 224 px.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable

from fashionlens.data.synthetic import generate_catalogue, iter_items, render_consumer, render_shop

GOAL = 200.0


def rate(work: Callable[[], int]) -> tuple[float, float]:
    """(images per CPU second, images per wall second) of `work`, which returns how many images it made."""
    cpu, wall = time.process_time(), time.perf_counter()
    images = work()
    return images / (time.process_time() - cpu), images / (time.perf_counter() - wall)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, default=300, help="items per measurement")
    parser.add_argument("--size", type=int, nargs="+", default=[224], help="image sides to measure")
    args = parser.parse_args()

    print(f"{'size':>5} {'what':<30} {'img/s (cpu)':>12} {'img/s (wall)':>13}  goal")
    for size in args.size:
        render_shop(next(iter_items(1, seed=99)), size)  # load fonts and caches outside the timings
        items = list(iter_items(args.items, seed=1))  # distinct items: no render reuses a cached garment

        def shop(items=items, size=size) -> int:
            for item in items:
                render_shop(item, size)
            return len(items)

        def consumer(items=items, size=size) -> int:
            for k, item in enumerate(items):
                render_consumer(item, k, size)
            return len(items)

        def catalogue(size=size) -> int:
            with tempfile.TemporaryDirectory() as out:
                generate_catalogue(args.items // 2, out, seed=2, consumer_per_item=1, size=size)
            return args.items // 2 * 2

        for what, work in (
            ("shop render", shop),
            ("consumer render", consumer),
            ("catalogue (render+jpeg+jsonl)", catalogue),
        ):
            cpu, wall = rate(work)
            verdict = ("ok" if cpu >= GOAL else "BELOW") if size == 224 else "-"
            print(f"{size:>5} {what:<30} {cpu:>12.0f} {wall:>13.0f}  {verdict}")


if __name__ == "__main__":
    main()
