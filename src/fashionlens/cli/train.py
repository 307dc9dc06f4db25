"""`fashionlens train`: fine-tune a model from a YAML recipe (see configs/)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def main(
    config: Annotated[
        Path,
        typer.Option(
            "--config",
            "-c",
            help="Training recipe (YAML), e.g. configs/mini-mixed.yaml.",
            exists=True,
            dir_okay=False,
        ),
    ],
    resume: Annotated[
        bool, typer.Option(help="Continue from the latest checkpoint in the run's out_dir.")
    ] = False,
    max_steps: Annotated[
        int | None, typer.Option(help="Stop after this many optimiser steps (smoke runs).", min=1)
    ] = None,
    out_dir: Annotated[Path | None, typer.Option(help="Override the recipe's out_dir.")] = None,
) -> None:
    """Train on the configured caption sources with AdamW + warmup/cosine, checkpointing as it goes.

    Runs on CPU as is, and on several GPUs under `accelerate launch -m fashionlens train ...`.
    Paths in the recipe are relative to the current directory.
    """
    from fashionlens.training.config import TrainConfig
    from fashionlens.training.loop import train

    try:
        recipe = TrainConfig.from_yaml(config)
    except (ValueError, TypeError) as error:
        typer.echo(f"error: {config}: {error}", err=True)
        raise typer.Exit(2) from error
    if out_dir is not None:
        recipe.out_dir = str(out_dir)
    try:
        result = train(recipe, base=Path.cwd(), resume=resume, max_steps=max_steps)
    except (FileExistsError, FileNotFoundError, ValueError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from error
    best = (
        f"step {result.best_step}, dev R@10 {result.best_metric:.3f}"
        if result.best_metric is not None
        else "n/a"
    )
    typer.echo(f"trained {result.steps} steps in {result.wall_seconds / 60:.1f} min; best: {best}")
    typer.echo(f"models: {result.out_dir / 'best'} (best), {result.out_dir / 'final'} (final)")
