"""`fashionlens search`: query an index by photo (or a box on it), by words, or both."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer


def main(
    db: Annotated[Path, typer.Option("--db", help="Index directory built by `fashionlens index`.")],
    image: Annotated[
        Path | None, typer.Option("--image", help="Query photo.", dir_okay=False, show_default=False)
    ] = None,
    box: Annotated[
        str | None,
        typer.Option(help="Search only this region of the photo: x0,y0,x1,y1 in pixels.", show_default=False),
    ] = None,
    text: Annotated[str | None, typer.Option("--text", help="Query words.", show_default=False)] = None,
    k: Annotated[int, typer.Option("-k", help="Number of results.")] = 20,
    where: Annotated[
        str | None,
        typer.Option(
            help="Filter on attributes and catalogue fields, e.g. \"category = 'top' AND price < 50\": "
            "=, !=, IN (...), <, <=, >, >= on numbers, AND, OR, NOT, parentheses.",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json", help='Print a JSON list of {"id", "score", "image", "caption", "attributes", ...}.'
        ),
    ] = False,
) -> None:
    """Print the k catalogue items most similar to the photo and/or words. A photo plus words (e.g. --text
    "in red") combines both into one query."""
    from fashionlens.images import ImageLoadError, load_image
    from fashionlens.search.engine import SearchEngine, SearchError, parse_box

    if image is None and text is None:
        _fail("give --image, --text, or both")
    try:
        region = parse_box(box, "--box") if box is not None else None
        photo = load_image(image) if image is not None else None
        engine = SearchEngine.open(db)
        results = engine.search(image=photo, text=text, box=region, k=k, where=where)
    except (SearchError, ImageLoadError, FileNotFoundError, ValueError) as error:
        _fail(str(error))
    if as_json:
        typer.echo(json.dumps(results, indent=2, ensure_ascii=False))
    else:
        typer.echo(_table(results))


def _table(results: list[dict[str, Any]]) -> str:
    """One line per result: rank, score, id, category, colours, then the title (or caption) and price."""
    if not results:
        return "no results"
    width = max(len(str(r["id"])) for r in results)
    lines = [f"{'#':>3}  {'score':>6}  {'id':<{width}}  {'category':<8}  {'color':<18}  title / caption"]
    for rank, r in enumerate(results, start=1):
        attributes = r["attributes"]
        colors = ",".join(attributes.get("color") or [])
        label = r.get("title") or r["caption"]
        price = f"  {r['price']}" if isinstance(r.get("price"), int | float) else ""
        lines.append(
            f"{rank:>3}  {r['score']:6.3f}  {r['id']:<{width}}  {attributes.get('category') or '':<8}  "
            f"{colors:<18}  {label}{price}"
        )
    return "\n".join(lines)


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)
