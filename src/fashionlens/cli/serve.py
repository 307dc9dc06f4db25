"""`fashionlens serve`: the search page and JSON API over an index built by `fashionlens index`."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from fashionlens.search.engine import SearchEngine


def listen_or_exit(host: str, port: int) -> socket.socket:
    """The listening socket, taken before any slow work so a busy port fails at once, with a clear message."""
    from fashionlens.server import listen

    try:
        return listen(host, port)
    except OSError as error:
        typer.echo(
            f"error: cannot listen on {host}:{port} ({error.strerror or error}); try another --port", err=True
        )
        raise typer.Exit(2) from None


def open_or_exit(db: Path, model: str | None) -> SearchEngine:
    """The engine over `db` with `model` (default: the index's own); a missing index or model, or one that
    does not fit the index, is a user error, not a traceback."""
    from fashionlens.model import create_model
    from fashionlens.search.engine import SearchEngine

    try:
        return SearchEngine.open(db, model=create_model(model).eval() if model is not None else None)
    except (OSError, ValueError) as error:
        typer.echo(f"error: cannot open the index at {db}: {error}", err=True)
        raise typer.Exit(2) from None


def main(
    db: Annotated[Path, typer.Option("--db", help="Index directory written by `fashionlens index`.")],
    host: Annotated[
        str,
        typer.Option(help="Address to listen on: 127.0.0.1 keeps it local, 0.0.0.0 opens it to the network."),
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port; 0 picks a free one.", min=0, max=65535)] = 8000,
    model: Annotated[
        str | None,
        typer.Option(help="Query model (name or directory); default: the one that built the index."),
    ] = None,
    max_upload_mb: Annotated[
        float, typer.Option(help="Largest accepted request body, in MiB.", min=0.01)
    ] = 10.0,
    threads: Annotated[
        int | None,
        typer.Option(
            help="PyTorch threads per model call; default: PyTorch's, one per core. 1 answers faster when "
            "the cores are busy with other work.",
            min=1,
        ),
    ] = None,
) -> None:
    """Serve the search page (photo, box on a photo, words, filters) and the JSON API; prints the URL."""
    import torch

    from fashionlens.server import serve

    if threads is not None:
        torch.set_num_threads(threads)
    sock = listen_or_exit(host, port)
    serve(open_or_exit(db, model), sock, max_upload_bytes=int(max_upload_mb * 2**20))
