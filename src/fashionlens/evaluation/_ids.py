"""Id bookkeeping shared by the metrics: both sides of an evaluation must cover the same ids."""

from __future__ import annotations

from collections.abc import Collection, Iterable


def few(ids: Iterable[object], limit: int = 5) -> str:
    """A short listing of ids for an error message: the count, then the first few (sorted)."""
    ids = sorted(map(str, ids))
    shown = ", ".join(repr(i) for i in ids[:limit])
    return f"{len(ids)}: {shown}" + (", ..." if len(ids) > limit else "")


def check_same_ids(
    left: Collection[object], right: Collection[object], left_name: str, right_name: str
) -> None:
    """Raise ValueError naming a few ids found on one side only."""
    only_left, only_right = set(left).difference(right), set(right).difference(left)
    problems = [
        f"ids in {a} but not in {b} {few(ids)}"
        for ids, a, b in ((only_left, left_name, right_name), (only_right, right_name, left_name))
        if ids
    ]
    if problems:
        raise ValueError("; ".join(problems))
