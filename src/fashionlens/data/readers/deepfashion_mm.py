"""DeepFashion-MultiModal (Jiang et al., Text2Human, SIGGRAPH 2022; github.com/yumingj/DeepFashion-MultiModal)

Layout of the release (its README: an image folder of 44,096 JPGs, 750x1101, and one JSON of textual
descriptions, a mapping from image file name to one caption):

    root/images/MEN-Denim-id_00000080-01_7_additional.jpg
    root/captions.json    {"MEN-Denim-id_00000080-01_7_additional.jpg": "The lower clothing is ...", ...}

The release has no official split. Shared splits of it ship the same mapping as `<split>_captions.json`
(e.g. train_captions.json, test_captions.json); those are read when `split` is given, or all of them when
there is no captions.json. Images come from DeepFashion In-shop, named `<GENDER>-<Category>-id_<item>-...`,
so the name prefix up to the item id becomes `item_id` (same garment, other views).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

from fashionlens.data.readers.common import require_file
from fashionlens.data.sample import Sample

CAPTIONS = "captions.json"
_ITEM = re.compile(r"^(.+-id_\d+)-")


def _caption_files(root: Path, split: str | None) -> list[tuple[Path, str | None]]:
    if split is not None:
        return [(require_file(root / f"{split}_{CAPTIONS}", f"captions of split {split!r}"), split)]
    if (root / CAPTIONS).is_file():
        return [(root / CAPTIONS, None)]
    per_split = sorted(root.glob(f"*_{CAPTIONS}"))
    if not per_split:
        raise FileNotFoundError(f"no {CAPTIONS} (or <split>_{CAPTIONS}) in {root}")
    return [(path, path.name.removesuffix(f"_{CAPTIONS}")) for path in per_split]


def read(root: Path, split: str | None = None) -> Iterator[Sample]:
    """One Sample per captioned image, in file order."""
    for path, file_split in _caption_files(root, split):
        captions = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(captions, dict):
            raise ValueError(f"{path}: expected a JSON object mapping image names to captions")
        for name, caption in captions.items():
            item = _ITEM.match(name)
            yield Sample(
                id=Path(name).stem,
                image=root / "images" / name,
                split=file_split,
                captions=(caption,),
                item_id=item.group(1) if item else None,
                role="shop",
                source="deepfashion-mm",
            )
