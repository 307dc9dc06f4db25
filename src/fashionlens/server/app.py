"""The HTTP API and web page over a `SearchEngine`: find catalogue items by photo (or a box on it), by words,
or both, and describe a photo.

Image decoding, embedding and captioning are CPU-bound, so they run in the threadpool; the event loop only
parses requests and streams files. Every failure a client can cause is a 4xx JSON `{"detail": ...}`, and the
request body is capped before it is read, so bad uploads never take the server down or fill its memory.
"""

from __future__ import annotations

import mimetypes
import socket
import time
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import uvicorn
from fastapi import FastAPI, File, Form, HTTPException, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from PIL import Image
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fashionlens import __version__
from fashionlens.images import ImageLoadError, load_image
from fashionlens.search.engine import SearchEngine, SearchError, parse_box

STATIC_DIR = Path(__file__).with_name("static")
DEFAULT_MAX_UPLOAD_BYTES = 10 * 2**20
MAX_K = 100
MAX_TEXT_CHARS = 500
MAX_WHERE_CHARS = 1000
# The page is self-contained: no CDN, no inline script, nothing fetched from another origin.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
}


class BodyLimit:
    """ASGI middleware: 413 for a request body over `max_bytes`, before it is buffered anywhere.

    A declared Content-Length over the cap is refused without reading a byte; a chunked body is counted as it
    streams and refused at the first chunk past the cap.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        detail = f"request body larger than {self.max_bytes} bytes"
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await JSONResponse({"detail": detail}, status_code=413)(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise HTTPException(413, detail)  # surfaces from the form parser as this JSON 413
            return message

        await self.app(scope, counted, send)


def _image_url(item_id: str) -> str:
    return f"/images/{quote(item_id, safe='')}"


def _public(item: dict[str, Any]) -> dict[str, Any]:
    """An engine record as clients see it: `image` is the URL the server serves it at, not a server path."""
    return {**item, "image": _image_url(str(item["id"]))}


async def _read_image(upload: UploadFile) -> Image.Image:
    """Decode an upload through the project's image loader (orientation, RGB, bomb limit, clear errors)."""
    data = await upload.read()
    try:
        return await run_in_threadpool(load_image, data)
    except ImageLoadError as error:
        raise HTTPException(400, f"cannot read the uploaded image: {error.reason}") from error


def create_app(engine: SearchEngine, *, max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES) -> FastAPI:
    """The FastAPI app serving `engine`: JSON API under /api, item images under /images, the page at /.

    `max_upload_bytes` caps every request body (413 beyond it; see `BodyLimit`).
    """
    app = FastAPI(
        title="fashionlens",
        version=__version__,
        description="Search a clothing catalogue by photo, by a box on a photo, or by words.",
    )

    app.add_middleware(BodyLimit, max_bytes=max_upload_bytes)

    @app.exception_handler(SearchError)
    async def search_error(_: Request, error: SearchError) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=400)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        """Liveness plus the number of indexed items."""
        return {"status": "ok", "items": await run_in_threadpool(engine.count)}

    @app.get("/api/facets")
    async def facets() -> dict[str, list[str]]:
        """Taxonomy values present in the index, per field (the page's category and colour filters)."""
        return await run_in_threadpool(engine.facets)

    @app.post("/api/search")
    async def search(
        image: Annotated[UploadFile | None, File(description="Query photo")] = None,
        text: Annotated[str | None, Form(max_length=MAX_TEXT_CHARS, description="Query words")] = None,
        k: Annotated[int, Form(ge=1, le=MAX_K, description="Number of results")] = 20,
        where: Annotated[
            str | None,
            Form(max_length=MAX_WHERE_CHARS, description="Filter, e.g. category = 'top' AND color = 'black'"),
        ] = None,
        box: Annotated[
            str | None, Form(description="Region of the photo to search, 'x0,y0,x1,y1' in its pixels")
        ] = None,
    ) -> dict[str, Any]:
        """The k items nearest to a photo (or the boxed region of it), to words, or to both combined."""
        region = None
        if box:
            try:
                region = parse_box(box)
            except ValueError as error:
                raise HTTPException(400, str(error)) from error
        query = await _read_image(image) if image is not None else None
        start = time.perf_counter()
        results = await run_in_threadpool(engine.search, image=query, text=text, box=region, k=k, where=where)
        took_ms = (time.perf_counter() - start) * 1000
        return {"results": [_public(r) for r in results], "took_ms": round(took_ms, 1)}

    @app.post("/api/caption")
    async def caption(image: Annotated[UploadFile, File(description="Photo to describe")]) -> dict[str, Any]:
        """Caption and taxonomy attributes the model predicts for a photo."""
        return await run_in_threadpool(engine.describe, await _read_image(image))

    @app.get("/api/items/{item_id:path}")
    async def item(item_id: str) -> dict[str, Any]:
        """One indexed item with its caption, attributes and catalogue fields."""
        found = await run_in_threadpool(engine.get, item_id)
        if found is None:
            raise HTTPException(404, f"no item {item_id!r}")
        return _public(found)

    @app.get("/images/{item_id:path}", response_class=FileResponse)
    async def item_image(item_id: str) -> FileResponse:
        """An item's catalogue image. Only ids the index knows resolve, so no request names a file itself."""
        path = await run_in_threadpool(engine.image_path, item_id)
        media_type = mimetypes.guess_type(path.name)[0] if path is not None else None
        if path is None or media_type is None or not media_type.startswith("image/") or not path.is_file():
            raise HTTPException(404, f"no image for item {item_id!r}")
        return FileResponse(path, media_type=media_type, headers={"X-Content-Type-Options": "nosniff"})

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", headers=PAGE_HEADERS)

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app


def listen(host: str, port: int) -> socket.socket:
    """A socket listening on host:port (port 0: any free one); OSError when it cannot (e.g. port taken)."""
    sock = socket.create_server((host, port), family=socket.AF_INET6 if ":" in host else socket.AF_INET)
    # Accepted connections inherit TCP_NODELAY. Without it, uvicorn serving this socket answered every request
    # ~40 ms late (measured): the body, written after the headers, waited for the client's delayed ACK.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def serve(
    engine: SearchEngine, sock: socket.socket, *, max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
) -> None:
    """Serve `engine` on a listening socket until interrupted, after printing the page's URL."""
    host, port = sock.getsockname()[:2]
    url = f"http://{f'[{host}]' if ':' in host else host}:{port}/"
    print(f"Serving {engine.count()} items at {url}  (API docs: {url}docs; Ctrl+C stops)", flush=True)
    config = uvicorn.Config(create_app(engine, max_upload_bytes=max_upload_bytes), log_level="warning")
    uvicorn.Server(config).run(sockets=[sock])
