"""Image-text pairs for training, mixed from caption sources by weight.

Each epoch visits every training photo once (so no photo appears twice in a batch, which would turn an
in-batch contrastive negative into a positive); which caption it is paired with is drawn from the sources
that cover it, in proportion to their weights. The order depends only on (seed, epoch), so a resumed run
sees exactly the batches it would have seen.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fashionlens.captions import template_caption
from fashionlens.data.readers import read_dataset
from fashionlens.data.sample import Sample
from fashionlens.training.config import SourceConfig, resolve_path


@dataclass(frozen=True)
class Photo:
    """One training photo and its candidate captions, one per source that covers it."""

    id: str
    image: Path
    texts: tuple[str, ...]
    weights: tuple[float, ...]
    sample: Sample


def caption_for(sample: Sample, kind: str) -> str | None:
    """The caption of `sample` a source of this kind provides (None where it has none)."""
    if kind == "description":
        return sample.captions[0] if sample.captions else None
    if kind == "template":
        return template_caption(sample.attributes) if sample.attributes is not None else None
    raise ValueError(f"unknown caption kind {kind!r}; expected 'description' or 'template'")


def load_photos(sources: Sequence[SourceConfig], base: Path) -> list[Photo]:
    """Merge sources into one list of photos; each photo keeps one candidate caption per source."""
    by_id: dict[str, tuple[Sample, list[str], list[float]]] = {}
    for source in sources:
        root = resolve_path(source.root, base)
        for sample in read_dataset(source.dataset, root, split=source.split):
            if source.photo_sources and sample.source not in source.photo_sources:
                continue
            text = caption_for(sample, source.kind)
            if not text:
                continue
            entry = by_id.setdefault(sample.id, (sample, [], []))
            entry[1].append(text)
            entry[2].append(source.weight)
    if not by_id:
        raise ValueError("no training pairs: the sources matched no photos with captions")
    return [
        Photo(id=i, image=s.image, texts=tuple(t), weights=tuple(w), sample=s)
        for i, (s, t, w) in sorted(by_id.items())
    ]


def epoch_batches(
    photos: Sequence[Photo], batch_size: int, seed: int, epoch: int
) -> Iterator[tuple[list[int], list[str]]]:
    """(photo indices, texts) per batch for one epoch; the last incomplete batch is dropped because
    in-batch contrastive losses are noisier on tiny batches."""
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(photos))
    for start in range(0, len(order) - batch_size + 1, batch_size):
        indices = [int(i) for i in order[start : start + batch_size]]
        texts = []
        for i in indices:
            photo = photos[i]
            p = np.asarray(photo.weights) / sum(photo.weights)
            texts.append(photo.texts[int(rng.choice(len(photo.texts), p=p))])
        yield indices, texts


def steps_per_epoch(n_photos: int, batch_size: int) -> int:
    return n_photos // batch_size
