"""`fashionlens caption`: describe clothing photos with a model (one caption per image)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer


def main(
    images: Annotated[list[Path], typer.Argument(help="Photos to caption.", dir_okay=False)],
    model: Annotated[
        str,
        typer.Option("--model", "-m", help="Registered model name, save_pretrained folder or config file."),
    ] = "fashionlens-mini",
    as_json: Annotated[
        bool, typer.Option("--json", help='Print a JSON list of {"image", "caption"} instead of lines.')
    ] = False,
) -> None:
    """Print `IMAGE<TAB>CAPTION` per photo (or JSON). Unreadable photos are reported on stderr and skipped;
    the exit status is 1 if any was skipped."""
    from tqdm import tqdm

    from fashionlens.images import load_images
    from fashionlens.model import create_model

    loaded, failed = load_images(images)
    for path, error in failed:
        typer.echo(f"skipped {path}: {error.reason}", err=True)
    if not loaded:
        raise typer.Exit(1)
    try:
        captioner = create_model(model).eval()
    except (FileNotFoundError, ValueError) as error:
        typer.echo(f"error: cannot load model {model!r}: {error}", err=True)
        raise typer.Exit(2) from None
    step = captioner.batch_size
    captions: list[str] = []
    for start in tqdm(
        range(0, len(loaded), step), desc="captioning", unit="batch", disable=len(loaded) <= step
    ):
        captions += captioner.caption([image for _, image in loaded[start : start + step]])
    results = [
        {"image": str(path), "caption": caption} for (path, _), caption in zip(loaded, captions, strict=True)
    ]
    if as_json:
        typer.echo(json.dumps(results, indent=2))
    else:
        for result in results:
            typer.echo(f"{result['image']}\t{result['caption']}")
    if failed:
        raise typer.Exit(1)
