"""A JSON Lines manifest: the simplest way to bring your own data.

    root/manifest.jsonl   (or pass the .jsonl file itself as root)
    {"id": "a1", "image": "photos/a1.jpg", "caption": "A red t-shirt.", "bbox": [10, 20, 200, 300],
     "attributes": {"category": "top", "subcategory": "t-shirt", "color": ["red"]}, "split": "train",
     "item_id": "sku-1", "role": "shop", "position": "top", "source": "my-shop"}

Only `id` and `image` are required. `image` is relative to the manifest's folder or absolute. `captions` (a
list) and `caption` (one string) are both accepted; `attributes` is validated against the taxonomy, and so
are taxonomy fields at the top level (`category`, `color`, ... as in labels.jsonl and the synthetic
catalogue) when there is no `attributes` object. Other
fields (title, url, price, ...) are ignored here. `write` produces the same format from samples.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path

from fashionlens.data.readers.common import require_file
from fashionlens.data.sample import Sample
from fashionlens.jsonl import iter_jsonl
from fashionlens.taxonomy import GarmentAttributes, InvalidAttributeError

DEFAULT_NAME = "manifest.jsonl"
_PASSTHROUGH = ("split", "bbox", "item_id", "role", "position", "source")


def manifest_path(root: Path) -> Path:
    """The manifest file: `root` itself when it is a file, else `root/manifest.jsonl`."""
    return root if root.is_file() else require_file(root / DEFAULT_NAME, "manifest")


def read(root: Path, split: str | None = None) -> Iterator[Sample]:
    """Samples of the manifest, only those whose `split` field equals `split` when given."""
    path = manifest_path(root)
    for where, record in iter_jsonl(path):
        if split is not None and record.get("split") != split:
            continue
        missing = [key for key in ("id", "image") if not record.get(key)]
        if missing:
            raise ValueError(f"{where}: missing required field(s) {', '.join(missing)}")
        captions = list(record.get("captions") or [])
        if record.get("caption"):
            captions.insert(0, record["caption"])
        try:
            raw_attributes = record.get("attributes") or (record if "category" in record else None)
            attributes = GarmentAttributes.from_record(raw_attributes) if raw_attributes else None
            sample = Sample(
                id=str(record["id"]),
                image=path.parent / record["image"],  # an absolute `image` replaces the folder
                captions=tuple(captions),
                attributes=attributes,
                **{key: record[key] for key in _PASSTHROUGH if record.get(key) is not None},
            )
        except (InvalidAttributeError, ValueError, TypeError) as error:
            raise ValueError(f"{where}: {error}") from None
        yield sample


def write(samples: Iterable[Sample], path: Path) -> int:
    """Write samples as a manifest (images relative to its folder where possible); returns the count."""
    count = 0
    with path.open("w", encoding="utf-8") as file:
        for sample in samples:
            file.write(json.dumps(sample.to_record(relative_to=path.parent), ensure_ascii=False) + "\n")
            count += 1
    return count
