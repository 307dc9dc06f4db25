"""The HTTP API over real HTTP, on a real index: search by words, photo and boxed region; items and images;
every bad request a client can send gets a clear 4xx, and the server keeps answering."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from PIL import Image

from fashionlens.search.engine import parse_box
from fashionlens.server.app import create_app, listen

MAX_UPLOAD = 256 * 1024


@pytest.fixture(scope="module")
def client(engine, serving) -> Iterator[httpx.Client]:
    with serving(create_app(engine, max_upload_bytes=MAX_UPLOAD)) as url, httpx.Client(base_url=url) as http:
        yield http


def photo(engine, item_id: str) -> bytes:
    """An item's own catalogue photo, as an upload."""
    return engine.image_path(item_id).read_bytes()


def search(client: httpx.Client, image: bytes | None = None, **fields: object) -> httpx.Response:
    files = {"image": ("query.jpg", image, "image/jpeg")} if image is not None else None
    return client.post("/api/search", data={k: str(v) for k, v in fields.items()}, files=files)


def assert_still_serving(client: httpx.Client, engine, item_id: str) -> None:
    response = search(client, photo(engine, item_id), k=3)
    assert response.status_code == 200, response.text
    assert response.json()["results"][0]["id"] == item_id


def test_health_and_facets(client: httpx.Client, engine) -> None:
    assert client.get("/health").json() == {"status": "ok", "items": engine.count()}
    facets = client.get("/api/facets").json()
    assert facets == engine.facets() and facets["category"] and facets["color"]


def test_photo_query_finds_its_own_item_first(client: httpx.Client, engine, item_ids: list[str]) -> None:
    for item_id in item_ids:
        response = search(client, photo(engine, item_id), k=4)
        assert response.status_code == 200, response.text
        results = response.json()["results"]
        assert len(results) == 4
        assert results[0]["id"] == item_id
        assert results[0]["image"] == f"/images/{item_id}"
        assert {"score", "caption", "attributes", "title", "url", "price"} <= set(results[0])


def test_text_query_returns_k_ranked_results(client: httpx.Client) -> None:
    body = search(client, text="a red striped t-shirt", k=3).json()
    scores = [r["score"] for r in body["results"]]
    assert len(scores) == 3 and scores == sorted(scores, reverse=True)
    assert body["took_ms"] >= 0


def test_box_searches_only_that_region(client: httpx.Client, two_garments, encode) -> None:
    scene, box, right_id = two_garments
    boxed = search(client, encode(scene, "PNG"), box=",".join(map(str, box)), k=1).json()["results"]
    assert boxed[0]["id"] == right_id


def test_photo_and_words_combine(client: httpx.Client, engine, item_ids: list[str]) -> None:
    query = photo(engine, item_ids[0])
    alone, combined = (
        search(client, query, **fields).json()["results"] for fields in ({}, {"text": "in red"})
    )
    assert alone[0]["score"] == pytest.approx(1.0, abs=1e-4)
    assert combined[0]["score"] < alone[0]["score"] - 1e-3


def test_where_filters_results(client: httpx.Client, engine) -> None:
    category = engine.facets()["category"][0]
    results = search(client, text="clothes", where=f"category = '{category}'").json()["results"]
    assert results and {r["attributes"]["category"] for r in results} == {category}
    everything = search(client, text="clothes", k=100).json()["results"]
    assert len(results) == sum(r["attributes"]["category"] == category for r in everything)


def test_caption_describes_an_upload(client: httpx.Client, engine, item_ids: list[str]) -> None:
    body = client.post("/api/caption", files={"image": ("a.jpg", photo(engine, item_ids[0]))}).json()
    assert body == engine.describe(Image.open(engine.image_path(item_ids[0])).convert("RGB"))
    assert body["caption"] and body["attributes"]["category"]


def test_items_and_images(client: httpx.Client, engine, item_ids: list[str]) -> None:
    item_id = item_ids[2]
    item = client.get(f"/api/items/{item_id}").json()
    assert item["id"] == item_id and item["image"] == f"/images/{item_id}"
    assert item["title"] == engine.get(item_id)["title"]
    response = client.get(item["image"])
    assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
    assert response.content == photo(engine, item_id)
    assert client.get("/api/items/no-such-item").status_code == 404
    assert client.get("/images/no-such-item").status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/images/..%2F..%2F..%2F..%2F..%2Fetc%2Fpasswd",
        "/images/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/images/%2Fetc%2Fpasswd",
        "/images//etc/passwd",
        "/images/shop%2F..%2Fshop.jsonl",
        "/images/x%00.jpg",
        "/api/items/..%2F..%2Fetc%2Fpasswd",
        "/static/..%2F..%2Fapp.py",
        "/static/%2e%2e/app.py",
    ],
)
def test_path_traversal_never_serves_a_file(client: httpx.Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code in (400, 404), response.text
    assert b"root:" not in response.content and b"create_app" not in response.content


def test_bad_uploads_are_clear_4xx_and_server_keeps_serving(
    client: httpx.Client, engine, item_ids: list[str], encode
) -> None:
    jpeg = encode(Image.effect_noise((256, 256), 64).convert("RGB"))
    bad = {
        "empty": (b"", "empty"),
        "not an image": (b"just some text, not a picture", "not an image"),
        "corrupt": (jpeg[:20] + bytes(range(256)) * 8, "cannot read the uploaded image"),
        "truncated": (jpeg[: len(jpeg) // 2], "truncated"),
        "bomb": (encode(Image.new("1", (9000, 9000)), "PNG"), "too large"),  # 10 kB that decode to 81 MP
    }
    for name, (data, reason) in bad.items():
        for endpoint in ("/api/search", "/api/caption"):
            response = client.post(endpoint, files={"image": ("x.jpg", data, "image/jpeg")})
            assert response.status_code == 400, (name, endpoint, response.text)
            assert reason in response.json()["detail"], (name, response.json())
    assert_still_serving(client, engine, item_ids[0])


def test_oversized_uploads_get_413(client: httpx.Client, engine, item_ids: list[str]) -> None:
    response = client.post("/api/search", files={"image": ("big.jpg", bytes(MAX_UPLOAD + 1), "image/jpeg")})
    assert response.status_code == 413
    assert "larger than" in response.json()["detail"]
    # Without Content-Length (chunked), the cap is counted while the body streams in.
    boundary = "fashionlens"
    head = f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="b.jpg"\r\n\r\n'.encode()
    chunks = iter([head, *[bytes(64 * 1024)] * 8, f"\r\n--{boundary}--\r\n".encode()])
    response = client.post(
        "/api/search", content=chunks, headers={"content-type": f"multipart/form-data; boundary={boundary}"}
    )
    assert response.status_code == 413
    assert "larger than" in response.json()["detail"]
    assert_still_serving(client, engine, item_ids[0])


def test_announced_huge_body_is_refused_unread(engine, serving) -> None:
    """A client announcing 10 GB gets its 413 before sending a byte of it."""
    with serving(create_app(engine, max_upload_bytes=1024)) as url:
        host, port = url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            sock.sendall(
                b"POST /api/search HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                b"Content-Length: 10000000000\r\n\r\n"
            )
            reply = b""
            while b"\r\n\r\n" not in reply:
                reply += sock.recv(4096)
    assert reply.startswith(b"HTTP/1.1 413")


@pytest.mark.parametrize(
    ("fields", "status", "reason"),
    [
        ({}, 400, "give a photo, a text"),
        ({"text": "   "}, 400, "give a photo, a text"),
        ({"text": "top", "box": "0,0,10,10"}, 400, "box needs a photo"),
        ({"text": "top", "where": "price; DROP TABLE items"}, 400, "bad filter"),
        ({"text": "top", "where": "colour = 'red'"}, 400, "colour"),
        ({"text": "top", "where": "color = 'rainbow'"}, 400, "rainbow"),
        ({"text": "top", "k": "0"}, 422, "k"),
        ({"text": "top", "k": "lots"}, 422, "k"),
        ({"text": "x" * 5000}, 422, "text"),
    ],
)
def test_bad_fields_are_4xx(client: httpx.Client, fields: dict[str, str], status: int, reason: str) -> None:
    response = client.post("/api/search", data=fields)
    assert response.status_code == status, response.text
    assert reason in str(response.json()["detail"])


@pytest.mark.parametrize(
    "box",
    ["1,2,3", "a,b,c,d", "1,2,3,4,5", "10,10,5,20", "0,0,0,0", "0,0,nan,10", "0,0,inf,9", "900,900,999,999"],
)
def test_bad_boxes_are_400(client: httpx.Client, engine, item_ids: list[str], box: str) -> None:
    response = search(client, photo(engine, item_ids[0]), box=box)
    assert response.status_code == 400, response.text
    assert "box" in response.json()["detail"]


def test_listening_socket_disables_nagle() -> None:
    with listen("127.0.0.1", 0) as sock:
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


def test_parse_box() -> None:
    assert parse_box("1, 2.5, 30,40") == (1.0, 2.5, 30.0, 40.0)
    with pytest.raises(ValueError, match="four numbers"):
        parse_box("1,2,3,4,5")


class OnLoopCounter:
    """Forwards to an engine, counting calls made on a running event loop (they would stall the server)."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.on_loop = 0
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.engine, name)

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            try:
                asyncio.get_running_loop()
                self.on_loop += 1
            except RuntimeError:
                pass
            return method(*args, **kwargs)

        return counted


def test_engine_runs_off_the_event_loop(engine, item_ids: list[str], serving) -> None:
    counter = OnLoopCounter(engine)
    with serving(create_app(counter)) as url, httpx.Client(base_url=url) as http:
        assert search(http, photo(engine, item_ids[0]), text="red").status_code == 200
        assert http.post("/api/caption", files={"image": ("a.jpg", photo(engine, item_ids[0]))}).is_success
        assert http.get("/health").is_success and http.get(f"/images/{item_ids[0]}").is_success
    assert counter.calls == 4 and counter.on_loop == 0


def test_page_and_docs_are_served(client: httpx.Client) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "/static/app.js" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    for asset in ("/static/app.js", "/static/style.css"):
        assert client.get(asset).status_code == 200
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/search", "/api/caption", "/api/facets", "/health"} <= set(paths)
