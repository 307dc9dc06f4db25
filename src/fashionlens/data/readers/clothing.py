"""The project's real labelled photos (`../shared/data/clothing`, see its README.md).

    root/labels.jsonl   one line per garment: id, image (relative to root), source, split, position (street
                        photos only), the taxonomy fields, description
    root/images/*.jpg   product photos (source "clothing-dataset"): one garment each -> role "shop"
    root/street/*.jpg   street photos (source "ccp"): a line per garment, told apart by position -> "consumer"

One Sample per garment; street garments get ids "<photo id>#<position>" so ids stay unique.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from fashionlens.data.readers.common import require_file
from fashionlens.data.sample import Role, Sample
from fashionlens.jsonl import iter_jsonl
from fashionlens.taxonomy import OTHER, GarmentAttributes, InvalidAttributeError

ROLE_BY_SOURCE: dict[str, Role] = {"clothing-dataset": "shop", "ccp": "consumer"}


def read(root: Path, split: str | None = None) -> Iterator[Sample]:
    """Samples of labels.jsonl, only those of `split` (train or dev) when given."""
    for where, record in iter_jsonl(require_file(root / "labels.jsonl", "labels.jsonl")):
        if split is not None and record.get("split") != split:
            continue
        try:
            attributes = None if record["category"] == OTHER else GarmentAttributes.from_record(record)
        except (KeyError, InvalidAttributeError) as error:
            raise ValueError(f"{where}: {error}") from None
        position = record.get("position")
        yield Sample(
            id=f"{record['id']}#{position}" if position else record["id"],
            image=root / record["image"],
            split=record.get("split"),
            captions=(record["description"],) if record.get("description") else (),
            attributes=attributes,
            role=ROLE_BY_SOURCE.get(record.get("source", "")),
            position=position,
            source=record.get("source"),
        )
