"""The Batch API route: request files round by round, results collected, the same labels as a live run."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from fashionlens.jsonl import read_jsonl
from fashionlens.labelling import LabelSettings, annotate, batch_api
from fashionlens.labelling.batch_api import BatchError, Round, collect, prepare
from fashionlens.labelling.testing import FakeVisionServer, fake_completion


def _run_on_fake_batch_api(batch_round: Round, fail: int | None = None, drop: int | None = None) -> list[str]:
    """Answer every request of the round as the Batch API would; `fail` gets an error line, `drop` no line.
    Returns the stage of each request."""
    stages, output, errors = [], [], []
    for number, request in enumerate(line for path in batch_round.files for line in read_jsonl(path)):
        assert (request["method"], request["url"]) == ("POST", "/v1/chat/completions")
        stages.append(request["body"]["response_format"]["json_schema"]["name"])
        result = {"id": f"batch_req_{number}", "custom_id": request["custom_id"]}
        if number == fail:
            error = {"code": "server_error", "message": "boom"}
            errors.append(
                result | {"response": {"status_code": 500, "body": {"error": error}}, "error": None}
            )
        elif number != drop:
            body = fake_completion(request["body"])
            output.append(result | {"response": {"status_code": 200, "body": body}, "error": None})
    for name, lines in [("output.jsonl", output), ("errors.jsonl", errors)]:
        (batch_round.results_dir / name).write_text("".join(json.dumps(line) + "\n" for line in lines))
    return stages


def test_batch_rounds_give_the_labels_of_a_live_run(
    tmp_path: Path,
    make_photos: Callable[..., Path],
    fast_endpoint: Callable[..., Any],
    assert_output: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(batch_api, "MAX_REQUESTS_PER_FILE", 2)
    photos = make_photos(24)
    (photos / "broken.png").write_bytes(b"junk")
    settings = LabelSettings(images_per_request=4)
    live = tmp_path / "live.jsonl"
    with FakeVisionServer() as server:
        annotate(photos, live, settings, fast_endpoint(server), progress=False)

    output, work = tmp_path / "batch.jsonl", tmp_path / "work"
    batch_round = prepare(photos, output, work, settings, progress=False)
    assert batch_round is not None and batch_round.number == 1 and batch_round.requests == 7
    assert [len(list(read_jsonl(p))) for p in batch_round.files] == [2, 2, 2, 1]  # split at the file limit
    with pytest.raises(BatchError, match="already open"):
        prepare(photos, output, work, settings, progress=False)
    with pytest.raises(BatchError, match="no result files"):
        collect(output, work, progress=False)

    rounds: list[list[str]] = []
    while batch_round is not None:
        first = not rounds
        rounds.append(
            _run_on_fake_batch_api(batch_round, fail=0 if first else None, drop=1 if first else None)
        )
        summary, batch_round = collect(output, work, progress=False)
    assert (
        set(rounds[0]) == {"garments"} and "garments" in rounds[1]
    )  # the failed and missing ones asked again
    assert any(stage.startswith("attributes_") for stage in rounds[1])
    assert not (work / batch_api.STATE).exists()

    assert sorted(output.read_text().splitlines()) == sorted(live.read_text().splitlines())
    assert_output(read_jsonl(output), [p.stem for p in photos.iterdir()])
    assert summary.images == 25 and summary.failed == 1 and summary.requests == sum(map(len, rounds))
    assert summary.cost is not None and summary.prompt_tokens > 0
    assert prepare(photos, output, work, settings, progress=False) is None  # all done
