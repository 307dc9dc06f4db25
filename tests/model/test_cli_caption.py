"""`fashionlens caption` on tiny-random: JSON output, bad files reported and skipped, unknown models."""

from __future__ import annotations

import json

from PIL import Image
from typer.testing import CliRunner

from fashionlens.cli import app


def test_caption_json_skips_bad_files(tmp_path) -> None:
    good = []
    for i in range(2):
        Image.new("RGB", (64, 48), (40 * i, 90, 200)).save(tmp_path / f"{i}.jpg")
        good.append(str(tmp_path / f"{i}.jpg"))
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not an image")
    result = CliRunner().invoke(
        app, ["caption", good[0], str(bad), good[1], "--model", "tiny-random", "--json"]
    )
    assert result.exit_code == 1
    assert [item["image"] for item in json.loads(result.stdout)] == good
    assert all(isinstance(item["caption"], str) for item in json.loads(result.stdout))
    assert "broken.jpg" in result.stderr and "not an image" in result.stderr


def test_caption_unknown_model_is_a_clear_error(tmp_path) -> None:
    Image.new("RGB", (32, 32)).save(tmp_path / "a.png")
    result = CliRunner().invoke(app, ["caption", str(tmp_path / "a.png"), "--model", "nope"])
    assert result.exit_code == 2
    assert "cannot load model 'nope'" in result.stderr and "Traceback" not in result.stderr
