"""DeepFashion2 (Ge et al., CVPR 2019; github.com/switchablenorms/DeepFashion2, "Data Organization").

    root/train/image/000001.jpg         root/train/annos/000001.json
    root/validation/image/000001.jpg    root/validation/annos/000001.json
    root/test/image/...                 (no annos: not read)

Each annos json: "source" ("shop" or "user") and "pair_id" for the image, then "item1", "item2", ... each with
"category_name", "category_id" (1-13), "style", "bounding_box" [x1, y1, x2, y2], landmarks, segmentation, ...
A shop item and a user item are a positive pair when they share pair_id and the same style > 0, so
item_id = "<pair_id>-<style>" for style > 0 and None otherwise (style 0 items match nothing). Pairs are
numbered per split, so match items within one split.

One Sample per item: id "<split>/<image stem>#item<n>" (image numbers restart in every split), role "consumer"
for user photos and "shop" for shop photos, position from the category (outer, top, bottom or full).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from tqdm import tqdm

from fashionlens.data.sample import Role, Sample

SPLITS: tuple[str, ...] = ("train", "validation")
ROLES: dict[str, Role] = {"shop": "shop", "user": "consumer"}
#: category_id -> where the garment sits: 1-2 tops, 3-4 outerwear, 5-6 vest/sling, 7-9 bottoms, 10-13 dresses.
POSITIONS = {1: "top", 2: "top", 3: "outer", 4: "outer", 5: "top", 6: "top", 7: "bottom", 8: "bottom"}
POSITIONS |= {9: "bottom", 10: "full", 11: "full", 12: "full", 13: "full"}


def _read_split(root: Path, split: str) -> Iterator[Sample]:
    annos = root / split / "annos"
    if not annos.is_dir():
        raise FileNotFoundError(f"no DeepFashion2 annotations for split {split!r}: {annos} is missing")
    for path in tqdm(sorted(annos.glob("*.json")), desc=f"deepfashion2 {split}", unit="img", disable=None):
        anno = json.loads(path.read_text(encoding="utf-8"))
        items = sorted((key for key in anno if key.startswith("item")), key=lambda key: int(key[4:]))
        for key in items:
            item = anno[key]
            style = int(item.get("style", 0))
            yield Sample(
                id=f"{split}/{path.stem}#{key}",
                image=root / split / "image" / f"{path.stem}.jpg",
                split=split,
                bbox=tuple(item["bounding_box"]),
                item_id=f"{anno['pair_id']}-{style}" if style > 0 else None,
                role=ROLES[anno["source"]],
                position=POSITIONS.get(int(item["category_id"])),
                source="deepfashion2",
            )


def read(root: Path, split: str | None = None) -> Iterator[Sample]:
    """Items of `split` (train or validation), or of every annotated split present when None."""
    splits = [split] if split is not None else [s for s in SPLITS if (root / s / "annos").is_dir()]
    if not splits:
        raise FileNotFoundError(f"no split with annos/ in {root} (expected {' or '.join(SPLITS)})")
    for name in splits:
        yield from _read_split(root, name)
