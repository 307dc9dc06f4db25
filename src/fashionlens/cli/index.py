"""`fashionlens index`: build or update a search index from a catalogue folder or JSONL file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, NoReturn

import typer


def main(
    db: Annotated[Path, typer.Option("--db", help="Index directory; created when missing.", file_okay=False)],
    catalog: Annotated[
        Path | None,
        typer.Argument(
            help="A folder of images (ids: paths without extension) or a JSONL catalogue with `id`, `image` "
            "and any of `title`, `url`, `price` and other fields. May be left out with --remove.",
            show_default=False,
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            "-m",
            help="Registered model name, save_pretrained folder or config file. Default: the index's model, "
            "or fashionlens-mini for a new index.",
            show_default=False,
        ),
    ] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Images embedded per batch.")] = 32,
    remove: Annotated[
        list[str] | None,
        typer.Option("--remove", help="Delete this item id; repeat for several.", show_default=False),
    ] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Embed, auto-tag and caption every new or changed catalogue image into the index at --db.

    A re-run embeds only new or changed images (by content hash); unreadable images are reported and skipped
    (exit status 1 when any was). Interrupting a run loses at most the batch in flight.
    """
    from fashionlens.images import ImageLoadError
    from fashionlens.search.indexer import DEFAULT_MODEL, index_catalogue
    from fashionlens.search.store import META_FILE, read_meta

    if catalog is None and not remove:
        _fail("give a CATALOG to index, --remove ID, or both")
    existing = read_meta(db)["model"] if (db / META_FILE).is_file() else None
    name = model or existing or DEFAULT_MODEL
    if Path(name).exists():  # a local model folder or config: record where it is, not how it was typed
        name = str(Path(name).resolve())
    if existing is not None and name != existing:
        _fail(f"{db} was built with model {existing!r}; index with --model {existing} or use a new --db")
    from fashionlens.model import create_model

    try:
        embedder = create_model(name).eval()
    except (FileNotFoundError, ValueError) as error:
        _fail(f"cannot load model {name!r}: {error}")
    try:
        report = index_catalogue(
            catalog, db, embedder, name, batch_size=batch_size, remove=remove or (), progress=progress
        )
    except (FileNotFoundError, ValueError, RuntimeError, ImageLoadError) as error:
        _fail(str(error))
    unknown = sorted(set(remove or ()) - set(report.removed))
    typer.echo(
        f"{db}: {report.total} items in a {report.index_kind} index; this run: {report.added} added, "
        f"{report.reembedded} re-embedded, {report.refreshed} refreshed, {report.unchanged} unchanged, "
        f"{len(report.removed)} removed, {len(report.failed)} skipped"
    )
    for item_id in unknown:
        typer.echo(f"--remove {item_id}: no such item", err=True)
    if report.failed:
        raise typer.Exit(1)


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)
