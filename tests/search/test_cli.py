"""`fashionlens index` and `fashionlens search` end to end with the tiny-random model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from search_helpers import ITEMS, solid
from typer.testing import CliRunner

from fashionlens.cli import app

pytest.importorskip("fashionlens.model", reason="model package not built yet")
runner = CliRunner()


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli")
    photos = root / "photos"
    photos.mkdir()
    for item_id, _, color, _ in ITEMS:
        solid(color).save(photos / f"{item_id}.png")
    (photos / "corrupt.jpg").write_bytes(b"GIF89a nope")
    result = runner.invoke(app, ["index", str(photos), "--db", str(root / "db"), "-m", "tiny-random"])
    assert result.exit_code == 1, result.output  # one photo skipped
    assert "skipped corrupt:" in result.stderr
    assert f"{len(ITEMS)} items in a flat index; this run: {len(ITEMS)} added" in result.stdout
    again = runner.invoke(app, ["index", str(photos), "--db", str(root / "db"), "--remove", "red-top"])
    assert again.exit_code == 1 and f"{len(ITEMS) - 1} unchanged, 1 removed" in again.stdout
    return root / "db"


def test_search_json_and_table(db: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["search", "--db", str(db), "--text", "a black top", "-k", "3", "--json"])
    assert result.exit_code == 0, result.output
    hits = json.loads(result.stdout)
    assert len(hits) == 3 and [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)
    assert set(hits[0]) == {"id", "score", "image", "caption", "attributes"}
    assert "red-top" not in {h["id"] for h in hits} and hits[0]["attributes"]["category"]

    solid("navy", (120, 60)).save(tmp_path / "query.png")
    args = ["search", "--db", str(db), "--image", str(tmp_path / "query.png"), "--box", "0,0,60,60"]
    table = runner.invoke(app, [*args, "--text", "navy", "--where", "category != 'other'", "-k", "2"])
    assert table.exit_code == 0, table.output
    lines = table.stdout.splitlines()
    assert lines[0].split()[:4] == ["#", "score", "id", "category"] and len(lines) == 3
    photo_only = runner.invoke(app, [*args, "--json", "-k", "7"])
    assert photo_only.exit_code == 0 and len(json.loads(photo_only.stdout)) == len(ITEMS) - 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "give --image, --text, or both"),
        (["--text", "x", "--where", "colour = 'red'"], "unknown field 'colour'"),
        (["--text", "x", "--box", "1,2,3"], "--box takes four numbers"),
        (["--text", "x", "--box", "0,0,5,5"], "a box needs a photo"),
        (["--image", "missing.jpg"], "file not found"),
    ],
)
def test_search_errors_exit_2_with_a_message(db: Path, args: list[str], message: str) -> None:
    result = runner.invoke(app, ["search", "--db", str(db), *args])
    assert result.exit_code == 2 and message in result.stderr and "Traceback" not in result.output


def test_index_and_search_errors(db: Path, tmp_path: Path) -> None:
    missing = runner.invoke(app, ["search", "--db", str(tmp_path / "none"), "--text", "x"])
    assert missing.exit_code == 2 and "no index at" in missing.stderr
    nothing = runner.invoke(app, ["index", "--db", str(db)])
    assert nothing.exit_code == 2 and "give a CATALOG" in nothing.stderr
    other = runner.invoke(app, ["index", str(tmp_path), "--db", str(db), "-m", "fashionlens-mini"])
    assert other.exit_code == 2 and "built with model 'tiny-random'" in other.stderr
    no_catalogue = runner.invoke(app, ["index", str(tmp_path / "nope.jsonl"), "--db", str(db)])
    assert no_catalogue.exit_code == 2 and "catalogue not found" in no_catalogue.stderr
