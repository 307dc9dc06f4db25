"""`fashionlens captions`: template captions for a labels file (one per garment record)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def main(
    labels: Annotated[
        Path,
        typer.Argument(
            help="Garment records (JSONL), as in the shared labels.jsonl.", exists=True, dir_okay=False
        ),
    ],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Captions to write (JSONL).", dir_okay=False)
    ],
) -> None:
    """Write a `{"id", "image", "position", "caption"}` line per garment; report and skip bad records."""
    from fashionlens.captions import NoGarmentError, caption_record
    from fashionlens.jsonl import JsonlError, JsonlWriter, read_jsonl
    from fashionlens.taxonomy import InvalidAttributeError

    written = invalid = no_garment = 0
    try:
        with JsonlWriter(output) as writer:
            for record in read_jsonl(labels):
                try:
                    writer.write(caption_record(record))
                    written += 1
                except InvalidAttributeError as error:
                    invalid += 1
                    typer.echo(f"skipped {record.get('id')!r}: {error}", err=True)
                except NoGarmentError:
                    no_garment += 1
    except (OSError, JsonlError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from error
    typer.echo(
        f"wrote {written} captions to {output}; skipped {invalid} invalid and {no_garment} category 'other'",
        err=True,
    )
