"""DeepFashion Consumer-to-shop Clothes Retrieval (Liu et al., CVPR 2016).

Layout (its README; mirrored in open-mmlab/mmfashion docs/dataset/CONSUMER_TO_SHOP_DATASET.md):

    root/Img/img/TOPS/Summer_Wear/id_00000001/comsumer_01.jpg    ("comsumer" sic) and shop_01.jpg ...
    root/Eval/list_eval_partition.txt    line 1: count; line 2: column names; then
        <image_pair_name_1> <image_pair_name_2> <item_id> <evaluation_status: train|val|test>
    root/Anno/list_bbox_consumer2shop.txt    line 1: count; line 2: column names; then
        <image_name> <clothes_type: 1 upper 2 lower 3 full> <source_type: 1 shop 2 consumer> x_1 y_1 x_2 y_2

Image names are relative to root/Img. One Sample per image listed in the partition (in first-seen order), with
its item id, split, and role, bbox and position (top/bottom/full) from the bbox list. The retrieval gallery of
the benchmark is every shop image of val + test.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from fashionlens.data.readers.common import require_file
from fashionlens.data.sample import Role, Sample

ROLES: dict[str, Role] = {"1": "shop", "2": "consumer"}
POSITIONS = {"1": "top", "2": "bottom", "3": "full"}


def _rows(path: Path, columns: int) -> Iterator[list[str]]:
    """Rows of a DeepFashion list file, skipping its count and column-name lines."""
    with path.open(encoding="utf-8") as file:
        for number, line in enumerate(file, start=1):
            if number <= 2 or not line.strip():
                continue
            row = line.split()
            if len(row) != columns:
                raise ValueError(f"{path}:{number}: expected {columns} columns, got {len(row)}")
            yield row


def read(root: Path, split: str | None = None) -> Iterator[Sample]:
    """Samples of the partition, only those of `split` (train, val or test) when given."""
    boxes = {
        name: (clothes_type, source_type, tuple(float(v) for v in box))
        for name, clothes_type, source_type, *box in _rows(
            require_file(root / "Anno" / "list_bbox_consumer2shop.txt", "bbox list"), 7
        )
    }
    seen: set[str] = set()
    partition = require_file(root / "Eval" / "list_eval_partition.txt", "evaluation partition")
    for first, second, item_id, status in _rows(partition, 4):
        if split is not None and status != split:
            continue
        for name in (first, second):
            if name in seen:
                continue
            seen.add(name)
            clothes_type, source_type, box = boxes.get(name, (None, None, None))
            yield Sample(
                id=name.rsplit(".", 1)[0],
                image=root / "Img" / name,
                split=status,
                bbox=box,
                item_id=item_id,
                role=ROLES.get(source_type) if source_type else None,
                position=POSITIONS.get(clothes_type) if clothes_type else None,
                source="deepfashion-c2s",
            )
