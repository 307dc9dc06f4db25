"""The shared real photos as the experiments read them: ../shared/data/clothing beside the checkout."""

from __future__ import annotations

from pathlib import Path

from fashionlens.data.readers import read_dataset
from fashionlens.data.sample import Sample

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "clothing"


def product_photos(split: str) -> list[Sample]:
    """One garment per photo, laid flat or hanging (the catalogue-like photos)."""
    return [s for s in read_dataset("clothing", DATA, split=split) if s.source == "clothing-dataset"]


def street_garments(split: str) -> list[Sample]:
    """Tagged garments of the street photos (several per photo, told apart by `position`)."""
    return [s for s in read_dataset("clothing", DATA, split=split) if s.source == "ccp" and s.attributes]
