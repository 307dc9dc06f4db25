"""`fashionlens annotate` errors a user can cause: clear messages, non-zero exits, no tracebacks."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fashionlens.cli import app
from fashionlens.labelling.testing import FakeVisionServer


def _invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["annotate", *args, "--no-progress"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def test_openai_without_a_key_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    code, output = _invoke(str(tmp_path), "-o", str(tmp_path / "out.jsonl"))
    assert code == 2 and "set OPENAI_API_KEY" in output


def test_a_missing_source_is_reported(tmp_path: Path) -> None:
    code, output = _invoke(
        str(tmp_path / "nope"), "-o", str(tmp_path / "out.jsonl"), "--base-url", "http://x/v1"
    )
    assert code == 2 and "no such folder or manifest" in output


def test_a_refused_key_exits_1_and_says_how_to_resume(
    tmp_path: Path, make_photos: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    photos = make_photos(2)
    monkeypatch.setenv("OPENAI_API_KEY", "wrong")
    with FakeVisionServer(api_key="right") as server:
        code, output = _invoke(str(photos), "-o", str(tmp_path / "out.jsonl"), "--base-url", server.base_url)
    assert code == 1 and "invalid API key" in output and "resume" in output


def test_batch_prepare_lists_the_files_and_collect_wants_results(
    tmp_path: Path, make_photos: Callable[..., Path]
) -> None:
    photos = make_photos(3)
    output = tmp_path / "out.jsonl"
    code, text = _invoke(str(photos), "-o", str(output), "--batch-api", "prepare", "--model", "gpt-4.1-mini")
    assert code == 0, text
    work = tmp_path / "out.jsonl.batch"
    assert "round 1: 1 requests" in text and str(work / "round-001" / "requests-000.jsonl") in text
    assert '"model": "gpt-4.1-mini"' in (work / "round-001" / "requests-000.jsonl").read_text()
    code, text = _invoke(str(photos), "-o", str(output), "--batch-api", "collect")
    assert code == 2 and "no result files" in text
