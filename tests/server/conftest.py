"""A real index of a small synthetic catalogue (tiny-random model), and the app over real HTTP: uvicorn in a
thread on a free 127.0.0.1 port."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

import pytest
import uvicorn
from fastapi import FastAPI
from PIL import Image

from fashionlens.cli.demo import Demo, prepare_demo
from fashionlens.jsonl import read_jsonl
from fashionlens.search.engine import SearchEngine
from fashionlens.server import listen

N_ITEMS = 8


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    return prepare_demo(tmp_path_factory.mktemp("demo"), items=N_ITEMS, model="tiny-random")


@pytest.fixture(scope="session")
def engine(demo: Demo) -> SearchEngine:
    return SearchEngine.open(demo.db, model=demo.model)


@pytest.fixture(scope="session")
def item_ids(demo: Demo) -> list[str]:
    return [record["id"] for record in read_jsonl(demo.catalogue)]


@contextmanager
def _serving(app: FastAPI) -> Iterator[str]:
    sock = listen("127.0.0.1", 0)
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture(scope="session")
def serving() -> Callable[[FastAPI], AbstractContextManager[str]]:
    """`with serving(app) as url:` runs `app` on a free local port for the block; yields its base URL."""
    return _serving


@pytest.fixture(scope="session")
def encode() -> Callable[..., bytes]:
    """`encode(image, "PNG")`: an image as the bytes of a file upload."""

    def _encode(image: Image.Image, fmt: str = "JPEG") -> bytes:
        buffer = io.BytesIO()
        image.save(buffer, format=fmt)
        return buffer.getvalue()

    return _encode


@pytest.fixture(scope="session")
def two_garments(
    engine: SearchEngine, item_ids: list[str]
) -> tuple[Image.Image, tuple[int, int, int, int], str]:
    """A photo of two catalogue items side by side, the pixel box of the right one, and that item's id."""
    from fashionlens.images import load_image

    left_id, right_id = item_ids[0], item_ids[1]
    left, right = (load_image(engine.image_path(i)) for i in (left_id, right_id))
    scene = Image.new("RGB", (left.width + right.width, max(left.height, right.height)), "white")
    scene.paste(left, (0, 0))
    scene.paste(right, (left.width, 0))
    return scene, (left.width, 0, left.width + right.width, right.height), right_id
