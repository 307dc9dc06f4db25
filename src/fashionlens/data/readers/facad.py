"""FACAD, the Fashion Captioning dataset (Yang et al., ECCV 2020; github.com/xuewyang/Fashion_Captioning).

The public release is one JSON file of items (its README shows one):

    {"id": 122349, "title": "chain link jeans cuff bracelet", "description": "subtly futuristic and edgy ...",
     "images": [{"color": "Gold", "0": "https://n.nordstrommedia.com/id/sr3/58d1a13f-....jpeg?crop=pad&..."}],
     "detail_info": "DETAILS & CARE ...", "categoryid": 30, "category": "bracelet", "attr": [...], ...}

Photos are fetched from those URLs without the query string (its README: the query asks for a thumbnail), so
the local layout this reader expects is

    root/<any>.json                        the item list (a JSON array, or one item per line)
    root/images/58d1a13f-....jpeg          each URL's file name

One Sample per downloaded photo (the crawl is partial, so photos not on disk are skipped with a warning), with
id "<item id>/<photo file stem>", item_id the FACAD item id, captions (description, title), role "shop".
The release has no split.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fashionlens.data.sample import Sample

logger = logging.getLogger(__name__)


def _json_path(root: Path) -> Path:
    if root.is_file():
        return root
    candidates = sorted(root.glob("*.json"))
    if len(candidates) != 1:
        found = ", ".join(p.name for p in candidates) or "none"
        raise FileNotFoundError(f"expected exactly one FACAD .json in {root}, found: {found}")
    return candidates[0]


def _items(path: Path) -> list[dict[str, Any]]:
    text = path.read_text(encoding="utf-8")
    try:
        items = json.loads(text)
    except json.JSONDecodeError:
        items = [json.loads(line) for line in text.splitlines() if line.strip()]
    if not isinstance(items, list):
        raise ValueError(f"{path}: expected a list of FACAD items")
    return items


def read(root: Path, split: str | None = None) -> Iterator[Sample]:
    """One Sample per photo on disk, in item order, colours in listed order, views by index."""
    if split is not None:
        raise ValueError(f"FACAD has no splits (asked for {split!r}); read it whole and split by item id")
    path = _json_path(root)
    folder = (root if root.is_dir() else root.parent) / "images"
    missing = 0
    for item in _items(path):
        captions = tuple(text for text in (item.get("description"), item.get("title")) if text)
        for colour in item.get("images", []):
            views = sorted((key for key in colour if key.isdigit()), key=int)
            for view in views:
                name = Path(urlsplit(colour[view]).path).name
                image = folder / name
                if not image.is_file():
                    missing += 1
                    continue
                yield Sample(
                    id=f"{item['id']}/{image.stem}",
                    image=image,
                    captions=captions,
                    item_id=str(item["id"]),
                    role="shop",
                    source="facad",
                )
    if missing:
        logger.warning("FACAD: %d listed photos are not in %s and were skipped", missing, folder)
