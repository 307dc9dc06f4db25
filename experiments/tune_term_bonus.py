"""Picks `engine.TERM_BONUS` on train photos (dev stays for experiments/search_acceptance.py): a random
subset of the train product photos of ../shared/data/clothing, indexed untagged as the acceptance check does,
queried by text "<colour> <subcategory>" (combinations with at least 5 photos in the subset) at several
bonuses; prints the fraction of each query's top 10 in the right category, colour and both.

    python experiments/tune_term_bonus.py [--photos 800] [--bonuses 0 0.01 0.02 0.05 0.1 0.2 0.5]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from clothing import product_photos  # experiments/clothing.py
from search_acceptance import index_untagged, text_hits  # experiments/search_acceptance.py

from fashionlens.model import create_model


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--photos", type=int, default=800, help="train product photos indexed")
    parser.add_argument("--bonuses", type=float, nargs="+", default=[0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5])
    parser.add_argument("--model", default="fashionlens-mini")
    args = parser.parse_args()

    train = product_photos("train")
    rng = np.random.default_rng(0)
    train = [
        train[i] for i in sorted(rng.choice(len(train), size=min(args.photos, len(train)), replace=False))
    ]
    model = create_model(args.model).eval()
    with tempfile.TemporaryDirectory() as tmp:
        engine = index_untagged(train, model, args.model, Path(tmp))
        print(f"{len(train)} train product photos, '<colour> <subcategory>' queries, top 10")
        print("bonus   queries  category  colour  both")
        for bonus in args.bonuses:
            engine.term_bonus = bonus
            n, (category, colour, both) = text_hits(engine, train)
            print(f"{bonus:<7g} {n:<8d} {category:.3f}     {colour:.3f}   {both:.3f}")


if __name__ == "__main__":
    main()
