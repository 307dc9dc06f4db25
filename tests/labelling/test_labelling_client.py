"""The chat-completions client against a real local HTTP server: retries, Retry-After, timeouts, errors."""

from __future__ import annotations

import asyncio
import socket
import time
from email.utils import formatdate
from typing import Any

import httpx
import pytest

from fashionlens.labelling import prompts
from fashionlens.labelling.client import (
    ChatClient,
    Completion,
    EndpointError,
    RequestFailed,
    RetryPolicy,
    parse_retry_after,
)
from fashionlens.labelling.schemas import GARMENTS, parse_answers, response_format
from fashionlens.labelling.testing import FakeVisionServer, FaultPlan

FAST = RetryPolicy(max_retries=3, backoff=0.01, max_backoff=0.02)


def _body(n_images: int = 2, answers: int | None = None) -> dict[str, Any]:
    urls = [f"data:image/jpeg;base64,{i}" for i in range(n_images)]
    return {
        "model": "fake",
        "messages": prompts.messages(GARMENTS, urls, [""] * n_images),
        "response_format": response_format(GARMENTS, n_images if answers is None else answers),
    }


def _complete(base_url: str, body: dict[str, Any], **options: Any) -> tuple[Completion, ChatClient, float]:
    async def run() -> tuple[Completion, ChatClient, float]:
        async with ChatClient(base_url, **({"retry": FAST, "timeout": 0.3} | options)) as client:
            start = time.monotonic()
            completion = await client.complete(body)
            return completion, client, time.monotonic() - start

    return asyncio.run(run())


def test_a_clean_request_returns_the_answers_and_usage() -> None:
    with FakeVisionServer() as server:
        completion, client, _ = _complete(server.base_url, _body(3))
    assert len(parse_answers(completion.content, 3)) == 3
    assert completion.prompt_tokens > 0 and completion.completion_tokens > 0
    assert (client.stats.requests, client.stats.retries) == (1, 0)
    assert client.stats.prompt_tokens == completion.prompt_tokens


def test_429_waits_for_retry_after_then_succeeds() -> None:
    with FakeVisionServer(faults=FaultPlan(at={1: "rate_limit"}), retry_after=1.0) as server:
        completion, client, elapsed = _complete(server.base_url, _body())
    assert completion.content and elapsed >= 1.0  # backoff alone would retry after ~10 ms
    assert (client.stats.requests, client.stats.retries, client.stats.rate_limited) == (2, 1, 1)
    assert [entry.status for entry in server.log] == [429, 200]


def test_server_errors_and_timeouts_are_retried() -> None:
    plan = FaultPlan(at={1: "server_error", 2: "slow"})
    with FakeVisionServer(faults=plan, slow_seconds=2.0) as server:
        completion, client, elapsed = _complete(server.base_url, _body())
    assert len(parse_answers(completion.content, 2)) == 2
    assert client.stats.retries == 2 and elapsed < 1.5  # the slow answer was abandoned at the 0.3 s timeout
    assert [entry.fault for entry in server.log] == ["server_error", "slow", None]


def test_retries_give_up_with_request_failed() -> None:
    with FakeVisionServer(faults=FaultPlan(every=1, kinds=("server_error",))) as server:
        with pytest.raises(RequestFailed, match=r"HTTP 500.*gave up after 3 retries"):
            _complete(server.base_url, _body())
        assert len(server.log) == 4


def test_a_bad_request_is_not_retried() -> None:
    with FakeVisionServer() as server:
        with pytest.raises(RequestFailed, match="HTTP 400"):
            _complete(server.base_url, _body(n_images=2, answers=3))  # schema disagrees with the images
        assert [entry.status for entry in server.log] == [400]


def test_a_wrong_key_stops_the_job_at_once() -> None:
    with FakeVisionServer(api_key="right") as server:
        with pytest.raises(EndpointError, match="invalid API key"):
            _complete(server.base_url, _body(), api_key="wrong")
        completion, _, _ = _complete(server.base_url, _body(), api_key="right")
    assert completion.content


def test_an_unreachable_server_stops_the_job() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(EndpointError, match="cannot reach"):
        _complete(f"http://127.0.0.1:{port}/v1", _body())


def test_rate_limit_spaces_request_starts() -> None:
    async def run(base_url: str) -> float:
        async with ChatClient(base_url, requests_per_minute=600) as client:  # 10 per second
            start = time.monotonic()
            await asyncio.gather(*(client.complete(_body(1)) for _ in range(5)))
            return time.monotonic() - start

    with FakeVisionServer() as server:
        assert asyncio.run(run(server.base_url)) >= 0.4


def test_parse_retry_after_reads_every_form() -> None:
    assert parse_retry_after(httpx.Headers({"retry-after-ms": "250", "retry-after": "9"})) == 0.25
    assert parse_retry_after(httpx.Headers({"retry-after": "2"})) == 2.0
    assert parse_retry_after(httpx.Headers({"retry-after": "0.5"})) == 0.5
    in_three = parse_retry_after(httpx.Headers({"retry-after": formatdate(time.time() + 3, usegmt=True)}))
    assert in_three is not None and 1.5 < in_three <= 3.0
    assert parse_retry_after(httpx.Headers({"retry-after": "soon"})) is None
    assert parse_retry_after(httpx.Headers()) is None


def test_backoff_grows_exponentially_with_jitter_and_honours_retry_after() -> None:
    policy = RetryPolicy(max_retries=9, backoff=1.0, max_backoff=8.0)
    for attempt, ceiling in [(0, 1.0), (1, 2.0), (2, 4.0), (3, 8.0), (6, 8.0)]:
        delays = {policy.delay(attempt) for _ in range(50)}
        assert all(ceiling / 2 <= d <= ceiling for d in delays) and len(delays) > 1
    assert all(3.0 <= policy.delay(0, retry_after=3.0) <= 3.6 for _ in range(50))


@pytest.mark.parametrize("url", ["localhost:8000/v1", "ftp://example.com/v1", "http://"])
def test_a_base_url_that_is_not_http_is_refused_up_front(url: str) -> None:
    with pytest.raises(EndpointError, match="invalid base URL"):
        _complete(url, _body())
