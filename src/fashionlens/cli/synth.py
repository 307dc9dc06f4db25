"""`fashionlens synth`: render a synthetic shop catalogue with consumer photos, all with known attributes."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def main(
    out_dir: Annotated[
        Path,
        typer.Argument(help="Folder to write shop/, consumer/ and catalogue.jsonl into.", file_okay=False),
    ],
    items: Annotated[int, typer.Option("--items", "-n", min=1, help="Number of catalogue items.")] = 100,
    consumer_per_item: Annotated[
        int, typer.Option("--consumer-per-item", "-k", min=0, help="Consumer photos rendered per item.")
    ] = 1,
    seed: Annotated[int, typer.Option(min=0, help="Same seed, byte-identical images.")] = 0,
    size: Annotated[int, typer.Option(min=32, max=4096, help="Image side in pixels.")] = 224,
) -> None:
    """Render ITEMS garments on plain backgrounds (shop) and in cluttered scenes (consumer), plus a JSONL
    manifest with each image's item id, role, title, price and taxonomy attributes."""
    from fashionlens.data.synthetic import generate_catalogue

    try:
        manifest = generate_catalogue(items, out_dir, seed, consumer_per_item, size, progress=True)
    except OSError as error:
        typer.echo(f"error: cannot write the catalogue to {out_dir}: {error}", err=True)
        raise typer.Exit(2) from error
    typer.echo(f"wrote {items} items x {1 + consumer_per_item} images and {manifest}", err=True)
