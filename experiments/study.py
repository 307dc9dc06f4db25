"""The thesis's Table 4.1 on the shared real photos: train the variants, evaluate them on dev, write results.

    python experiments/study.py train        # (a) and (b) via their recipes, (d) the dual encoder
    python experiments/study.py evaluate     # every row of docs/results.md -> runs/study/results.json
    python experiments/study.py report       # docs/results.md tables + figures from results.json

Variants: (a) fashionlens-mini on descriptions, (b) descriptions + template captions, (c) fashionlens-mini
zero-shot (Q-Former not fine-tuned), (d) FashionCLIP-style dual encoder from the same parts. Only the train
and dev splits are read; dev chooses, nothing else is looked at.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from clothing import product_photos, street_garments  # experiments/clothing.py

from fashionlens.baselines.dual_encoder import DualEncoder, SentenceEncoder, train_dual_encoder
from fashionlens.captions import template_caption
from fashionlens.data.sample import Sample
from fashionlens.evaluation.captions import caption_attribute_accuracy, caption_metrics
from fashionlens.evaluation.retrieval import rank_gallery, retrieval_metrics
from fashionlens.images import load_image
from fashionlens.model import FashionBlip2, create_model
from fashionlens.model.feature_cache import FeatureCache

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "runs" / "study"
CACHE = REPO / ".cache" / "features"
RECIPES = {"a": "configs/mini-descriptions.yaml", "b": "configs/mini-mixed.yaml"}
RUNS = {
    "a": REPO / "runs/mini-descriptions",
    "b": REPO / "runs/mini-mixed",
}
NAMES = {
    "a": "(a) fashionlens-mini, descriptions",
    "b": "(b) fashionlens-mini, descriptions + templates",
    "c": "(c) fashionlens-mini zero-shot (Q-Former not fine-tuned)",
    "d": "(d) dual encoder (FashionCLIP-style), descriptions + templates",
    "raw": "raw EfficientNet-Lite0 pooled features (image->image only)",
    "ship": "shipped fashionlens-mini = (a) at its best dev step",
}
PROXY_QUERIES = 120


def example_street_photos(photos: Sequence[Path]) -> list[Path]:
    """Four dev street photos shown in the Figure-4.2-style grids (evenly spaced, so not hand-picked)."""
    return [photos[i] for i in np.linspace(0, len(photos) - 1, 4).astype(int)]


SYNTHETIC_ITEMS = 300


# ---------------------------------------------------------------------------------------------- training


def train_all(variants: Sequence[str]) -> None:
    from fashionlens.training.config import TrainConfig
    from fashionlens.training.loop import train

    OUT.mkdir(parents=True, exist_ok=True)
    timings_path = OUT / "train_timings.json"
    timings = json.loads(timings_path.read_text()) if timings_path.exists() else {}
    for key, recipe in RECIPES.items():
        if key not in variants:
            continue
        config = TrainConfig.from_yaml(REPO / recipe)
        result = train(config, base=REPO, resume=(RUNS[key] / "checkpoints").exists())
        timings[key] = result.wall_seconds
        print(
            f"{NAMES[key]}: {result.steps} steps, {result.wall_seconds / 60:.1f} min, "
            f"best dev R@10 {result.best_metric}"
        )
    if "d" in variants:
        start = time.perf_counter()
        train_dual(product_photos("train"))
        timings["d"] = time.perf_counter() - start
    timings_path.write_text(json.dumps(timings, indent=2))


def train_dual(train: Sequence[Sample]) -> None:
    """(d) on the same pairs as (b): each photo with its description and its template caption."""
    encoder = create_model("fashionlens-mini")
    features = encoder.image_features([s.image for s in train], cache=FeatureCache(CACHE))
    texts = [s.captions[0] for s in train] + [template_caption(s.attributes) for s in train if s.attributes]
    rows = list(range(len(train))) + [i for i, s in enumerate(train) if s.attributes]
    vectors = SentenceEncoder()(texts)
    model, history = train_dual_encoder(features[rows], vectors, epochs=10)
    model.save_pretrained(OUT / "dual-encoder")
    (OUT / "dual-encoder" / "history.json").write_text(json.dumps(history))


# -------------------------------------------------------------------------------------------- evaluation


@dataclass
class Retriever:
    """What a row of the table needs from a model: image features -> vectors, texts -> vectors, and the
    model that captions (FashionBlip2 variants only)."""

    name: str
    embed_features: Callable[[torch.Tensor], torch.Tensor]
    embed_texts: Callable[[list[str]], torch.Tensor] | None
    captioner: FashionBlip2 | None = None


def retriever(key: str) -> Retriever:
    """The model behind one row; trained variants use their final weights (best-by-dev is also saved)."""
    if key in RUNS:
        model = create_model(str(RUNS[key] / "final")).eval()
        return Retriever(NAMES[key], model.embed_image_features, model.embed_texts, model)
    if key == "ship":
        model = create_model("fashionlens-mini").eval()
        return Retriever(NAMES[key], model.embed_image_features, model.embed_texts, model)
    if key == "c":
        zero = create_model("fashionlens-mini", checkpoint=None).eval()
        return Retriever(NAMES["c"], zero.embed_image_features, zero.embed_texts, zero)
    if key == "d":
        dual = DualEncoder.from_pretrained(OUT / "dual-encoder")
        return Retriever(NAMES["d"], dual.embed_image_features, dual.embed_texts)
    return Retriever(NAMES["raw"], lambda f: torch.nn.functional.normalize(f.float().mean(1), dim=-1), None)


def ranked_ids(
    queries: torch.Tensor, gallery: torch.Tensor, ids: Sequence[str], k: int = 20
) -> list[list[str]]:
    _, indices = rank_gallery(queries, gallery, k=k)
    return [[ids[j] for j in row] for row in indices]


def consumer_copy(image, seed: int):
    """A strongly augmented "consumer" photo of a catalogue photo (crop, rotation, perspective, colour cast,
    new background, occlusion, noise): the same transform the synthetic generator applies to its garments."""
    from fashionlens.data.synthetic import consumer_view

    return consumer_view(image, np.random.default_rng(seed), size=224)


def evaluate_all(variants: Sequence[str]) -> dict:
    cache = FeatureCache(CACHE)
    encoder = create_model("fashionlens-mini")
    dev = product_photos("dev")
    dev_ids = [s.id for s in dev]
    dev_features = encoder.image_features([s.image for s in dev], cache=cache).float()
    street = street_garments("dev")
    street_photos = sorted({s.image for s in street})
    street_features = encoder.image_features(street_photos, cache=cache).float()
    street_row = {p: i for i, p in enumerate(street_photos)}
    rng = np.random.default_rng(0)
    proxy = sorted(rng.choice(len(dev), size=min(PROXY_QUERIES, len(dev)), replace=False).tolist())
    proxy_features = encoder.image_features(
        [consumer_copy(load_image(dev[i].image), i) for i in proxy]
    ).float()
    synthetic = synthetic_pairs(encoder)

    path = OUT / "results.json"
    results: dict = json.loads(path.read_text()) if path.exists() else {}
    results |= {"n_dev_photos": len(dev), "n_street_garments": len(street)}
    for key in variants:
        model = retriever(key)
        row: dict = {"name": model.name}
        images = model.embed_features(dev_features)
        if model.embed_texts is not None:
            texts = model.embed_texts([s.captions[0] for s in dev])
            row["text_to_image"] = retrieval_metrics(
                dict(zip(dev_ids, ranked_ids(texts, images, dev_ids), strict=True)),
                {i: {i} for i in dev_ids},
                ks=(1, 10),
            )
        # street garment -> catalogue product sharing its subcategory and main colour
        queries = model.embed_features(street_features)[[street_row[s.image] for s in street]]
        photos = model.embed_features(street_features)[
            [street_row[p] for p in example_street_photos(street_photos)]
        ]
        row["examples"] = [
            {"query": str(p), "ranked": [str(dev[j].image) for j in r]}
            for p, r in zip(
                example_street_photos(street_photos), rank_gallery(photos, images, k=5)[1], strict=True
            )
        ]
        truth = {
            s.id: {
                d.id
                for d in dev
                if d.attributes
                and d.attributes.subcategory == s.attributes.subcategory
                and d.attributes.color[:1] == s.attributes.color[:1]
            }
            for s in street
        }
        row["street_to_shop"] = retrieval_metrics(
            dict(zip([s.id for s in street], ranked_ids(queries, images, dev_ids), strict=True)), truth
        )
        proxy_queries = model.embed_features(proxy_features)
        row["consumer_proxy"] = retrieval_metrics(
            {f"q{i}": r for i, r in zip(proxy, ranked_ids(proxy_queries, images, dev_ids), strict=True)},
            {f"q{i}": {dev_ids[i]} for i in proxy},
        )
        shop, consumer, shop_ids, consumer_items = synthetic
        row["synthetic_c2s"] = retrieval_metrics(
            dict(
                zip(
                    consumer_items,
                    ranked_ids(model.embed_features(consumer), model.embed_features(shop), shop_ids),
                    strict=True,
                )
            ),
            {q: {q.rsplit("-c", 1)[0]} for q in consumer_items},
        )
        if model.captioner is not None:
            row["captions"] = caption_rows(key, model.captioner, dev, dev_features, cache)
        results[key] = row
        print(key, json.dumps(row, default=float)[:400])
        OUT.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(results, indent=2, default=float))  # after each row: nothing lost
    return results


def synthetic_pairs(encoder) -> tuple[torch.Tensor, torch.Tensor, list[str], list[str]]:
    """Instance-level consumer-to-shop on the synthetic catalogue: consumer photo -> its item's shop photo."""
    from fashionlens.data.synthetic import generate_catalogue
    from fashionlens.jsonl import read_jsonl

    root = OUT / "synthetic"
    manifest = root / "catalogue.jsonl"
    if not manifest.exists():
        generate_catalogue(SYNTHETIC_ITEMS, root, seed=1, consumer_per_item=1)
    records = list(read_jsonl(manifest))
    shop = [r for r in records if r["role"] == "shop"]
    consumer = [r for r in records if r["role"] == "consumer"]
    features = encoder.image_features([root / r["image"] for r in shop + consumer]).float()
    return (
        features[: len(shop)],
        features[len(shop) :],
        [r["item_id"] for r in shop],
        [f"{r['item_id']}-c{i}" for i, r in enumerate(consumer)],
    )


def caption_rows(
    key: str, model: FashionBlip2, dev: Sequence[Sample], features: torch.Tensor, cache: FeatureCache
) -> dict:
    inputs = model.tag_inputs([s.image for s in dev], cache)
    predictions = {}
    for start in range(0, len(dev), 32):
        chunk = slice(start, start + 32)
        texts = model.caption_features(
            features[chunk], None if inputs is None else {name: x[chunk] for name, x in inputs.items()}
        )
        for sample, text in zip(dev[chunk], texts, strict=True):
            predictions[sample.id] = text
    (OUT / f"captions-{key}.jsonl").write_text(
        "".join(json.dumps({"id": i, "caption": c}) + "\n" for i, c in predictions.items())
    )
    metrics = caption_metrics(predictions, {s.id: list(s.captions) for s in dev})
    tagged = {s.id: s.attributes for s in dev if s.attributes is not None}
    metrics["attributes"] = caption_attribute_accuracy({i: predictions[i] for i in tagged}, tagged)
    return metrics


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("stage", choices=["train", "evaluate", "report"])
    parser.add_argument(
        "--variants",
        nargs="+",
        choices=["a", "b", "c", "d", "raw", "ship"],
        help="rows to train (a, b, d) or evaluate (any); default: all of them",
    )
    args = parser.parse_args()
    if args.stage == "train":
        train_all(args.variants or ["a", "b", "d"])
    elif args.stage == "evaluate":
        evaluate_all(args.variants or ["a", "b", "c", "d", "raw", "ship"])
    else:
        from report import write_report  # experiments/report.py

        write_report(json.loads((OUT / "results.json").read_text()), OUT, REPO / "docs")


if __name__ == "__main__":
    main()
