"""The OpenAI Batch API route: the same two stages as request files and result files, at half the price.

    prepare  -> round-001/requests-000.jsonl ...   upload (purpose "batch"), run, download results into
                round-001/results/; then
    collect  -> records of finished photos appended to the output, and round-002/ with what comes next
                (stage-2 requests, re-asks of failed answers) until nothing is left.

`state.json` in the batch folder keeps the unfinished photos and what each request of the open round asks, so
each step is a separate command; a collect interrupted midway can be run again (photos already in the output
are not written twice).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TextIO

from tqdm import tqdm

from fashionlens.jsonl import read_jsonl
from fashionlens.labelling.pipeline import (
    Garment,
    Labeller,
    LabelSettings,
    Photo,
    Request,
    Summary,
    Target,
    encode_images,
    plan,
)
from fashionlens.labelling.pricing import DEFAULT_PRICES, Price, estimate_cost
from fashionlens.labelling.store import RecordLog, Source, list_sources, read_done
from fashionlens.taxonomy import GarmentAttributes

#: Batch API input-file limits: 50,000 requests and 200 MB (some headroom kept).
MAX_REQUESTS_PER_FILE = 50_000
MAX_BYTES_PER_FILE = 190 * 2**20
STATE = "state.json"
ENDPOINT = "/v1/chat/completions"


class BatchError(RuntimeError):
    """A batch folder in the wrong state for the step asked (a job already open, no job, no result files)."""


@dataclass(frozen=True)
class Round:
    """One round of request files waiting to be run on the Batch API."""

    number: int
    files: list[Path]
    requests: int
    results_dir: Path


def _round_dir(batch_dir: Path, number: int) -> Path:
    return batch_dir / f"round-{number:03d}"


def _write_round(
    batch_dir: Path,
    number: int,
    labeller: Labeller,
    requests: Sequence[Request],
    log: RecordLog,
    summary: Summary,
    progress: bool,
) -> tuple[Round, dict[str, Request]]:
    """Write the requests as Batch API input files (split at the API's limits); returns the round and what
    each custom_id asks. Photos that cannot be read are failed here (written to `log`, counted in `summary`).
    """
    folder = _round_dir(batch_dir, number)
    files: list[Path] = []
    file: TextIO | None = None
    count = size = 0
    index: dict[str, Request] = {}
    try:
        for request in tqdm(requests, desc=f"round {number} requests", unit="req", disable=not progress):
            unreadable = encode_images({t.photo: None for t in request.targets}, labeller.settings.max_side)
            for target in request.targets:
                if target.photo in unreadable:
                    finished = labeller.reject(target, unreadable[target.photo])
                    for photo in finished:
                        log.write(labeller.records(photo))
                    summary.add_photos(finished)
            request = Request(request.stage, tuple(t for t in request.targets if t.photo not in unreadable))
            if not request.targets:
                continue
            custom_id = f"r{number:03d}-{len(index):07d}"
            line = json.dumps(
                {"custom_id": custom_id, "method": "POST", "url": ENDPOINT, "body": labeller.body(request)}
            )
            data = line + "\n"
            if file is None or count == MAX_REQUESTS_PER_FILE or size + len(data) > MAX_BYTES_PER_FILE:
                if file is not None:
                    file.close()
                (folder / "results").mkdir(parents=True, exist_ok=True)
                files.append(folder / f"requests-{len(files):03d}.jsonl")
                file, count, size = files[-1].open("w", encoding="utf-8"), 0, 0
            file.write(data)
            count, size = count + 1, size + len(data)
            index[custom_id] = request
            for target in request.targets:
                target.photo.image_url = None  # a round can hold 100K photos: keep none of them in memory
    finally:
        if file is not None:
            file.close()
    return Round(number, files, len(index), folder / "results"), index


def _photo_state(photo: Photo) -> dict[str, Any]:
    garments = None
    if photo.garments is not None:
        garments = [
            {**asdict(g), "attributes": g.attributes.to_record() if g.attributes else None}
            for g in photo.garments
        ]
    return {
        "key": photo.key,
        "path": str(photo.path),
        "sources": [[s.id, str(s.path), s.image] for s in photo.sources],
        "garments": garments,
        "description": photo.description,
        "tries": photo.tries,
        "error": photo.error,
    }


def _photo_from_state(state: dict[str, Any]) -> Photo:
    garments = None
    if state["garments"] is not None:
        garments = [
            Garment(
                **{
                    **g,
                    "attributes": GarmentAttributes.from_record(g["attributes"]) if g["attributes"] else None,
                }
            )
            for g in state["garments"]
        ]
    return Photo(
        key=state["key"],
        path=Path(state["path"]),
        sources=[Source(i, Path(p), image) for i, p, image in state["sources"]],
        garments=garments,
        description=state["description"],
        tries=state["tries"],
        error=state["error"],
    )


def _save(
    batch_dir: Path, settings: LabelSettings, number: int, index: dict[str, Request], summary: Summary
) -> None:
    photos = list({t.photo: None for request in index.values() for t in request.targets})
    position = {photo: i for i, photo in enumerate(photos)}
    state = {
        "settings": asdict(settings),
        "round": number,
        "summary": asdict(summary),
        "photos": [_photo_state(p) for p in photos],
        "requests": {
            custom_id: {
                "stage": request.stage,
                "targets": [
                    [position[t.photo], None if t.garment is None else t.photo.garments.index(t.garment)]
                    for t in request.targets
                ],
            }
            for custom_id, request in index.items()
        },
    }
    temporary = batch_dir / (STATE + ".tmp")
    temporary.write_text(json.dumps(state), encoding="utf-8")
    os.replace(temporary, batch_dir / STATE)  # atomic: a crash leaves the old state or the new one


def _load(batch_dir: Path) -> tuple[LabelSettings, int, dict[str, Request], Summary]:
    path = batch_dir / STATE
    if not path.is_file():
        raise BatchError(f"no open batch job in {batch_dir} (run --batch-api prepare first)")
    state = json.loads(path.read_text(encoding="utf-8"))
    photos = [_photo_from_state(p) for p in state["photos"]]
    index = {
        custom_id: Request(
            r["stage"],
            tuple(Target(photos[p], None if g is None else photos[p].garments[g]) for p, g in r["targets"]),
        )
        for custom_id, r in state["requests"].items()
    }
    return LabelSettings(**state["settings"]), state["round"], index, Summary(**state["summary"])


def _read_results(results_dir: Path) -> dict[str, tuple[str | None, str | None, int, int]]:
    """custom_id -> (content, error, prompt tokens, completion tokens) from the Batch API's result files."""
    results = {}
    for path in sorted(results_dir.glob("*.jsonl")):
        for line in read_jsonl(path):
            response = line.get("response") or {}
            body = response.get("body") or {}
            usage = body.get("usage") or {}
            content, error = None, None
            if response.get("status_code") == 200:
                try:
                    content = body["choices"][0]["message"]["content"]
                except (KeyError, IndexError, TypeError):
                    error = "result is not a chat completion"
            else:
                problem = line.get("error") or body.get("error") or {}
                error = f"batch request failed: {problem.get('message') or response.get('status_code')}"
            tokens = int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
            results[line["custom_id"]] = (content, error, *tokens)
    return results


def prepare(
    source: Path, output: Path, batch_dir: Path, settings: LabelSettings | None = None, progress: bool = True
) -> Round | None:
    """Write round 1 (stage 1 for every photo not yet in `output`); None when there is nothing to do."""
    settings = settings or LabelSettings()
    if (batch_dir / STATE).exists():
        raise BatchError(
            f"a batch job is already open in {batch_dir}: run --batch-api collect, or delete the folder"
        )
    photos, unreadable, skipped = plan(list_sources(source), read_done(output), progress)
    labeller = Labeller(settings)
    summary = Summary(skipped=skipped, images=len(unreadable), failed=len(unreadable))
    with RecordLog(output) as log:
        for record in unreadable:
            log.write([record])
        requests = labeller.add(Target(photo) for photo in photos) + labeller.flush()
        batch_round, index = _write_round(batch_dir, 1, labeller, requests, log, summary, progress)
    if not index:
        return None
    _save(batch_dir, settings, 1, index, summary)
    return batch_round


def collect(
    output: Path, batch_dir: Path, prices: Mapping[str, Price] = DEFAULT_PRICES, progress: bool = True
) -> tuple[Summary, Round | None]:
    """Ingest the open round's result files and write the next round; returns the job summary so far and the
    next round, or None when the job is complete (then the state file is removed)."""
    settings, number, index, summary = _load(batch_dir)
    results_dir = _round_dir(batch_dir, number) / "results"
    results = _read_results(results_dir)
    if not results:
        raise BatchError(
            f"no result files in {results_dir}: download the batches' output and error files there"
        )
    labeller = Labeller(settings)
    done = read_done(output)
    requests: list[Request] = []
    with RecordLog(output) as log:
        for custom_id, request in index.items():
            content, error, prompt_tokens, completion_tokens = results.get(
                custom_id, (None, "no result in the batch output files", 0, 0)
            )
            summary.requests += 1
            summary.prompt_tokens += prompt_tokens
            summary.completion_tokens += completion_tokens
            more, finished = labeller.receive(request, content, error)
            requests += more
            for photo in finished:
                if (photo.sources[0].id, photo.key) not in done:
                    log.write(labeller.records(photo))
            summary.add_photos(finished)
        requests += labeller.flush()
        next_round, next_index = _write_round(
            batch_dir, number + 1, labeller, requests, log, summary, progress
        )
    summary.cost = estimate_cost(
        prices, settings.model, summary.prompt_tokens, summary.completion_tokens, batch=True
    )
    if next_index:
        _save(batch_dir, settings, number + 1, next_index, summary)
        return summary, next_round
    (batch_dir / STATE).unlink()
    return summary, None
