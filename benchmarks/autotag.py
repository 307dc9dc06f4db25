"""Auto-tagging accuracy on the dev product photos of ../shared/data/clothing: zero-shot phrases (what the
indexer's fallback, `fashionlens.search.autotag`) against linear heads (`fashionlens.search.heads`, what the
indexer uses where the model ships them) fitted on the train photos' embeddings.

    python benchmarks/autotag.py [--model fashionlens-mini] [--train-limit N] [--cache .cache/features]
    python benchmarks/autotag.py --cache .cache/features \
        --fit-out src/fashionlens/model/weights/fashionlens-mini/attribute_heads.safetensors   # refit

Both read the same L2-normalised image embeddings. Heads: one softmax layer per field on the embedding
(category; subcategory within it; dominant colour; the other single-valued fields), fitted full-batch with
Adam and weight decay. Metrics per dev garment: category, subcategory, colour = the dominant (first) labelled
colour, colour in any labelled colour; plus the majority-class baseline. Street photos are left out: a
photo holds several garments and the labels have no boxes. Rerun after training a model (`--model DIR`).
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from fashionlens.data.readers import read_dataset
from fashionlens.data.sample import Sample
from fashionlens.model import FeatureCache, create_model
from fashionlens.model.heads import AttributeHeads
from fashionlens.search.autotag import ZeroShotTagger
from fashionlens.taxonomy import GarmentAttributes

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "clothing"


def garments(root: Path, split: str, limit: int | None) -> list[Sample]:
    """Tagged product photos of a split (every `n`-th one when limited, so all contributors stay in)."""
    samples = [s for s in read_dataset("clothing", root, split) if s.role == "shop" and s.attributes]
    step = max(1, len(samples) // limit) if limit else 1
    return samples[::step][:limit]


def embed(model, samples: Sequence[Sample], cache: FeatureCache | None, batch: int = 32) -> np.ndarray:
    chunks = []
    for start in tqdm(range(0, len(samples), batch), desc="embedding", unit="batch", leave=False):
        paths = [str(s.image) for s in samples[start : start + batch]]
        chunks.append(model.embed_images(paths, cache=cache).numpy())
    return np.concatenate(chunks)


def scores(predicted: list[tuple[str, str, str]], truth: list[GarmentAttributes]) -> list[float]:
    """Accuracies of (category, subcategory, colour) predictions: category, subcategory, colour (2 ways)."""
    rows = list(zip(predicted, truth, strict=True))
    return [
        float(np.mean([p[0] == t.category for p, t in rows])),
        float(np.mean([p[1] == t.subcategory for p, t in rows])),
        float(np.mean([p[2] == t.color[0] for p, t in rows])),
        float(np.mean([p[2] in t.color for p, t in rows])),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="fashionlens-mini")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the clothing data folder")
    parser.add_argument("--train-limit", type=int, default=None, help="train photos for the heads (all)")
    parser.add_argument("--dev-limit", type=int, default=None, help="dev photos to score (all)")
    parser.add_argument("--cache", type=Path, default=None, help="frozen-encoder feature cache folder")
    parser.add_argument("--fit-out", type=Path, default=None, help="save the fitted heads here (safetensors)")
    args = parser.parse_args()

    start = time.perf_counter()
    model = create_model(args.model).eval()
    cache = FeatureCache(args.cache) if args.cache else None
    dev = garments(args.data, "dev", args.dev_limit)
    train = garments(args.data, "train", args.train_limit)
    dev_x, train_x = embed(model, dev, cache), embed(model, train, cache)
    truth = [s.attributes for s in dev]
    train_tags = [s.attributes for s in train]

    tagged = ZeroShotTagger(model).predict(dev_x)
    zero_shot = [(t.category, t.subcategory, t.color[0]) for t in tagged]

    fitted = AttributeHeads.fit(train_x, train_tags, model)
    heads = [(t.category, t.subcategory, t.color[0]) for t in fitted.predict(dev_x)]
    if args.fit_out:
        fitted.save(args.fit_out)
        print(f"wrote {args.fit_out}")

    majority = [
        Counter(getattr(t, name) if name != "color" else t.color[0] for t in train_tags).most_common(1)[0][0]
        for name in ("category", "subcategory", "color")
    ]
    print(f"\nmodel {args.model}: {len(dev)} dev product photos, heads fitted on {len(train)} train photos")
    print(f"{'method':<26} | {'category':>8} | {'subcat.':>8} | {'colour':>8} | {'colour∈':>8}")
    print("-" * 70)
    for name, predicted in (
        ("majority class (train)", [tuple(majority)] * len(dev)),
        ("zero-shot phrases", zero_shot),
        ("linear heads", heads),
    ):
        cells = " | ".join(f"{value:>8.3f}" for value in scores(predicted, truth))
        print(f"{name:<26} | {cells}")
    seconds = time.perf_counter() - start
    print(f"(colour: the dominant labelled colour; colour∈: any labelled colour) in {seconds:.0f} s")


if __name__ == "__main__":
    main()
