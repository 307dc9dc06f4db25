"""An OpenAI-compatible chat-completions client built for long labelling jobs.

Transient trouble (429, 5xx, timeouts, dropped connections) is retried with exponential backoff and jitter,
honouring the server's Retry-After; a 429 also pauses every other request of the client, so a rate-limited
job slows down together instead of hammering the server. A request that still fails raises `RequestFailed`
(its images are re-asked or recorded as failed); a problem no retry can fix (bad key, unknown model or URL,
unreachable host) raises `EndpointError`, which stops the job: the output is resumable, so stopping beats
writing a failure line for every remaining photo.
"""

from __future__ import annotations

import asyncio
import base64
import io
import random
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from fashionlens.images import load_image

#: Statuses worth retrying besides every 5xx: request timeout, conflict, rate limit.
RETRY_STATUSES = frozenset({408, 409, 429})
#: Statuses that mean the whole job is misconfigured.
FATAL_STATUSES = frozenset({401, 403, 404})


class EndpointError(RuntimeError):
    """The endpoint cannot serve this job at all (bad key, unknown model or URL, unreachable host)."""


class RequestFailed(RuntimeError):
    """One request failed for good: a status not worth retrying, or retries used up."""


@dataclass(frozen=True)
class RetryPolicy:
    """How many times and how long to wait before retrying a transient failure."""

    max_retries: int = 6
    backoff: float = 1.0
    max_backoff: float = 60.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds before retry number `attempt` (0-based): the server's Retry-After when it sent one, else
        exponential backoff; both with jitter, so clients that failed together do not retry together."""
        if retry_after is not None:
            return retry_after * random.uniform(1.0, 1.2)
        return min(self.max_backoff, self.backoff * 2**attempt) * random.uniform(0.5, 1.0)


def parse_retry_after(headers: httpx.Headers) -> float | None:
    """Seconds the server asks to wait: OpenAI's `retry-after-ms`, or `Retry-After` (seconds or HTTP date)."""
    if (ms := headers.get("retry-after-ms")) is not None:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


@dataclass
class ClientStats:
    """Counters for the job summary; `requests` includes retries."""

    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass(frozen=True)
class Completion:
    """The model's reply text (None when it sent none) and the tokens the request used."""

    content: str | None
    prompt_tokens: int
    completion_tokens: int


class RateLimiter:
    """Spaces request starts at least `1 / per_second` apart; `pause` holds every start back for a while."""

    def __init__(self, per_second: float | None = None) -> None:
        self.interval = 1.0 / per_second if per_second else 0.0
        self._next = 0.0

    async def acquire(self) -> None:
        loop = asyncio.get_running_loop()
        while (wait := self._next - loop.time()) > 0:
            await asyncio.sleep(wait)
        self._next = loop.time() + self.interval

    def pause(self, seconds: float) -> None:
        self._next = max(self._next, asyncio.get_running_loop().time() + seconds)


def image_data_url(path: str | Path, max_side: int = 512, quality: int = 90) -> str:
    """The image as a JPEG data URL, downscaled so its longest side is at most `max_side` (fewer tokens, same
    labels). Raises ImageLoadError for an unreadable image."""
    image = load_image(path)
    image.thumbnail((max_side, max_side))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _error_message(response: httpx.Response) -> str:
    try:
        error = response.json().get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
    except (ValueError, AttributeError):
        pass
    return response.text[:200] or response.reason_phrase


def _completion(response: httpx.Response) -> Completion:
    try:
        reply = response.json()
        content = reply["choices"][0]["message"].get("content")
        usage = reply.get("usage") or {}
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        raise RequestFailed(f"not a chat completion: {response.text[:200]!r}") from None
    return Completion(content, int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0))


class ChatClient:
    """POSTs chat-completion bodies to `{base_url}/chat/completions`; one per job, used as `async with`."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        timeout: float = 60.0,
        retry: RetryPolicy | None = None,
        requests_per_minute: float | None = None,
        max_connections: int = 16,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        try:
            url = httpx.URL(self.base_url)
        except httpx.InvalidURL as error:
            raise EndpointError(f"invalid base URL {base_url!r}: {error}") from None
        if url.scheme not in ("http", "https") or not url.host:
            raise EndpointError(f"invalid base URL {base_url!r}: expected http(s)://host[:port]/path")
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.stats = ClientStats()
        self._limiter = RateLimiter(requests_per_minute / 60 if requests_per_minute else None)
        self._http = httpx.AsyncClient(
            base_url=self.base_url + "/",
            headers={"Authorization": f"Bearer {api_key}"} if api_key else {},
            timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        )

    async def complete(self, body: dict[str, Any]) -> Completion:
        """Send one request, retrying transient failures. Raises RequestFailed or EndpointError."""
        problem, unreachable, retry_after = "", False, None
        for attempt in range(self.retry.max_retries + 1):
            if attempt:
                await asyncio.sleep(self.retry.delay(attempt - 1, retry_after))
                retry_after = None
            await self._limiter.acquire()
            self.stats.requests += 1
            self.stats.retries += attempt > 0
            try:
                response = await self._http.post("chat/completions", json=body)
            except httpx.TimeoutException:
                problem, unreachable = f"no answer within {self.timeout:g} s", False
                continue
            except httpx.TransportError as error:
                problem, unreachable = f"connection failed ({error!r})", isinstance(error, httpx.ConnectError)
                continue
            status = response.status_code
            if status == 200:
                completion = _completion(response)
                self.stats.prompt_tokens += completion.prompt_tokens
                self.stats.completion_tokens += completion.completion_tokens
                return completion
            problem, unreachable = f"HTTP {status}: {_error_message(response)}", False
            if status in FATAL_STATUSES:
                raise EndpointError(f"{self.base_url} refused the request: {problem}")
            if status < 500 and status not in RETRY_STATUSES:
                raise RequestFailed(problem)
            retry_after = parse_retry_after(response.headers)
            if status == 429:
                self.stats.rate_limited += 1
                self._limiter.pause(retry_after if retry_after is not None else self.retry.delay(attempt))
        if unreachable:
            raise EndpointError(f"cannot reach {self.base_url}: {problem}")
        raise RequestFailed(f"{problem} (gave up after {self.retry.max_retries} retries)")

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> ChatClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
