"""`fashionlens demo` builds once and reuses; `fashionlens serve` serves an index and fails cleanly."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import httpx
from PIL import Image
from typer.testing import CliRunner

from fashionlens.cli import app

runner = CliRunner()


def test_demo_builds_once_then_reuses_the_index(tmp_path: Path) -> None:
    command = ["demo", "--items", "3", "--model", "tiny-random", "--no-serve", "--workdir", str(tmp_path)]
    first = runner.invoke(app, command)
    assert first.exit_code == 0, first.output
    assert "3 items (3 added, 0 re-embedded, 0 unchanged, 0 skipped)" in first.output
    assert len(list((tmp_path / "synthetic-3" / "consumer").glob("*.jpg"))) == 3
    second = runner.invoke(app, command)
    assert second.exit_code == 0, second.output
    assert "3 items (0 added, 0 re-embedded, 3 unchanged, 0 skipped)" in second.output
    assert "Drawing" not in second.output


def test_demo_indexes_a_folder_of_photos_and_skips_bad_ones(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    (photos / "tops").mkdir(parents=True)
    Image.new("RGB", (64, 80), "navy").save(photos / "tops" / "a.jpg")
    Image.new("RGB", (64, 80), "red").save(photos / "b.png")
    (photos / "broken.jpg").write_bytes(b"not a photo")
    command = [
        "demo",
        "--images",
        str(photos),
        "--model",
        "tiny-random",
        "--no-serve",
        "--workdir",
        str(tmp_path),
    ]
    result = runner.invoke(app, command)
    assert result.exit_code == 0, result.output
    assert "2 items (2 added, 0 re-embedded, 0 unchanged, 1 skipped)" in result.output


def test_serve_rejects_a_missing_index_and_a_busy_port(tmp_path: Path) -> None:
    missing = runner.invoke(app, ["serve", "--db", str(tmp_path / "nothing"), "--port", "0"])
    assert missing.exit_code == 2
    assert "cannot open the index" in missing.output
    unknown = runner.invoke(app, ["serve", "--db", str(tmp_path), "--port", "0", "--model", "no-such-model"])
    assert unknown.exit_code == 2
    assert "no model 'no-such-model'" in unknown.output
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        taken = runner.invoke(app, ["serve", "--db", str(tmp_path), "--port", str(port)])
    assert taken.exit_code == 2
    assert f"cannot listen on 127.0.0.1:{port}" in taken.output


def test_serve_prints_its_url_and_answers(demo) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "fashionlens", "serve", "--db", str(demo.db), "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    try:
        line = process.stdout.readline()
        url = re.search(r"at (http://127\.0\.0\.1:\d+/)", line)
        assert url, line
        health = httpx.get(url.group(1) + "health", timeout=30).json()
        assert health["items"] == demo.report.total > 0
    finally:
        process.terminate()
        process.wait(timeout=30)
