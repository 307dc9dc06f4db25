"""Auto-tagging accuracy on the dev product photos of ../shared/data/clothing: zero-shot phrases (the
indexer's fallback, `fashionlens.search.autotag`) against linear heads (`fashionlens.model.heads`, what the
model ships) fitted on the train photos' embeddings, alone and with the photos' colour histograms.

    python benchmarks/autotag.py [--model fashionlens-mini] [--train-limit N] [--cache .cache/features]
    python benchmarks/autotag.py --cache .cache/features \
        --fit-out src/fashionlens/model/weights/fashionlens-mini/attribute_heads.safetensors   # refit

All read the same L2-normalised image embeddings. Heads: one softmax layer per field on the embedding
(category; subcategory within it; dominant colour; the other single-valued fields), fitted full-batch with
Adam and weight decay; "+ colour histograms" adds each photo's histogram (`fashionlens.model.colours`) to
the input of the colour and tone heads: that variant is what `--fit-out` saves. Metrics per dev garment are
printed under the table (`scores`); plus the majority-class baseline. Street photos are left out: a
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
from fashionlens.model.colours import colour_features
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


COLUMNS = ("category", "subcat.", "colour", "colour∈", "any∈", "precision", "two", "tone")


def scores(predicted: Sequence[GarmentAttributes], truth: Sequence[GarmentAttributes]) -> list[float]:
    """Per `COLUMNS`: category and subcategory accuracy; the first predicted colour = the dominant labelled
    one, or any labelled one; any predicted colour labelled; the share of predicted colours that are
    labelled; the share of photos given two colours; tone accuracy (garments with a tone label)."""
    rows = list(zip(predicted, truth, strict=True))
    named = [(c, t) for p, t in rows for c in p.color]
    return [
        float(np.mean([p.category == t.category for p, t in rows])),
        float(np.mean([p.subcategory == t.subcategory for p, t in rows])),
        float(np.mean([p.color[0] == t.color[0] for p, t in rows])),
        float(np.mean([p.color[0] in t.color for p, t in rows])),
        float(np.mean([not set(p.color).isdisjoint(t.color) for p, t in rows])),
        float(np.mean([c in t.color for c, t in named])),
        float(np.mean([len(p.color) > 1 for p, _ in rows])),
        float(np.mean([p.tone == t.tone for p, t in rows if t.tone is not None])),
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

    dev_c, train_c = (colour_features([s.image for s in part], cache) for part in (dev, train))

    zero_shot = ZeroShotTagger(model).predict(dev_x)
    heads = AttributeHeads.fit(train_x, train_tags, model).predict(dev_x)
    fitted = AttributeHeads.fit(train_x, train_tags, model, colours=train_c.numpy())
    with_colours = fitted.predict(dev_x, dev_c)
    if args.fit_out:
        fitted.save(args.fit_out)
        print(f"wrote {args.fit_out}")

    category, subcategory, colour, tone = (
        Counter(getattr(t, name) if name != "color" else t.color[0] for t in train_tags).most_common(1)[0][0]
        for name in ("category", "subcategory", "color", "tone")
    )
    majority = GarmentAttributes(category, subcategory=subcategory, color=(colour,), tone=tone)
    print(f"\nmodel {args.model}: {len(dev)} dev product photos, heads fitted on {len(train)} train photos")
    print(f"{'method':<22} | " + " | ".join(f"{name:>9}" for name in COLUMNS))
    print("-" * (25 + 12 * len(COLUMNS)))
    for name, predicted in (
        ("majority class (train)", [majority] * len(dev)),
        ("zero-shot phrases", zero_shot),
        ("linear heads", heads),
        ("+ colour histograms", with_colours),
    ):
        cells = " | ".join(f"{value:>9.3f}" for value in scores(predicted, truth))
        print(f"{name:<22} | {cells}")
    seconds = time.perf_counter() - start
    print(
        "colour: the first predicted colour is the dominant labelled one; colour∈: it is any labelled one;\n"
        "any∈: some predicted colour is labelled; precision: predicted colours that are labelled;\n"
        f"two: photos given two colours; tone: accuracy on tone-labelled garments. In {seconds:.0f} s"
    )


if __name__ == "__main__":
    main()
