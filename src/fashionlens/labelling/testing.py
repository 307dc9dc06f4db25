"""A real chat-completions HTTP server on 127.0.0.1 playing an obedient vision model (tests, benchmarks).

It reads each request like a server would (images, the text before each, `response_format`), refuses a
schema whose answer count differs from the image count (400), and answers deterministic, taxonomy-valid JSON:
the same image and text always get the same answer. On top it can add latency, cap the request rate (429 with
Retry-After, as OpenAI does), and inject faults on chosen requests:

    rate_limit       429 with Retry-After
    server_error     500
    slow             answers after `slow_seconds` (set it past the client's timeout)
    malformed        truncated JSON
    too_few          one answer missing
    out_of_taxonomy  one answer with a value outside the taxonomy
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import random
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from fashionlens.labelling.schemas import GARMENTS, POSITION_CATEGORIES
from fashionlens.taxonomy import CATEGORIES

FAULTS: tuple[str, ...] = ("rate_limit", "server_error", "slow", "malformed", "too_few", "out_of_taxonomy")
#: Garment positions of the worn outfits the fake model "sees".
OUTFITS: tuple[tuple[str, ...], ...] = (("top", "bottom"), ("outer", "top", "bottom"), ("outer", "full"))
OUT_OF_TAXONOMY = "hat"


@dataclass(frozen=True)
class FaultPlan:
    """Which requests (numbered from 1, in arrival order) get which fault: those listed in `at`, and every
    `every`-th request cycling through `kinds`."""

    every: int = 0
    kinds: tuple[str, ...] = FAULTS
    at: Mapping[int, str] = field(default_factory=dict)

    def fault(self, number: int) -> str | None:
        if number in self.at:
            return self.at[number]
        if self.every and number % self.every == 0:
            return self.kinds[(number // self.every - 1) % len(self.kinds)]
        return None


@dataclass(frozen=True)
class Logged:
    """One request as the server saw it."""

    number: int
    stage: str | None
    images: int
    labels: tuple[str, ...]
    status: int
    fault: str | None


def _garments(rng: random.Random) -> list[dict[str, str]]:
    draw = rng.random()
    if draw < 0.1:
        return []
    if draw < 0.7:
        category = rng.choice(CATEGORIES)
        position = rng.choice([p for p, allowed in POSITION_CATEGORIES.items() if category in allowed])
        return [{"category": category, "position": position}]
    return [{"category": rng.choice(POSITION_CATEGORIES[p]), "position": p} for p in rng.choice(OUTFITS)]


def _fill(schema: Mapping[str, Any], rng: random.Random) -> dict[str, Any]:
    """A stage-2 answer drawn from the request's own schema: one enum value per field, a few distinct list
    items, a sentence for free text."""
    answer: dict[str, Any] = {}
    for name, prop in schema["properties"].items():
        if prop["type"] == "array":
            values = prop["items"]["enum"]
            count = rng.randint(prop.get("minItems", 0), min(prop.get("maxItems", 2), 2, len(values)))
            answer[name] = rng.sample(values, count)
        elif "enum" in prop:
            answer[name] = rng.choice(prop["enum"])
    if "description" in schema["properties"]:
        colors = " and ".join(answer.get("color", []))
        answer["description"] = f"A {colors} {answer.get('subcategory', 'garment')}.".replace("  ", " ")
    return answer


def _stage(body: Mapping[str, Any]) -> str:
    return body["response_format"]["json_schema"]["name"].removeprefix("attributes_")


def fake_answers(body: Mapping[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """(stage, one answer per image) for a chat-completions body; raises ValueError for a body a strict server
    would refuse. Answers depend only on each image and the text before it."""
    schema = body["response_format"]["json_schema"]
    answers_schema = schema["schema"]["properties"]["answers"]
    content = body["messages"][-1]["content"]
    images = [part["image_url"]["url"] for part in content if part["type"] == "image_url"]
    labels = [content[i - 1]["text"] for i, part in enumerate(content) if part["type"] == "image_url"]
    if not images or answers_schema["minItems"] != len(images) or answers_schema["maxItems"] != len(images):
        raise ValueError(
            f"answers schema asks {answers_schema.get('minItems')} answers for {len(images)} images"
        )
    stage = _stage(body)
    item = answers_schema["items"]
    answers = []
    for url, label in zip(images, labels, strict=True):
        # Labels start "Image N": drop N, so an image's answer does not depend on its slot in the batch.
        text = label.split(":", 1)[1] if ":" in label else ""
        rng = random.Random(hashlib.sha256(f"{stage}|{text}|{url}".encode()).digest())
        if stage == GARMENTS:
            answer: dict[str, Any] = {"garments": _garments(rng)}
            if "description" in item["properties"]:
                answer["description"] = "" if answer["garments"] else "A pair of shoes on a wooden floor."
        else:
            answer = _fill(item, rng)
        answers.append(answer)
    return stage, answers


def _inject(fault: str | None, stage: str, answers: list[dict[str, Any]]) -> str:
    """The reply content, spoiled as `fault` says."""
    if fault == "too_few":
        answers = answers[:-1]
    elif fault == "out_of_taxonomy":
        bad = {"category": OUT_OF_TAXONOMY, "position": "top"}
        answers[-1] = (
            {**answers[-1], "garments": [bad]} if stage == GARMENTS else {**answers[-1], "subcategory": "hat"}
        )
    content = json.dumps({"answers": answers})
    return content[: len(content) // 2] if fault == "malformed" else content


def fake_completion(body: Mapping[str, Any], fault: str | None = None) -> dict[str, Any]:
    """The chat.completion object answering `body` (spoiled as `fault` says); raises ValueError like
    `fake_answers`. Usage: 85 tokens per image (OpenAI's low-detail rate), 4 characters per text token."""
    stage, answers = fake_answers(body)
    text = _inject(fault, stage, answers)
    content = body["messages"][-1]["content"]
    prompt = sum(len(p["text"]) for p in content if p["type"] == "text") // 4
    usage = {"prompt_tokens": prompt + 85 * len(answers), "completion_tokens": len(text) // 4}
    return {
        "object": "chat.completion",
        "model": body.get("model"),
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": usage | {"total_tokens": usage["prompt_tokens"] + usage["completion_tokens"]},
    }


class FakeVisionServer:
    """`with FakeVisionServer(...) as server:` serves on `server.base_url` (ends in /v1) until the block ends.

    `rate_limit` caps accepted requests per second (a token bucket holding one second's worth); requests over
    it get 429 with `Retry-After`. An injected `rate_limit` fault asks for `retry_after` seconds; a `slow` one
    answers after `slow_seconds`. `log` lists every request; `accepted` counts those not refused by the cap.
    """

    def __init__(
        self,
        *,
        latency: float = 0.0,
        faults: FaultPlan | None = None,
        rate_limit: float | None = None,
        retry_after: float = 0.05,
        slow_seconds: float = 2.0,
        api_key: str | None = None,
    ) -> None:
        self.latency = latency
        self.faults = faults or FaultPlan()
        self.rate_limit = rate_limit
        self.retry_after = retry_after
        self.slow_seconds = slow_seconds
        self.api_key = api_key
        self.log: list[Logged] = []
        self.accepted = 0
        self._received = 0
        self._lock = threading.Lock()
        self._tokens = max(1.0, rate_limit or 0.0)
        self._refilled = time.monotonic()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> FakeVisionServer:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _admit(self) -> tuple[int, float | None]:
        """Number this request; the seconds to wait when the rate cap refuses it, else None."""
        with self._lock:
            self._received += 1
            if self.rate_limit is not None:
                now = time.monotonic()
                capacity = max(1.0, self.rate_limit)
                self._tokens = min(capacity, self._tokens + (now - self._refilled) * self.rate_limit)
                self._refilled = now
                if self._tokens < 1.0:
                    return self._received, (1.0 - self._tokens) / self.rate_limit
                self._tokens -= 1.0
            self.accepted += 1
            return self._received, None

    def _record(self, entry: Logged) -> None:
        with self._lock:
            self.log.append(entry)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
                pass

            def _reply(
                self, status: int, payload: Mapping[str, Any], headers: Mapping[str, str] | None = None
            ) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                with contextlib.suppress(
                    BrokenPipeError, ConnectionResetError
                ):  # the client gave up ("slow")
                    self.wfile.write(data)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if not self.path.endswith("/chat/completions"):
                    return self._reply(404, {"error": {"message": f"no route {self.path}"}})
                if server.api_key and self.headers.get("Authorization") != f"Bearer {server.api_key}":
                    return self._reply(401, {"error": {"message": "invalid API key"}})
                number, wait = server._admit()
                fault = server.faults.fault(number)
                stage, images, labels, status = None, 0, (), 200
                try:
                    request = json.loads(body)
                    content = request["messages"][-1]["content"]
                    labels = tuple(p["text"] for p in content if p["type"] == "text")[1:]
                    images = sum(p["type"] == "image_url" for p in content)
                    stage = _stage(request)
                    reply = fake_completion(request, fault)
                except (ValueError, KeyError, TypeError, IndexError) as error:
                    status, message = 400, f"bad request: {error!r}"
                if wait is not None or fault == "rate_limit":
                    seconds = server.retry_after if wait is None else wait
                    status, message = 429, "rate limit reached"
                elif fault == "server_error" and status == 200:
                    status, message = 500, "injected server error"
                server._record(Logged(number, stage, images, labels, status, fault))
                if status == 429:
                    return self._reply(
                        429, {"error": {"message": message}}, {"Retry-After": f"{seconds:.3g}"}
                    )
                if status != 200:
                    return self._reply(status, {"error": {"message": message}})
                time.sleep(server.slow_seconds if fault == "slow" else server.latency)
                return self._reply(200, reply)

        return Handler
