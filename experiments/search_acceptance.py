"""Issue 6's acceptance check on photos the model never trained on: the dev product photos of
../shared/data/clothing, indexed untagged (so auto-tagging and the model do all the work), queried by text
and by augmented copies of catalogue photos.

    python experiments/search_acceptance.py [--queries 60]

Text: one query "<colour> <subcategory>" per combination with at least 5 photos; reports the fraction of
each query's top 10 whose *labelled* category (and colour) match the query. Photo: `consumer_view` copies of
dev photos (crop, rotation, perspective, new background, colour cast); reports how often the original is
first and in the top 10.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from clothing import product_photos  # experiments/clothing.py

from fashionlens.data.sample import Sample
from fashionlens.data.synthetic import consumer_view
from fashionlens.images import load_image
from fashionlens.model import create_model
from fashionlens.search.engine import SearchEngine
from fashionlens.search.indexer import index_catalogue
from fashionlens.taxonomy import category_of


def index_untagged(samples: Sequence[Sample], model, model_name: str, folder: Path) -> SearchEngine:
    """Index the photos with ids and paths only (no tags, no captions) and open the engine over them."""
    catalogue = folder / "catalogue.jsonl"
    catalogue.write_text("".join(json.dumps({"id": s.id, "image": str(s.image)}) + "\n" for s in samples))
    index_catalogue(catalogue, folder / "db", model, model_name, progress=False)
    return SearchEngine.open(folder / "db", model=model)


def text_hits(engine: SearchEngine, samples: Sequence[Sample], min_photos: int = 5) -> tuple[int, np.ndarray]:
    """(number of queries, mean top-10 fractions [right category, right colour, both]) for the
    "<colour> <subcategory>" queries with at least `min_photos` labelled photos."""
    truth = {s.id: s.attributes for s in samples}
    combos = Counter((a.color[0], a.subcategory) for a in truth.values() if a is not None and a.color)
    queries = sorted(combo for combo, count in combos.items() if count >= min_photos)
    hits = []
    for colour, subcategory in queries:
        top = [truth[r["id"]] for r in engine.search(text=f"{colour} {subcategory}", k=10)]
        category = [a is not None and a.category == category_of(subcategory) for a in top]
        color = [a is not None and colour in a.color for a in top]
        hits.append((np.mean(category), np.mean(color), np.mean(np.logical_and(category, color))))
    return len(queries), np.mean(hits, axis=0)


def main() -> None:
    import tempfile

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--queries", type=int, default=60, help="augmented photo queries")
    parser.add_argument("--model", default="fashionlens-mini")
    args = parser.parse_args()

    dev = product_photos("dev")
    model = create_model(args.model).eval()
    with tempfile.TemporaryDirectory() as tmp:
        engine = index_untagged(dev, model, args.model, Path(tmp))
        n_text, (category, colour, both) = text_hits(engine, dev)
        chosen = np.random.default_rng(0).choice(len(dev), size=min(args.queries, len(dev)), replace=False)
        ranks = []
        for i in chosen:
            ids = [
                r["id"] for r in engine.search(image=consumer_view(load_image(dev[i].image), int(i)), k=10)
            ]
            ranks.append(ids.index(dev[i].id) + 1 if dev[i].id in ids else None)

    print(f"catalogue: {len(dev)} dev product photos, indexed without tags, model {args.model}")
    print(f"text queries ({n_text} '<colour> <subcategory>' with >= 5 photos), top 10:")
    print(f"  right category {category:.3f}, right colour {colour:.3f}, both {both:.3f}")
    first = np.mean([r == 1 for r in ranks])
    top10 = np.mean([r is not None for r in ranks])
    print(f"photo queries ({len(ranks)} augmented copies): original first {first:.3f}, in top 10 {top10:.3f}")


if __name__ == "__main__":
    main()
