"""`Sample`: one image, or one garment in it, as every dataset reader yields it whatever the layout."""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal

from PIL import Image

from fashionlens.images import ImageLoadError, crop_box, load_image
from fashionlens.taxonomy import GarmentAttributes

Role = Literal["shop", "consumer"]
ROLES: tuple[str, ...] = ("shop", "consumer")
Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Sample:
    """One training/evaluation example.

    `bbox` is (x0, y0, x1, y1) in pixels of the full image (the garment, where a photo holds several).
    `item_id` groups samples showing the same product: consumer-to-shop retrieval counts a gallery sample as
    correct when it shares the query's `item_id`; None means the sample has no match anywhere.
    `role` is "shop" for catalogue photos and "consumer" for photos taken by people.
    `position` is where a garment sits on a worn outfit (outer, top, bottom, full).
    """

    id: str
    image: Path
    split: str | None = None
    bbox: Box | None = None
    captions: tuple[str, ...] = ()
    attributes: GarmentAttributes | None = None
    item_id: str | None = None
    role: Role | None = None
    position: str | None = None
    source: str | None = None

    def __post_init__(self) -> None:
        # Normalise what readers get from JSON (str paths, lists) so samples stay hashable and comparable.
        object.__setattr__(self, "image", Path(self.image))
        object.__setattr__(self, "captions", tuple(self.captions))
        if self.item_id is not None:
            object.__setattr__(self, "item_id", str(self.item_id))
        if self.bbox is not None:
            if len(self.bbox) != 4:
                raise ValueError(f"sample {self.id}: bbox needs 4 numbers x0, y0, x1, y1; got {self.bbox!r}")
            object.__setattr__(self, "bbox", tuple(float(v) for v in self.bbox))
        if self.role is not None and self.role not in ROLES:
            raise ValueError(f"sample {self.id}: role must be one of {', '.join(ROLES)}, got {self.role!r}")

    def load(self, crop: bool = False) -> Image.Image:
        """The image as 8-bit RGB; with `crop`, cut to `bbox` (the whole image when there is none).

        Raises ImageLoadError for an unreadable image or a box that does not fit it, so batch jobs can
        record and skip this sample.
        """
        image = load_image(self.image)
        if not crop or self.bbox is None:
            return image
        try:
            return crop_box(image, self.bbox)
        except ValueError as error:
            raise ImageLoadError(str(self.image), f"bad bbox for sample {self.id}: {error}") from None

    def to_record(self, relative_to: Path | None = None) -> dict[str, Any]:
        """A JSON-ready dict in the manifest format, None/empty fields left out. The image path is relative to
        `relative_to` when it lies below it, absolute otherwise, so the record reads back from anywhere."""
        record: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None or value == ():
                continue
            if f.name == "image":
                path, base = value.resolve(), relative_to.resolve() if relative_to is not None else None
                value = (path.relative_to(base) if base and path.is_relative_to(base) else path).as_posix()
            elif f.name == "attributes":
                value = value.to_record()
            elif isinstance(value, tuple):
                value = list(value)
            record[f.name] = value
        return record
