"""`fashionlens annotate` killed with SIGKILL midway and run again ends as an unbroken run does."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fashionlens.jsonl import read_jsonl
from fashionlens.labelling import LabelSettings, annotate
from fashionlens.labelling.testing import FakeVisionServer, FaultPlan


def _command(photos: Path, output: Path, base_url: str) -> list[str]:
    options = (
        "--images-per-request 4 --concurrency 2 --max-tries 8 --timeout 0.3 --backoff 0.01 --max-backoff 0.05"
    )
    command = [sys.executable, "-m", "fashionlens", "annotate", str(photos), "-o", str(output)]
    return [*command, "--base-url", base_url, *options.split(), "--no-progress"]


def test_kill_9_midway_then_rerun_loses_and_duplicates_nothing(
    tmp_path: Path, make_photos: Callable[..., Path], fast_endpoint: Callable[..., Any], assert_output: Any
) -> None:
    photos = make_photos(60)
    expected = tmp_path / "expected.jsonl"
    with FakeVisionServer() as clean:
        annotate(photos, expected, LabelSettings(images_per_request=4), fast_endpoint(clean), progress=False)
    total = len(expected.read_text().splitlines())

    output = tmp_path / "out.jsonl"
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL")}
    with FakeVisionServer(latency=0.05, faults=FaultPlan(every=5), slow_seconds=0.6) as server:
        process = subprocess.Popen(_command(photos, output, server.base_url), env=env, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while not (output.is_file() and len(output.read_bytes().splitlines()) >= 15):
            assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
            assert time.monotonic() < deadline, "no progress"
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert process.returncode == -signal.SIGKILL
        assert 15 <= len(output.read_bytes().splitlines()) < total  # killed midway

        rerun = subprocess.run(
            _command(photos, output, server.base_url), env=env, capture_output=True, timeout=120
        )
        assert rerun.returncode == 0, rerun.stderr.decode()
    assert "already done, skipped" in rerun.stderr.decode()
    assert {entry.fault for entry in server.log} >= {"rate_limit", "server_error", "slow", "malformed"}
    assert sorted(output.read_text().splitlines()) == sorted(expected.read_text().splitlines())
    assert_output(read_jsonl(output), [p.stem for p in photos.iterdir()])
