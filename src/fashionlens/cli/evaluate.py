"""`fashionlens evaluate captions|retrieval`: the thesis's caption and retrieval metrics (Table 4.1)."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator, Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NamedTuple, NoReturn

import typer

if TYPE_CHECKING:
    import torch

    from fashionlens.data.sample import Sample

CAPTION_ROWS = (("BLEU-4", "bleu4"), ("ROUGE-L", "rouge_l"), ("METEOR", "meteor"), ("CIDEr", "cider"))
CAPTION_KEYS = ("bleu4", "rouge_l", "meteor", "cider", "n")
#: Fields a reference line may hold its caption(s) in, in order of preference.
REFERENCE_FIELDS = ("captions", "caption", "description")


class Mode(StrEnum):
    image = "image"
    text = "text"


def captions(
    pred: Annotated[Path, typer.Option("--pred", help='Predicted captions, JSONL lines {"id", "caption"}.')],
    ref: Annotated[
        Path,
        typer.Option(
            "--ref",
            help='Reference captions, JSONL lines {"id", "captions": list} (or "caption" / "description"); '
            "several lines with one id add references.",
        ),
    ],
    json_output: Annotated[bool, typer.Option("--json", help="Print the metrics as JSON fractions.")] = False,
) -> None:
    """BLEU-4, ROUGE-L, METEOR and CIDEr by the COCO caption protocol (pycocoevalcap; needs Java).

    The table shows scores ×100 as in the thesis; --json prints {"bleu4", "rouge_l", "meteor", "cider", "n"}
    as fractions. Every predicted id needs references and every referenced id a prediction.
    """
    from fashionlens.evaluation.captions import CaptionMetricError, caption_metrics

    try:
        predictions = {i: _prediction(r, pred) for i, r in _unique(_records(pred), pred)}
        references: dict[str, list[str]] = defaultdict(list)
        for i, record in _records(ref):
            references[i] += _captions(record, REFERENCE_FIELDS, ref)
        metrics = caption_metrics(predictions, references)
    except (OSError, ValueError, CaptionMetricError) as error:
        _fail(error)
    if json_output:
        typer.echo(json.dumps({key: metrics[key] for key in CAPTION_KEYS}))
        return
    for label, key in CAPTION_ROWS:
        typer.echo(f"{label:<8} {100 * metrics[key]:6.2f}")
    typer.echo(f"({metrics['n']} captions; scores x100)")


def retrieval(
    rankings: Annotated[
        Path | None,
        typer.Option(help='Precomputed rankings, JSONL lines {"id", "ranked": list of ids, best first}.'),
    ] = None,
    truth: Annotated[
        Path | None,
        typer.Option(help='Ground truth for --rankings, JSONL lines {"id", "targets": list of ids}.'),
    ] = None,
    model: Annotated[
        str | None, typer.Option(help="Model name or saved directory, to rank --gallery for --queries.")
    ] = None,
    queries: Annotated[
        Path | None,
        typer.Option(help='Query manifest, JSONL lines {"id", "image", "bbox"?, "text"?, "item_id"?}.'),
    ] = None,
    gallery: Annotated[
        Path | None,
        typer.Option(help="Gallery manifest, same format; a query's ground truths share its item_id."),
    ] = None,
    mode: Annotated[
        Mode, typer.Option(help="Query by image (image→image) or by text (text→image).")
    ] = Mode.image,
    crop: Annotated[
        bool, typer.Option("--crop", help="Crop images to their bbox where one is given.")
    ] = False,
    batch_size: Annotated[int, typer.Option(min=1, help="Images or texts embedded per model call.")] = 32,
    json_output: Annotated[bool, typer.Option("--json", help="Print the metrics as JSON fractions.")] = False,
) -> None:
    """Top-1/10/20 accuracy (a query is right if any ground truth is in its top k), R@k, mAP, median rank.

    Either from precomputed --rankings with --truth, or from a --model embedding --queries and --gallery
    (manifest image paths are relative to the manifest's folder). Queries without a ground truth are left out
    and counted. The table shows ×100; --json prints fractions: top1, top10, top20, r@k, map, median_rank, n.
    """
    from fashionlens.evaluation.retrieval import retrieval_metrics

    from_files, from_model = (rankings, truth), (model, queries, gallery)
    try:
        if all(from_files) and not any(from_model):
            ranked, targets = _read_rankings(rankings), _read_truth(truth)
        elif all(from_model) and not any(from_files):
            ranked, targets = _model_rankings(model, queries, gallery, mode, crop, batch_size)
        else:
            raise ValueError("give either --rankings and --truth, or --model, --queries and --gallery")
        metrics = retrieval_metrics(ranked, targets)
    except (OSError, ValueError) as error:
        _fail(error)
    if json_output:
        typer.echo(json.dumps(metrics))
        return
    for key, value in metrics.items():
        if key.startswith(("top", "r@")) or key == "map":
            label = key.replace("top", "top-").replace("r@", "R@").replace("map", "mAP")
            typer.echo(f"{label:<12} {100 * value:6.2f}")
    median = metrics["median_rank"]
    typer.echo(f"{'median rank':<12} {median if median is not None else 'beyond the rankings'}")
    typer.echo(f"({metrics['n']} queries, {metrics['n_no_truth']} without ground truth left out; rates x100)")


class _Entry(NamedTuple):
    sample: Sample
    text: str | None


def _model_rankings(
    model_name: str, queries_path: Path, gallery_path: Path, mode: Mode, crop: bool, batch_size: int
) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Embed queries and gallery with the model, rank the whole gallery for each query, and pair every query
    with the gallery ids sharing its item_id."""
    from fashionlens.evaluation.retrieval import rank_gallery

    query_entries, gallery_entries = _read_manifest(queries_path), _read_manifest(gallery_path)
    model = _load_model(model_name)
    gallery_ids, gallery_emb = _embed(model, gallery_entries, Mode.image, crop, batch_size, "gallery")
    query_ids, query_emb = _embed(model, query_entries, mode, crop, batch_size, "queries")
    _, order = rank_gallery(query_emb, gallery_emb, k=len(gallery_ids))
    rankings = {q: [gallery_ids[j] for j in row] for q, row in zip(query_ids, order.tolist(), strict=True)}
    gallery_items: dict[str, list[str]] = defaultdict(list)
    gallery_item_of = {e.sample.id: e.sample.item_id for e in gallery_entries}
    for g in gallery_ids:
        if gallery_item_of[g] is not None:
            gallery_items[gallery_item_of[g]].append(g)
    query_item_of = {e.sample.id: e.sample.item_id for e in query_entries}
    truth = {q: gallery_items.get(query_item_of[q], []) for q in query_ids}  # no item_id: no ground truth
    return rankings, truth


def _load_model(name: str) -> Any:
    try:
        from fashionlens.model import create_model
    except ImportError as error:
        _fail(ImportError(f"the model package is not available ({error})"))
    try:
        model = create_model(name)
    except (OSError, ValueError, KeyError) as error:
        _fail(ValueError(f"cannot load model {name!r}: {error}"))
    model.eval()
    return model


def _embed(
    model: Any, entries: Sequence[_Entry], mode: Mode, crop: bool, batch_size: int, what: str
) -> tuple[list[str], torch.Tensor]:
    """Embed entries by image or text in batches; an unreadable image or a missing text is reported and
    skipped, never fatal. Returns the ids embedded and their [N, D] embeddings."""
    import torch
    from tqdm import tqdm

    from fashionlens.images import ImageLoadError

    ids: list[str] = []
    chunks: list[torch.Tensor] = []
    skipped: list[str] = []
    with torch.inference_mode(), tqdm(total=len(entries), desc=f"embedding {what}", unit=mode.value) as bar:
        for start in range(0, len(entries), batch_size):
            batch: list[tuple[str, Any]] = []
            todo = entries[start : start + batch_size]
            for entry in todo:
                if mode is Mode.text:
                    if entry.text:
                        batch.append((entry.sample.id, entry.text))
                    else:
                        skipped.append(f"{entry.sample.id}: no text")
                    continue
                try:
                    batch.append((entry.sample.id, entry.sample.load(crop=crop)))
                except ImageLoadError as error:
                    skipped.append(f"{entry.sample.id}: {error}")
            if batch:
                inputs = [x for _, x in batch]
                chunks.append(model.embed_texts(inputs) if mode is Mode.text else model.embed_images(inputs))
                ids += [i for i, _ in batch]
            bar.update(len(todo))
    if skipped:
        shown = "; ".join(skipped[:5]) + ("; ..." if len(skipped) > 5 else "")
        typer.echo(f"skipped {len(skipped)} of {len(entries)} {what}: {shown}", err=True)
    if not ids:
        raise ValueError(f"no {what} could be embedded")
    return ids, torch.cat(chunks).float()


def _read_manifest(path: Path) -> list[_Entry]:
    """Manifest lines as samples (image paths relative to the manifest's folder) with their query text."""
    from fashionlens.data.sample import Sample

    entries = []
    for i, record in _unique(_records(path), path):
        if "image" not in record:
            raise ValueError(f"{path}: entry {i!r} has no image")
        captions = record.get("captions") or ()
        text = record.get("text") or (captions[0] if captions else None)
        item_id = record.get("item_id")
        sample = Sample(
            id=i,
            image=path.parent / record["image"],
            bbox=record.get("bbox"),
            item_id=None if item_id is None else str(item_id),
        )
        entries.append(_Entry(sample, text))
    return entries


def _read_rankings(path: Path) -> dict[str, list[str]]:
    return {i: [str(x) for x in _list(r, "ranked", path)] for i, r in _unique(_records(path), path)}


def _read_truth(path: Path) -> dict[str, list[str]]:
    return {i: [str(x) for x in _list(r, "targets", path)] for i, r in _unique(_records(path), path)}


def _records(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """(id as a string, record) for each line; a line without an id is an error naming the file and line."""
    from fashionlens.jsonl import read_jsonl

    for number, record in enumerate(read_jsonl(path), start=1):
        if record.get("id") is None:
            raise ValueError(f"{path}: record {number} has no id")
        yield str(record["id"]), record


def _unique(
    records: Iterator[tuple[str, dict[str, Any]]], path: Path
) -> Iterator[tuple[str, dict[str, Any]]]:
    seen: set[str] = set()
    for i, record in records:
        if i in seen:
            raise ValueError(f"{path}: id {i!r} appears more than once")
        seen.add(i)
        yield i, record


def _prediction(record: dict[str, Any], path: Path) -> str:
    caption = record.get("caption")
    if not isinstance(caption, str):
        raise ValueError(f"{path}: id {record['id']!r} needs one predicted caption as a string in 'caption'")
    return caption


def _captions(record: dict[str, Any], fields: Sequence[str], path: Path) -> list[str]:
    """The captions in the first of `fields` the record has: one string, or a non-empty list of strings."""
    for name in fields:
        value = record.get(name)
        if isinstance(value, str):
            return [value]
        if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            return value
    raise ValueError(f"{path}: id {record['id']!r} has no caption (looked for {', '.join(fields)})")


def _list(record: dict[str, Any], name: str, path: Path) -> list[Any]:
    value = record.get(name)
    if not isinstance(value, list):
        raise ValueError(f"{path}: id {record['id']!r} needs a list {name!r}")
    return value


def _fail(error: Exception) -> NoReturn:
    typer.echo(f"error: {error}", err=True)
    raise typer.Exit(2) from None
