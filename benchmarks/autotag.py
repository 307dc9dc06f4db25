"""Auto-tagging accuracy on the dev product photos of ../shared/data/clothing: zero-shot phrases (the
indexer's fallback, `fashionlens.search.autotag`) against linear heads (`fashionlens.model.heads`) fitted on
the train photos, on the joint embedding and on the garment view (what the model ships).

    python benchmarks/autotag.py [--model fashionlens-mini] [--train-limit N] [--cache .cache/features]
    python benchmarks/autotag.py --cache .cache/features \
        --fit-out src/fashionlens/model/weights/fashionlens-mini/attribute_heads.safetensors   # refit

Heads: one softmax layer per field (category; subcategory within it; dominant colour; the other
single-valued fields), fitted full-batch with Adam and weight decay, on the L2-normalised joint image
embedding or on the garment view (`fashionlens.model.garment_view`: the frozen encoder on the photo at its
own aspect ratio, pooled overall and in three bands); colour and tone heads also read each photo's colour
histogram (`fashionlens.model.colours`). The view variant is what `--fit-out` saves. `--cv 5` adds the
category accuracy of 5-fold cross-validation on train, folds grouped by contributor (a check that the choice
does not fit dev alone). Metrics per dev garment are printed under the table (`scores`); plus the
majority-class baseline. Street photos are left out: a photo holds several garments and the labels have no
boxes. Rerun after training a model (`--model DIR`).
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from fashionlens.data.readers import read_dataset
from fashionlens.data.sample import Sample
from fashionlens.model import FeatureCache, create_model
from fashionlens.model.colours import colour_features
from fashionlens.model.heads import INPUT_SCALE, AttributeHeads, Inputs, fit_head
from fashionlens.search.autotag import ZeroShotTagger
from fashionlens.taxonomy import CATEGORIES, GarmentAttributes

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "clothing"


def garments(root: Path, split: str, limit: int | None) -> list[Sample]:
    """Tagged product photos of a split (every `n`-th one when limited, so all contributors stay in)."""
    samples = [s for s in read_dataset("clothing", root, split) if s.role == "shop" and s.attributes]
    step = max(1, len(samples) // limit) if limit else 1
    return samples[::step][:limit]


def photo_inputs(model, samples: Sequence[Sample], cache: FeatureCache | None, batch: int = 32) -> Inputs:
    """What heads may read of each photo: joint embedding, garment view and colour histogram."""
    parts: dict[str, list[np.ndarray]] = {"embedding": [], "view": [], "histogram": []}
    for start in tqdm(range(0, len(samples), batch), desc="photos", unit="batch", leave=False):
        paths = [str(s.image) for s in samples[start : start + batch]]
        parts["embedding"].append(model.embed_images(paths, cache=cache).numpy())
        parts["view"].append(model.garment_views(paths, cache=cache).numpy())
        parts["histogram"].append(colour_features(paths, cache).numpy())
    return {name: np.concatenate(chunks) for name, chunks in parts.items()}


def contributors(root: Path) -> dict[str, str]:
    """Product photo id -> who sent it (the labels' `contributor`)."""
    with (root / "labels.jsonl").open() as lines:
        records = [json.loads(line) for line in lines]
    return {r["id"]: r["contributor"] for r in records if r.get("contributor") is not None}


def grouped_cv_category(
    inputs: Inputs, tags: Sequence[GarmentAttributes], groups: Sequence[str], folds: int
) -> float:
    """Category accuracy of category heads (on every input but the histogram) fitted on the other folds,
    each contributor's photos in one fold."""
    kept = np.array([t.category in CATEGORIES for t in tags])
    x = np.hstack([np.asarray(values)[kept] for name, values in inputs.items() if name != "histogram"])
    labels = np.array([t.category for t in tags])[kept]
    order = sorted(set(groups))
    fold_of = np.array([order.index(g) % folds for g in groups])[kept]
    right = 0
    for fold in range(folds):
        train, held = fold_of != fold, fold_of == fold
        head = fit_head(x[train], list(labels[train]), CATEGORIES)
        with torch.no_grad():
            logits = head(torch.from_numpy(x[held]).float() * INPUT_SCALE).numpy()
        right += int((np.array(CATEGORIES)[logits.argmax(1)] == labels[held]).sum())
    return right / len(labels)


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
    parser.add_argument("--cv", type=int, default=0, help="also K-fold contributor-grouped CV on train")
    parser.add_argument("--fit-out", type=Path, default=None, help="save the fitted heads here (safetensors)")
    args = parser.parse_args()

    start = time.perf_counter()
    model = create_model(args.model).eval()
    cache = FeatureCache(args.cache) if args.cache else None
    dev = garments(args.data, "dev", args.dev_limit)
    train = garments(args.data, "train", args.train_limit)
    dev_in, train_in = photo_inputs(model, dev, cache), photo_inputs(model, train, cache)
    truth = [s.attributes for s in dev]
    train_tags = [s.attributes for s in train]
    sender = contributors(args.data)
    groups = [sender.get(s.id, s.id) for s in train]

    category, subcategory, colour, tone = (
        Counter(getattr(t, name) if name != "color" else t.color[0] for t in train_tags).most_common(1)[0][0]
        for name in ("category", "subcategory", "color", "tone")
    )
    majority = GarmentAttributes(category, subcategory=subcategory, color=(colour,), tone=tone)
    rows = {
        "majority class (train)": [majority] * len(dev),
        "zero-shot phrases": ZeroShotTagger(model).predict(dev_in["embedding"]),
    }
    cv: dict[str, float] = {}
    for name, photo in (("heads on the embedding", "embedding"), ("heads on the garment view", "view")):
        inputs = {photo: train_in[photo], "histogram": train_in["histogram"]}
        fitted = AttributeHeads.fit(inputs, train_tags, model.encoder_id)
        rows[name] = fitted.predict({photo: dev_in[photo], "histogram": dev_in["histogram"]})
        if args.cv:
            cv[name] = grouped_cv_category(inputs, train_tags, groups, args.cv)
    if args.fit_out:  # the last fitted: on the garment view
        fitted.save(args.fit_out)
        print(f"wrote {args.fit_out}")

    print(f"\nmodel {args.model}: {len(dev)} dev product photos, heads fitted on {len(train)} train photos")
    header = f"{'method':<26} | " + " | ".join(f"{name:>9}" for name in COLUMNS)
    print(header + (f" | {'cv categ.':>9}" if args.cv else ""))
    print("-" * (len(header) + (12 if args.cv else 0)))
    for name, predicted in rows.items():
        cells = " | ".join(f"{value:>9.3f}" for value in scores(predicted, truth))
        if args.cv:
            cells += f" | {cv[name]:>9.3f}" if name in cv else f" | {'':>9}"
        print(f"{name:<26} | {cells}")
    seconds = time.perf_counter() - start
    print(
        "colour: the first predicted colour is the dominant labelled one; colour∈: it is any labelled one;\n"
        "any∈: some predicted colour is labelled; precision: predicted colours that are labelled;\n"
        "two: photos given two colours; tone: accuracy on tone-labelled garments"
        + (
            f";\ncv categ.: category, {args.cv}-fold cross-validation on train, grouped by contributor"
            if args.cv
            else ""
        )
        + f". In {seconds:.0f} s"
    )


if __name__ == "__main__":
    main()
