"""Issue 6's acceptance check on photos the model never trained on: the dev product photos of
../shared/data/clothing, indexed untagged (so auto-tagging and the model do all the work), queried by text
and by augmented copies of catalogue photos.

    python experiments/search_acceptance.py [--queries 60]

Text: one query "<colour> <subcategory>" per combination with at least 5 dev photos; reports the fraction of
each query's top 10 whose *labelled* category (and colour) match the query. Photo: `consumer_view` copies of
dev photos (crop, rotation, perspective, new background, colour cast); reports how often the original is
first and in the top 10.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np

from fashionlens.data.readers import read_dataset
from fashionlens.data.synthetic import consumer_view
from fashionlens.images import load_image
from fashionlens.model import create_model
from fashionlens.search.engine import SearchEngine
from fashionlens.search.indexer import index_catalogue
from fashionlens.taxonomy import category_of

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "clothing"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--queries", type=int, default=60, help="augmented photo queries")
    parser.add_argument("--model", default="fashionlens-mini")
    args = parser.parse_args()

    dev = [s for s in read_dataset("clothing", DATA, split="dev") if s.source == "clothing-dataset"]
    truth = {s.id: s.attributes for s in dev}
    model = create_model(args.model).eval()
    with tempfile.TemporaryDirectory() as tmp:
        catalogue = Path(tmp) / "catalogue.jsonl"
        catalogue.write_text("".join(json.dumps({"id": s.id, "image": str(s.image)}) + "\n" for s in dev))
        index_catalogue(catalogue, Path(tmp) / "db", model, args.model, progress=False)
        engine = SearchEngine.open(Path(tmp) / "db", model=model)

        combos = Counter(
            (a.color[0], a.subcategory) for a in truth.values() if a is not None and a.color and a.subcategory
        )
        category_hits, colour_hits, both_hits = [], [], []
        for (colour, subcategory), count in sorted(combos.items()):
            if count < 5:
                continue
            top = [truth[r["id"]] for r in engine.search(text=f"{colour} {subcategory}", k=10)]
            right_category = [a is not None and a.category == category_of(subcategory) for a in top]
            right_colour = [a is not None and colour in a.color for a in top]
            category_hits.append(np.mean(right_category))
            colour_hits.append(np.mean(right_colour))
            both_hits.append(np.mean([x and y for x, y in zip(right_category, right_colour, strict=True)]))

        rng = np.random.default_rng(0)
        chosen = rng.choice(len(dev), size=min(args.queries, len(dev)), replace=False)
        ranks = []
        for i in chosen:
            results = engine.search(image=consumer_view(load_image(dev[i].image), int(i)), k=10)
            ids = [r["id"] for r in results]
            ranks.append(ids.index(dev[i].id) + 1 if dev[i].id in ids else None)

    print(f"catalogue: {len(dev)} dev product photos, indexed without tags, model {args.model}")
    print(f"text queries ({len(category_hits)} '<colour> <subcategory>' with >= 5 photos), top 10:")
    print(
        f"  right category {np.mean(category_hits):.3f}, right colour {np.mean(colour_hits):.3f}, "
        f"both {np.mean(both_hits):.3f}"
    )
    first = np.mean([r == 1 for r in ranks])
    top10 = np.mean([r is not None for r in ranks])
    print(f"photo queries ({len(ranks)} augmented copies): original first {first:.3f}, in top 10 {top10:.3f}")


if __name__ == "__main__":
    main()
