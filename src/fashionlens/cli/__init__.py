"""The `fashionlens` command. One module per subcommand; each exposes a typed `main` function.

Command modules keep heavy imports (torch, transformers) inside their functions so `--help` stays fast.
"""

from __future__ import annotations

import typer

from fashionlens.cli import captions, stats

app = typer.Typer(
    name="fashionlens",
    help="Describe clothing photos (captions, taxonomy attributes) and find clothing (search by photo or text).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
evaluate_app = typer.Typer(help="Caption and retrieval metrics, as in the thesis.", no_args_is_help=True)

app.command("captions")(captions.main)
app.command("stats")(stats.main)


def main() -> None:
    """Console-script entry point."""
    app()
