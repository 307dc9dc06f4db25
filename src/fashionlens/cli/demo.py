"""`fashionlens demo` (what `make demo` runs): the whole product on an offline machine in one command.

Builds a catalogue (synthetic shop photos by default, or your own folder of photos), indexes it with the
default model, and serves the search page. Everything lives under `--workdir`; a second run finds the
catalogue and the index there and only embeds what changed, so it starts in seconds.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from fashionlens.cli.serve import listen_or_exit

if TYPE_CHECKING:
    from fashionlens.search.indexer import IndexReport

DEFAULT_MODEL = "fashionlens-mini"


@dataclass(frozen=True)
class Demo:
    """A demo catalogue, its index, the model that built it (reused to search), photos to try as queries."""

    catalogue: Path
    db: Path
    model: Any
    query_photos: Path
    report: IndexReport


def synthetic_catalogue(root: Path, items: int) -> Path:
    """A tagged shop catalogue of `items` synthetic garments, `root/shop.jsonl` (title, url, price, taxonomy
    tags, caption), and one shopper's photo of each in `root/consumer/` to use as queries. Generated once:
    an existing `shop.jsonl` is reused. (A folder of photos, `--images`, gets its tags from the model.)"""
    from fashionlens.data.synthetic import generate_catalogue
    from fashionlens.jsonl import JsonlWriter, read_jsonl

    shop = root / "shop.jsonl"
    if not shop.is_file():
        typer.echo(f"Drawing a synthetic catalogue of {items} items in {root}")
        records = list(read_jsonl(generate_catalogue(items, root, seed=0, progress=True)))
        tmp = shop.with_suffix(".tmp")  # renamed when complete: an interrupted run regenerates
        with JsonlWriter(tmp) as writer:
            for record in records:
                if record["role"] == "shop":
                    writer.write(record)
        os.replace(tmp, shop)
    return shop


def prepare_demo(
    workdir: Path, *, items: int = 200, images: Path | None = None, model: str = DEFAULT_MODEL
) -> Demo:
    """Build or update the demo index under `workdir` of the synthetic catalogue, or of the photo folder
    `images`, with `model`."""
    from fashionlens.model import create_model
    from fashionlens.search.indexer import index_catalogue

    if images is not None:
        catalogue, query_photos, name = images, images, images.resolve().name
    else:
        name = f"synthetic-{items}"
        catalogue, query_photos = synthetic_catalogue(workdir / name, items), workdir / name / "consumer"
    db = workdir / f"index-{name}-{re.sub(r'[^A-Za-z0-9_.-]+', '_', model)}"
    typer.echo(f"Loading model {model}")
    loaded = create_model(model).eval()
    typer.echo(f"Indexing {catalogue} into {db}")
    report = index_catalogue(catalogue, db, loaded, model)
    return Demo(catalogue, db, loaded, query_photos, report)


def main(
    images: Annotated[
        Path | None,
        typer.Option(
            help="A folder of your own photos to index instead of the synthetic catalogue.",
            exists=True,
            file_okay=False,
        ),
    ] = None,
    items: Annotated[int, typer.Option(help="Size of the synthetic catalogue.", min=1)] = 200,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port; 0 picks a free one.", min=0, max=65535)] = 8000,
    model: Annotated[
        str, typer.Option(help="Model name or directory to index and search with.")
    ] = DEFAULT_MODEL,
    workdir: Annotated[
        Path, typer.Option(help="Where the catalogue and index are kept between runs.")
    ] = Path("runs/demo"),
    no_serve: Annotated[bool, typer.Option("--no-serve", help="Build the index, then exit.")] = False,
) -> None:
    """Build a catalogue, index it with the default model and serve the search page; prints its URL."""
    from fashionlens.search.engine import SearchEngine
    from fashionlens.server import serve

    sock = None if no_serve else listen_or_exit(host, port)
    try:
        demo = prepare_demo(workdir, items=items, images=images, model=model)
    except (OSError, ValueError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    report = demo.report
    typer.echo(
        f"Index {demo.db}: {report.total} items ({report.added} added, {report.reembedded} re-embedded, "
        f"{report.unchanged} unchanged, {len(report.failed)} skipped)"
    )
    typer.echo(f"Photos to try as queries: {demo.query_photos}")
    if sock is None:
        typer.echo(f"Serve it with: fashionlens serve --db {demo.db}")
        return
    serve(SearchEngine.open(demo.db, model=demo.model), sock)
