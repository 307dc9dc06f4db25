"""The `fashionlens` command. One module per subcommand; each exposes a typed `main` function.

Command modules keep heavy imports (torch, transformers) inside their functions so `--help` stays fast.
"""

from __future__ import annotations

import typer

from fashionlens.cli import (
    annotate,
    caption,
    captions,
    demo,
    evaluate,
    index,
    search,
    serve,
    stats,
    synth,
    train,
)

app = typer.Typer(
    name="fashionlens",
    help="Describe clothing photos (captions, attributes) and find clothing (search by photo or text).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
evaluate_app = typer.Typer(help="Caption and retrieval metrics, as in the thesis.", no_args_is_help=True)

app.command("captions")(captions.main)
app.command("caption")(caption.main)
app.command("stats")(stats.main)
app.command("train")(train.main)
app.command("synth")(synth.main)
app.command("annotate")(annotate.main)
app.command("index")(index.main)
app.command("search")(search.main)
app.command("serve")(serve.main)
app.command("demo")(demo.main)
evaluate_app.command("captions")(evaluate.captions)
evaluate_app.command("retrieval")(evaluate.retrieval)
app.add_typer(evaluate_app, name="evaluate")


def main() -> None:
    """Console-script entry point."""
    app()
