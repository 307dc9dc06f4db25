"""Model costs on CPU: parameter counts, a fashionlens-mini training step, embedding throughput with and
without the feature cache, and EfficientNet-Lite0 in eager torch vs ONNX Runtime.

    python benchmarks/model.py [--threads N] [--batch 16] [--images 64]

Parameter counts come from every registered config built on the meta device (no weights needed, so the
blip2-opt ones count offline too). The rest runs fashionlens-mini on real photos from the shared clothing
data when present (FASHIONLENS_CLOTHING_DIR), else on generated ones.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from fashionlens.model import FashionBlip2, FeatureCache, create_model, list_models
from fashionlens.model.image_encoders import OnnxImageEncoder

CLOTHING_DIR = Path(
    os.environ.get(
        "FASHIONLENS_CLOTHING_DIR", Path(__file__).resolve().parents[2] / "shared" / "data" / "clothing"
    )
)


def photos_and_texts(n: int, folder: Path) -> tuple[list[Path], list[str]]:
    """n product photos with their descriptions; generated stand-ins where the shared data is absent."""
    labels = CLOTHING_DIR / "labels.jsonl"
    if labels.is_file():
        records = [json.loads(line) for line in labels.read_text().splitlines()]
        records = [r for r in records if r["image"].startswith("images/")][:n]
        return [CLOTHING_DIR / r["image"] for r in records], [r["description"] for r in records]
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        paths.append(folder / f"{i}.jpg")
        Image.fromarray(rng.integers(0, 255, (480, 360, 3), dtype=np.uint8)).save(paths[-1])
    return paths, [f"a photo of garment number {i} in a plain colour" for i in range(n)]


def seconds(run: Callable[[], object], repeats: int) -> float:
    """Median wall time of `repeats` runs after one warm-up."""
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def parameter_counts() -> list[tuple[str, int, int]]:
    rows = []
    for name in list_models():
        with torch.device("meta"):
            model = create_model(name, pretrained=False)
        parameters = list(model.parameters())
        rows.append(
            (name, sum(p.numel() for p in parameters), sum(p.numel() for p in parameters if p.requires_grad))
        )
    return rows


def train_step_seconds(model: FashionBlip2, features: torch.Tensor, texts: list[str], repeats: int) -> float:
    """One AdamW step (forward with ITC + ITM + LM, backward, update) on precomputed features."""
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    model.train()

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        model({"features": features, "texts": texts})["loss"].backward()
        optimizer.step()

    return seconds(step, repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--threads", type=int, default=torch.get_num_threads(), help="torch/ORT intra-op threads"
    )
    parser.add_argument("--batch", type=int, default=16, help="training batch size")
    parser.add_argument("--images", type=int, default=64, help="images for the throughput rows")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    print("| config | parameters | trainable |\n|---|---|---|")
    for name, total, trainable in parameter_counts():
        print(
            f"| {name} | {total / 1e6:,.1f} M | {trainable / 1e6:,.2f} M ({100 * trainable / total:.2f} %) |"
        )

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        paths, texts = photos_and_texts(max(args.images, args.batch), folder)
        model = create_model("fashionlens-mini").eval()
        cache = FeatureCache(folder / "cache")
        features = model.image_features(paths[: args.batch], cache=cache)
        step = train_step_seconds(model, features, texts[: args.batch], args.repeats)
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        model.eval()

        images = paths[: args.images]
        uncached = seconds(lambda: model.embed_images(images), args.repeats)
        model.image_features(images, cache=cache)  # fill the cache
        cached = seconds(lambda: model.embed_images(images, cache=cache), args.repeats)
        texts_s = seconds(lambda: model.embed_texts(texts[: args.images]), args.repeats)

        pixels = model.transform.batch([Image.open(p).convert("RGB") for p in paths[:32]])
        with torch.no_grad():
            eager = seconds(lambda: model.image_encoder(pixels), args.repeats)
            channels_last = model.image_encoder.to(memory_format=torch.channels_last)
            eager_cl = seconds(
                lambda: channels_last(pixels.to(memory_format=torch.channels_last)), args.repeats
            )
        onnx = OnnxImageEncoder(model.image_encoder, 224, folder / "encoder.onnx")
        ort = seconds(lambda: onnx(pixels), args.repeats)

    print(
        f"\nfashionlens-mini on CPU, {args.threads} thread(s), median of {args.repeats} runs after a warm-up"
    )
    print("| measure | value |\n|---|---|")
    print(f"| train step (ITC+ITM+LM, AdamW), batch {args.batch}, cached features | {step:.2f} s |")
    print(f"| peak RSS of this process (model + training steps) | {peak_mb:,.0f} MB |")
    print(f"| embed_images, no cache (decode + encoder + Q-Former) | {len(images) / uncached:.1f} images/s |")
    print(f"| embed_images, warm feature cache | {len(images) / cached:.1f} images/s |")
    print(f"| embed_texts | {len(images) / texts_s:.1f} texts/s |")
    print(f"| EfficientNet-Lite0 eager torch, batch 32 | {1000 * eager / 32:.1f} ms/img |")
    print(f"| EfficientNet-Lite0 eager torch channels_last, batch 32 | {1000 * eager_cl / 32:.1f} ms/img |")
    print(f"| EfficientNet-Lite0 ONNX Runtime, batch 32 | {1000 * ort / 32:.1f} ms/img |")


if __name__ == "__main__":
    main()
