"""Fixtures of the labelling tests: small distinct photos, fast retry settings, and the output checks."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from fashionlens.captions import template_caption
from fashionlens.labelling import Endpoint, RetryPolicy
from fashionlens.taxonomy import OTHER, GarmentAttributes

#: Retries that take milliseconds, and a timeout short enough for the "slow" fault to be cheap.
FAST_RETRY = RetryPolicy(max_retries=5, backoff=0.01, max_backoff=0.05)


@pytest.fixture
def make_photos(tmp_path: Path) -> Callable[..., Path]:
    """`make_photos(n)`: a folder of n small PNGs, each a different colour (so a different content hash)."""

    def make(n: int, folder: str = "photos") -> Path:
        root = tmp_path / folder
        root.mkdir()
        for i in range(n):
            Image.new("RGB", (40, 32), (i % 256, i // 256, 128)).save(root / f"p{i:04d}.png")
        return root

    return make


@pytest.fixture
def fast_endpoint() -> Callable[..., Endpoint]:
    """`fast_endpoint(server, **overrides)`: an Endpoint for the fake server with millisecond retries."""

    def make(server: Any, **overrides: Any) -> Endpoint:
        settings = {"timeout": 0.3, "retry": FAST_RETRY, "concurrency": 4} | overrides
        return Endpoint(server.base_url, **settings)

    return make


def check_output(lines: Iterable[dict[str, Any]], ids: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
    """Assert the output covers each id exactly once over (id, position), every record is taxonomy-valid with
    its template caption, and every other line is an explicit failure; returns the lines by id."""
    lines = list(lines)
    keys = Counter((line["id"], line.get("position")) for line in lines)
    assert [key for key, count in keys.items() if count > 1] == [], "duplicate lines"
    by_id: dict[str, list[dict[str, Any]]] = {}
    for line in lines:
        by_id.setdefault(line["id"], []).append(line)
    assert sorted(by_id) == sorted(ids)
    for group in by_id.values():
        for line in group:
            if "error" in line:
                assert line["error"], line
            elif line["category"] == OTHER:
                assert len(group) == 1 and "caption" not in line
            else:
                assert line["caption"] == template_caption(GarmentAttributes.from_record(line))
        assert ("position" in group[0]) == (len(group) > 1)
    return by_id


@pytest.fixture
def assert_output() -> Callable[..., dict[str, list[dict[str, Any]]]]:
    return check_output
