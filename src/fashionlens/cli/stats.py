"""`fashionlens stats`: caption length statistics (thesis Figure 3.6)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def main(
    files: Annotated[
        list[Path],
        typer.Argument(
            help="Caption files or label files (JSONL: caption, description or captions per line).",
            exists=True,
            dir_okay=False,
        ),
    ],
    plot: Annotated[
        Path | None, typer.Option(help="Write overlaid word-count histograms to this PNG.", dir_okay=False)
    ] = None,
) -> None:
    """Print n, mean and median words per file; optionally plot their distributions."""
    from fashionlens.stats import plot_word_histograms, word_stats

    try:
        stats = [word_stats(path) for path in files]
    except (OSError, ValueError) as error:  # unreadable file, malformed line, no texts
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from error
    width = max(len("file"), *(len(str(s.path)) for s in stats))
    typer.echo(f"{'file':<{width}}  {'n':>7}  {'mean':>6}  {'median':>6}")
    for s in stats:
        typer.echo(f"{s.path!s:<{width}}  {s.n:>7}  {s.mean:>6.1f}  {s.median:>6.1f}")
    if plot is not None:
        plot_word_histograms(files, plot)
        typer.echo(f"plot: {plot}", err=True)
