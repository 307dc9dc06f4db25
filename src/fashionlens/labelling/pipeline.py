"""Photos -> taxonomy records in two stages (thesis 3.3): which garments each photo shows, then, per category,
their attributes. Several images go in one request; only the images whose answers failed are asked again.

`Labeller` holds that logic and nothing about transport, so the live job here (`annotate`, concurrent HTTP
requests) and the OpenAI Batch API job (`batch_api`, request and result files) share it. Records follow
`../shared/data/clothing/labels.jsonl` (one line per garment, `position` when a photo holds several, category
"other" for a photo with none) plus the template `caption` and the photo's `content_hash`.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from fashionlens.captions import template_caption
from fashionlens.images import ImageLoadError, content_hash
from fashionlens.labelling import prompts
from fashionlens.labelling.client import (
    ChatClient,
    ClientStats,
    EndpointError,
    RequestFailed,
    RetryPolicy,
    image_data_url,
)
from fashionlens.labelling.pricing import DEFAULT_PRICES, Price, estimate_cost
from fashionlens.labelling.schemas import (
    GARMENTS,
    AnswerError,
    check_attributes,
    check_garments,
    parse_answers,
    response_format,
)
from fashionlens.labelling.store import RecordLog, Source, list_sources, read_done
from fashionlens.taxonomy import OTHER, GarmentAttributes


@dataclass(frozen=True)
class LabelSettings:
    """What is asked and how; a Batch API job keeps the settings it was prepared with."""

    model: str = "gpt-4o-mini"
    images_per_request: int = 8
    max_tries: int = 3
    describe: bool = False
    detail: str = "low"
    max_side: int = 512


@dataclass(frozen=True)
class Endpoint:
    """Where and how fast to send live requests."""

    base_url: str = "https://api.openai.com/v1"
    api_key: str | None = None
    timeout: float = 60.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    concurrency: int = 8
    requests_per_minute: float | None = None


@dataclass(eq=False)
class Garment:
    """One garment found by stage 1; stage 2 fills `attributes`, or `error` once it has failed `max_tries`."""

    category: str
    position: str
    attributes: GarmentAttributes | None = None
    description: str | None = None
    tries: int = 0
    error: str | None = None

    @property
    def done(self) -> bool:
        return self.attributes is not None or self.error is not None


@dataclass(eq=False)
class Photo:
    """One distinct image file (`key` = content hash) and every source that names it."""

    key: str
    path: Path
    sources: list[Source]
    garments: list[Garment] | None = None  # None until stage 1 has answered
    description: str | None = None  # stage 1's sentence for a photo with no garment
    tries: int = 0
    error: str | None = None
    image_url: str | None = field(
        default=None, repr=False
    )  # encoded once, dropped when the photo is finished

    @property
    def finished(self) -> bool:
        return self.error is not None or (self.garments is not None and all(g.done for g in self.garments))


@dataclass(frozen=True, eq=False)
class Target:
    """One answer to ask for: a photo's garments (stage 1) or one garment's attributes (stage 2)."""

    photo: Photo
    garment: Garment | None = None

    @property
    def stage(self) -> str:
        return GARMENTS if self.garment is None else self.garment.category

    @property
    def label(self) -> str:
        """Which garment to describe, said only where the photo holds several."""
        photo, garment = self.photo, self.garment
        if garment is None or photo.garments is None or len(photo.garments) < 2:
            return ""
        return prompts.garment_label(garment.category, garment.position)


@dataclass(frozen=True, eq=False)
class Request:
    """One chat-completions request: up to `images_per_request` targets of the same stage."""

    stage: str
    targets: tuple[Target, ...]


class Labeller:
    """The two-stage logic: batches targets per stage, builds bodies, checks answers, re-asks failures.

    `add` and `receive` return the requests that became full; `flush` returns the partial ones (call it when
    nothing else is in flight). `receive` also returns the photos that just finished: write their `records`.
    """

    def __init__(self, settings: LabelSettings) -> None:
        self.settings = settings
        self._pending: dict[str, list[Target]] = {}

    def add(self, targets: Iterable[Target]) -> list[Request]:
        full = []
        for target in targets:
            pending = self._pending.setdefault(target.stage, [])
            pending.append(target)
            if len(pending) == self.settings.images_per_request:
                full.append(Request(target.stage, tuple(pending)))
                pending.clear()
        return full

    def flush(self) -> list[Request]:
        partial = [Request(stage, tuple(pending)) for stage, pending in self._pending.items() if pending]
        self._pending.clear()
        return partial

    def body(self, request: Request) -> dict[str, Any]:
        """The chat-completions body; every target's photo must have its `image_url` set."""
        s, n = self.settings, len(request.targets)
        urls = [t.photo.image_url for t in request.targets]
        if None in urls:
            raise ValueError("encode the request's images first")
        labels = [t.label for t in request.targets]
        return {
            "model": s.model,
            "messages": prompts.messages(request.stage, urls, labels, s.detail, s.describe),
            "response_format": response_format(request.stage, n, s.describe),
            "temperature": 0,
        }

    def receive(
        self, request: Request, content: str | None = None, error: str | None = None
    ) -> tuple[list[Request], list[Photo]]:
        """Take one reply (or the error that replaced it): accept each valid answer, re-ask each failed target
        until it has failed `max_tries` times, then record the failure."""
        answers = None
        if error is None:
            try:
                answers = parse_answers(content, len(request.targets))
            except AnswerError as bad:
                error = str(bad)
        again: list[Target] = []
        finished: list[Photo] = []
        for index, target in enumerate(request.targets):
            problem = error
            if answers is not None:
                try:
                    again.extend(self._accept(target, answers[index]))
                except AnswerError as bad:
                    problem = f"answer {index + 1}: {bad}"
            if problem is not None:
                unit = target.garment or target.photo
                unit.tries += 1
                if unit.tries < self.settings.max_tries:
                    again.append(target)
                    continue
                unit.error = f"{problem} (tried {unit.tries} times)"
            if target.photo.finished:
                finished.append(target.photo)
        return self.add(again), finished

    def reject(self, target: Target, error: str) -> list[Photo]:
        """Fail a target without asking (its image cannot be read); returns its photo if that finished it."""
        (target.garment or target.photo).error = error
        return [target.photo] if target.photo.finished else []

    def _accept(self, target: Target, answer: Any) -> list[Target]:
        photo, describe = target.photo, self.settings.describe
        if target.garment is None:
            garments, description = check_garments(answer, describe)
            photo.garments = [Garment(category, position) for category, position in garments]
            photo.description = description if description and not garments else None
            return [Target(photo, garment) for garment in photo.garments]
        target.garment.attributes, target.garment.description = check_attributes(
            answer, target.garment.category, describe
        )
        return []

    def records(self, photo: Photo) -> list[dict[str, Any]]:
        """The output lines of a finished photo, for each source naming it."""
        return [record for source in photo.sources for record in _records(photo, source)]


def _records(photo: Photo, source: Source) -> list[dict[str, Any]]:
    base: dict[str, Any] = {"id": source.id, "image": source.image}
    end = {"content_hash": photo.key}
    if photo.error is not None or photo.garments is None:
        return [{**base, "error": photo.error, **end}]
    if not photo.garments:
        description = {"description": photo.description} if photo.description else {}
        return [{**base, "category": OTHER, **description, **end}]
    several = len(photo.garments) > 1
    records = []
    for garment in photo.garments:
        record = {**base, **({"position": garment.position} if several else {})}
        if garment.attributes is None:
            record |= {"category": garment.category, "error": garment.error}
        else:
            record |= garment.attributes.to_record()
            if garment.description:
                record["description"] = garment.description
            record["caption"] = template_caption(garment.attributes)
        records.append(record | end)
    return records


def encode_images(photos: Iterable[Photo], max_side: int) -> dict[Photo, str]:
    """Set `image_url` on each photo that lacks one; returns the photos that could not be read, with why."""
    errors = {}
    for photo in photos:
        if photo.image_url is None:
            try:
                photo.image_url = image_data_url(photo.path, max_side)
            except ImageLoadError as error:
                errors[photo] = f"cannot read image: {error.reason}"
    return errors


def _hash(path: Path) -> str | OSError:
    try:
        return content_hash(path)
    except OSError as error:
        return error


def plan(
    sources: Sequence[Source], done: set[tuple[str, str | None]], progress: bool = False
) -> tuple[list[Photo], list[dict[str, Any]], int]:
    """Group the sources still to do by content hash: (photos, failure lines of unreadable files, skipped).

    A source is skipped when the output holds its (id, content hash); identical files are labelled once.
    """
    with ThreadPoolExecutor(max_workers=8) as pool:
        keys = list(
            tqdm(pool.map(_hash, [s.path for s in sources]), "hashing", len(sources), disable=not progress)
        )
    photos: dict[str, Photo] = {}
    unreadable: list[dict[str, Any]] = []
    skipped = 0
    for source, key in zip(sources, keys, strict=True):
        if isinstance(key, OSError):
            if (source.id, None) in done:
                skipped += 1
            else:
                reason = f"cannot read file: {key.strerror or key}"
                unreadable.append(
                    {"id": source.id, "image": source.image, "error": reason, "content_hash": None}
                )
        elif (source.id, key) in done:
            skipped += 1
        else:
            photos.setdefault(key, Photo(key, source.path, [])).sources.append(source)
    return list(photos.values()), unreadable, skipped


@dataclass
class Summary:
    """What a job did; `images` counts distinct files, `failed` those with at least one failure line."""

    images: int = 0
    skipped: int = 0
    labelled: int = 0
    failed: int = 0
    garments: int = 0
    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float | None = None
    seconds: float = 0.0

    def add_photos(self, photos: Iterable[Photo]) -> None:
        for photo in photos:
            self.images += 1
            garments = photo.garments or []
            failed = photo.error is not None or any(g.error is not None for g in garments)
            self.failed += failed
            self.labelled += not failed
            self.garments += sum(g.attributes is not None for g in garments)

    def add_stats(self, stats: ClientStats) -> None:
        self.requests += stats.requests
        self.retries += stats.retries
        self.rate_limited += stats.rate_limited
        self.prompt_tokens += stats.prompt_tokens
        self.completion_tokens += stats.completion_tokens

    def table(self) -> str:
        cost = "n/a (model not in the price table)" if self.cost is None else f"${self.cost:.4f}"
        rows = [
            ("images labelled", f"{self.labelled} ({self.garments} garments)"),
            ("images failed", str(self.failed)),
            ("already done, skipped", str(self.skipped)),
            ("requests (retries, 429s)", f"{self.requests} ({self.retries}, {self.rate_limited})"),
            ("tokens in / out", f"{self.prompt_tokens} / {self.completion_tokens}"),
            ("estimated cost", cost),
        ]
        if self.seconds:
            rows.append(("time", f"{self.seconds:.1f} s ({self.images / self.seconds:.1f} images/s)"))
        width = max(len(name) for name, _ in rows)
        return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


async def _send(
    labeller: Labeller, client: ChatClient, request: Request
) -> tuple[list[Request], list[Photo]]:
    """Encode what the request needs, send it, hand the reply to the labeller."""
    photos = {t.photo: None for t in request.targets}
    unreadable = await asyncio.to_thread(encode_images, photos, labeller.settings.max_side)
    finished = [
        p for t in request.targets if t.photo in unreadable for p in labeller.reject(t, unreadable[t.photo])
    ]
    request = Request(request.stage, tuple(t for t in request.targets if t.photo not in unreadable))
    if not request.targets:
        return [], finished
    try:
        completion = await client.complete(labeller.body(request))
        more, done = labeller.receive(request, completion.content)
    except RequestFailed as error:
        more, done = labeller.receive(request, error=str(error))
    return more, finished + done


async def _label(
    labeller: Labeller,
    photos: Sequence[Photo],
    client: ChatClient,
    log: RecordLog,
    concurrency: int,
    bar: tqdm,
) -> None:
    """Run `concurrency` workers over a queue of requests until every photo is finished.

    Stage-2 requests go first: they finish photos, so records flow steadily and few encoded images are held.
    Partial batches are sent only when nothing is in flight, since an answer in flight may still fill them.
    """
    queue: asyncio.PriorityQueue[tuple[int, int, Request | None]] = asyncio.PriorityQueue()
    order = itertools.count()
    in_flight = 0

    def enqueue(requests: Iterable[Request]) -> None:
        for request in requests:
            queue.put_nowait((int(request.stage == GARMENTS), next(order), request))

    async def worker() -> None:
        nonlocal in_flight
        while (request := (await queue.get())[2]) is not None:
            in_flight += 1
            try:
                more, finished = await _send(labeller, client, request)
            finally:
                in_flight -= 1
            for photo in finished:
                log.write(labeller.records(photo))
                photo.image_url = None
            bar.update(len(finished))
            stats = client.stats
            bar.set_postfix(
                requests=stats.requests,
                retries=stats.retries,
                tokens=stats.prompt_tokens + stats.completion_tokens,
            )
            enqueue(more)
            if queue.empty() and in_flight == 0:
                rest = labeller.flush()
                enqueue(rest)
                if not rest:  # everything is finished: stop all workers
                    for _ in range(concurrency):
                        queue.put_nowait((2, next(order), None))

    enqueue(labeller.add(Target(photo) for photo in photos))
    enqueue(labeller.flush())
    if queue.empty():
        return
    try:
        async with asyncio.TaskGroup() as group:
            for _ in range(concurrency):
                group.create_task(worker())
    except ExceptionGroup as errors:
        fatal = [e for e in errors.exceptions if isinstance(e, EndpointError)]
        if fatal:
            raise fatal[0] from None
        raise


def annotate(
    source: Path,
    output: Path,
    settings: LabelSettings | None = None,
    endpoint: Endpoint | None = None,
    prices: Mapping[str, Price] = DEFAULT_PRICES,
    progress: bool = True,
) -> Summary:
    """Label every photo of `source` (folder or JSONL manifest) not yet in `output`, appending to `output`.

    Raises FileNotFoundError/ValueError for a bad SOURCE, JsonlError for a damaged output and EndpointError
    when the endpoint refuses the job; records written before any of these stay valid, and a re-run resumes.
    """
    settings, endpoint = settings or LabelSettings(), endpoint or Endpoint()
    start = time.monotonic()
    photos, unreadable, skipped = plan(list_sources(source), read_done(output), progress)
    summary = Summary(skipped=skipped, images=len(unreadable), failed=len(unreadable))
    labeller = Labeller(settings)

    async def run(log: RecordLog) -> None:
        async with ChatClient(
            endpoint.base_url,
            endpoint.api_key,
            timeout=endpoint.timeout,
            retry=endpoint.retry,
            requests_per_minute=endpoint.requests_per_minute,
            max_connections=endpoint.concurrency,
        ) as client:
            with tqdm(total=len(photos), desc="labelling", unit="img", disable=not progress) as bar:
                try:
                    await _label(labeller, photos, client, log, endpoint.concurrency, bar)
                finally:
                    summary.add_stats(client.stats)

    with RecordLog(output) as log:
        for record in unreadable:
            log.write([record])
        asyncio.run(run(log))
    summary.add_photos(photos)
    summary.cost = estimate_cost(prices, settings.model, summary.prompt_tokens, summary.completion_tokens)
    summary.seconds = time.monotonic() - start
    return summary
