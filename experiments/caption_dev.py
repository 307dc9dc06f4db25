"""Captions of a model on the dev product photos: COCO metrics against the dev descriptions, and how often
a caption names the labelled category and a labelled main colour (the targets of issue 5).

    python experiments/caption_dev.py [MODEL] [--limit N]      # MODEL: fashionlens-mini or a run folder

Prints a few captions and both metric dicts; writes the captions to runs/captions-dev.jsonl. Reads image
features from .cache/features (computed on a miss).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from clothing import product_photos

from fashionlens.evaluation.captions import caption_attribute_accuracy, caption_metrics
from fashionlens.model import FeatureCache, create_model


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("model", nargs="?", default="fashionlens-mini")
    parser.add_argument("--limit", type=int, default=None, help="first N dev photos only")
    args = parser.parse_args()
    model = create_model(args.model).eval()
    dev = [s for s in product_photos("dev") if s.attributes][: args.limit]
    start = time.perf_counter()
    cache = FeatureCache(".cache/features")
    features = model.image_features([s.image for s in dev], cache=cache)
    inputs = model.tag_inputs([s.image for s in dev], cache=cache)
    captions = dict(zip((s.id for s in dev), model.caption_features(features, inputs), strict=True))
    print(f"{len(dev)} captions in {time.perf_counter() - start:.0f} s; e.g.")
    for caption in list(captions.values())[:5]:
        print("  ", caption)
    print(caption_attribute_accuracy(captions, {s.id: s.attributes for s in dev}))
    print(caption_metrics(captions, {s.id: list(s.captions) for s in dev}))
    out = Path("runs/captions-dev.jsonl")
    out.parent.mkdir(exist_ok=True)
    out.write_text("".join(json.dumps({"id": i, "caption": c}) + "\n" for i, c in captions.items()))


if __name__ == "__main__":
    main()
