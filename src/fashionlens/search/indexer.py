"""Build or update a search index from a catalogue: a folder of images or a JSONL file.

Catalogue formats:
- a folder, searched recursively: one item per image, id = path relative to the folder without extension;
- a JSONL file, one item per line: `id`, `image` (relative to the file's folder, or absolute), any of
  `title`, `url`, `price`, and extra fields, all kept and filterable. Lines that carry taxonomy tags (flat
  like labels.jsonl, or under `attributes`) keep them, and a `caption` is kept as the caption.

Per item the store gets two embeddings from one pass of the frozen image encoder (the joint image-text one
and the visual one of `FashionBlip2.visual_embed_features`, for photo-only search), the attributes (the
catalogue's own tags, else predicted by `autotag.tagger_for`), the caption (the catalogue's, else the template
caption of the attributes: the thesis's "generated" caption, which costs nothing where the model's own
captioning takes seconds per photo on a CPU), and the catalogue fields.

Incremental: an item whose image bytes (content hash) and catalogue line are unchanged is skipped; one with
an edited line but the same image is refreshed from its stored embedding without re-embedding; only new or
changed images are embedded. Each batch is written in one transaction, so an interrupted run keeps every
finished batch and a re-run continues where it stopped. Unreadable images and bad lines are reported and
skipped.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from fashionlens.captions import NoGarmentError, template_caption
from fashionlens.data.readers.folder import image_files
from fashionlens.images import ImageLoadError, content_hash, load_image
from fashionlens.jsonl import iter_jsonl
from fashionlens.search.autotag import ZeroShotTagger, predict_tags, tagger_for
from fashionlens.search.store import PHRASES_FILE, Store, StoredItem
from fashionlens.taxonomy import ATTRIBUTE_FIELDS, GarmentAttributes, InvalidAttributeError

DEFAULT_MODEL = "fashionlens-mini"
DEFAULT_BATCH_SIZE = 32
#: Line keys that are not catalogue fields: consumed as the item's id, image, caption or tags, or clashing
#: with the keys of a search result.
_RESERVED = frozenset({"id", "image", "caption", "attributes", "score", "category", *ATTRIBUTE_FIELDS})


@dataclass(frozen=True)
class CatalogueItem:
    """One item as the catalogue describes it."""

    id: str
    image: str  # as the catalogue wrote it
    path: Path  # the file it resolves to
    fields: dict[str, Any] = field(default_factory=dict)
    attributes: GarmentAttributes | None = None  # the catalogue's own tags
    caption: str | None = None
    record_hash: str = ""  # of everything above, to notice an edited line


@dataclass
class IndexReport:
    """What one indexing run did."""

    added: int = 0
    reembedded: int = 0  # image changed
    refreshed: int = 0  # catalogue line changed, same image
    unchanged: int = 0
    removed: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (item id or file:line, reason)
    total: int = 0  # items in the store after the run
    index_kind: str = ""


def _hash_record(item_id: str, image: str, path: Path, record: dict[str, Any]) -> str:
    text = json.dumps([item_id, image, str(path), record], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def read_catalogue(source: str | Path) -> tuple[list[CatalogueItem], list[tuple[str, str]]]:
    """Items of a catalogue folder or JSONL file, and (where, reason) for lines that cannot be items.

    Raises FileNotFoundError when `source` does not exist and ValueError for a malformed JSONL file.
    """
    source = Path(source)
    if source.is_dir():
        return _unique(_folder_items(source), [])
    if not source.is_file():
        raise FileNotFoundError(f"catalogue not found: {source}")
    failed: list[tuple[str, str]] = []
    return _unique(_jsonl_items(source, failed), failed)


def _folder_items(root: Path) -> Iterator[tuple[str, CatalogueItem]]:
    for path in image_files(root):
        image = path.relative_to(root).as_posix()
        item_id = path.relative_to(root).with_suffix("").as_posix()
        resolved = path.resolve()
        yield (
            image,
            CatalogueItem(item_id, image, resolved, record_hash=_hash_record(item_id, image, resolved, {})),
        )


def _jsonl_items(path: Path, failed: list[tuple[str, str]]) -> Iterator[tuple[str, CatalogueItem]]:
    for where, record in iter_jsonl(path):
        item_id, image = record.get("id"), record.get("image")
        if not isinstance(item_id, str | int) or isinstance(item_id, bool) or str(item_id) == "":
            failed.append((where, "missing or invalid 'id'"))
            continue
        if not isinstance(image, str) or not image:
            failed.append((where, "missing or invalid 'image'"))
            continue
        tags = record["attributes"] if isinstance(record.get("attributes"), dict) else record
        try:
            attributes = GarmentAttributes.from_record(tags) if "category" in tags else None
        except InvalidAttributeError as error:
            failed.append((where, str(error)))
            continue
        caption = record.get("caption")
        resolved = (path.parent / image).resolve()
        yield (
            where,
            CatalogueItem(
                id=str(item_id),
                image=image,
                path=resolved,
                fields={k: v for k, v in record.items() if k not in _RESERVED},
                attributes=attributes,
                caption=caption if isinstance(caption, str) and caption.strip() else None,
                record_hash=_hash_record(str(item_id), image, resolved, record),
            ),
        )


def _unique(
    entries: Iterable[tuple[str, CatalogueItem]], failed: list[tuple[str, str]]
) -> tuple[list[CatalogueItem], list[tuple[str, str]]]:
    """Keep the first item of each id; later ones are reported."""
    seen: dict[str, str] = {}
    items = []
    for where, item in entries:
        if item.id in seen:
            failed.append((where, f"duplicate id {item.id!r} (first at {seen[item.id]})"))
            continue
        seen[item.id] = where
        items.append(item)
    return items, failed


def _caption(item: CatalogueItem, attributes: GarmentAttributes) -> str:
    if item.caption is not None:
        return item.caption
    try:
        return template_caption(attributes)
    except NoGarmentError:  # the catalogue tagged it "other": nothing to describe
        return ""


def _fail(report: IndexReport, item_id: str, reason: str) -> None:
    report.failed.append((item_id, reason))
    tqdm.write(f"skipped {item_id}: {reason}", file=sys.stderr)


class Indexer:
    """Writes catalogue items into a store with one model (see module docstring)."""

    def __init__(self, store: Store, model: Any, batch_size: int = DEFAULT_BATCH_SIZE) -> None:
        self.store = store
        self.model = model
        self.tagger = tagger_for(model, store.db_dir / PHRASES_FILE)
        self.batch_size = batch_size

    def _stored(
        self,
        item: CatalogueItem,
        content: str,
        vector: np.ndarray,
        visual: np.ndarray,
        predicted: GarmentAttributes,
    ) -> StoredItem:
        attributes = item.attributes or predicted
        return StoredItem(
            id=item.id,
            image=item.image,
            path=str(item.path),
            content_hash=content,
            record_hash=item.record_hash,
            caption=_caption(item, attributes),
            attributes=attributes.to_record(),
            fields=item.fields,
            vector=vector,
            visual=visual,
        )

    def run(
        self, items: Sequence[CatalogueItem], remove: Sequence[str] = (), progress: bool = True
    ) -> IndexReport:
        """Remove `remove`, add or update `items` (except those removed), save the vector index."""
        report = IndexReport(removed=self.store.remove(remove))
        items = [item for item in items if item.id not in set(remove)]
        known = self.store.hashes()
        bar = tqdm(total=len(items), desc="indexing", unit="img", disable=not progress, dynamic_ncols=True)
        with bar:
            for start in range(0, len(items), self.batch_size):
                batch = items[start : start + self.batch_size]
                self._batch(batch, known, report)
                bar.update(len(batch))
                bar.set_postfix(embedded=report.added + report.reembedded, failed=len(report.failed))
        self.store.save_index()
        if isinstance(self.tagger, ZeroShotTagger):  # phrase embeddings for the engine's `describe`
            self.tagger.save(self.store.db_dir / PHRASES_FILE)
        report.total = self.store.count()
        report.index_kind = self.store.kind
        return report

    def _batch(
        self, batch: Sequence[CatalogueItem], known: dict[str, tuple[str, str]], report: IndexReport
    ) -> None:
        """Hash, sort into unchanged / refresh / embed, and write the batch in one transaction."""
        to_embed: list[tuple[CatalogueItem, str, Any]] = []  # (item, content hash, image)
        to_refresh: list[tuple[CatalogueItem, str]] = []
        for item in batch:
            try:
                data = item.path.read_bytes()  # read once: hashed, then decoded if new
            except OSError as error:
                _fail(report, item.id, f"cannot read {item.path}: {error.strerror or error}")
                continue
            content = content_hash(data)
            previous = known.get(item.id)
            if previous == (content, item.record_hash):
                report.unchanged += 1
            elif previous is not None and previous[0] == content:
                to_refresh.append((item, content))
            else:
                try:
                    to_embed.append((item, content, load_image(data)))
                except ImageLoadError as error:
                    _fail(report, item.id, error.reason)
        stored: list[StoredItem] = []
        if to_embed:
            features = self.model.image_features([image for _, _, image in to_embed])
            vectors = np.asarray(self.model.embed_image_features(features), dtype=np.float32)
            visuals = np.asarray(self.model.visual_embed_features(features), dtype=np.float32)
            tags = predict_tags(self.model, self.tagger, [image for _, _, image in to_embed], vectors)
            for (item, content, _), vector, visual, predicted in zip(
                to_embed, vectors, visuals, tags, strict=True
            ):
                stored.append(self._stored(item, content, vector, visual, predicted))
                if item.id in known:
                    report.reembedded += 1
                else:
                    report.added += 1
        if to_refresh:
            ids = [item.id for item, _ in to_refresh]
            by_id, visual_by_id = (self.store.vectors_by_id(ids, space) for space in ("joint", "visual"))
            vectors = np.stack([by_id[item_id] for item_id in ids])
            tags = predict_tags(self.model, self.tagger, [item.path for item, _ in to_refresh], vectors)
            for (item, content), vector, predicted in zip(to_refresh, vectors, tags, strict=True):
                stored.append(self._stored(item, content, vector, visual_by_id[item.id], predicted))
            report.refreshed += len(to_refresh)
        self.store.upsert(stored)
        for item in stored:
            known[item.id] = (item.content_hash, item.record_hash)


def index_catalogue(
    catalogue: str | Path | None,
    db_dir: str | Path,
    model: Any,
    model_name: str,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    remove: Sequence[str] = (),
    progress: bool = True,
) -> IndexReport:
    """Index `catalogue` (folder or JSONL; None to only remove) into `db_dir` with `model`, recorded in the
    index as `model_name` so search can rebuild it."""
    items, failed = read_catalogue(catalogue) if catalogue is not None else ([], [])
    store = Store.create(db_dir, model_name, int(model.embed_dim), int(model.visual_dim))
    try:
        report = Indexer(store, model, batch_size).run(items, remove, progress)
    finally:
        store.close()
    report.failed[:0] = failed
    return report
