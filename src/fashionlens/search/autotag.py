"""Auto-tagging: taxonomy attributes for any catalogue photo, predicted from its retrieval embedding.

Zero-shot, the way CLIP classifies: each candidate value of a field becomes a phrase in the style of the
template captions the model is trained on, generated from the taxonomy by `template_caption` ("A red top.",
"A pair of denim pants.", "A top with a v-line neckline."). The text tower embeds every phrase once; a photo
then takes, per field, the value whose phrase is most similar to its embedding:

1. subcategory, over all subcategories ("A t-shirt.", "A pair of cargo pants."): it fixes the category
   through the taxonomy's hierarchy, so the tags are always consistent;
2. every other field that applies to that category (`fields_for`), with the category as the noun;
3. colour: the top-1 colour; details: each detail whose phrase ("A top with hood details.") scores above the
   plain noun phrase ("A top.").

Phrases use the category, not the subcategory, as their noun: 4 categories x ~80 values is ~360 phrases in
all, embedded in seconds, where one set per subcategory would be ~3,000. "other" is never predicted: a
catalogue photo is taken to show a garment. `benchmarks/autotag.py` measures accuracy on the dev photos.
Indexing uses this only for models without attribute heads (`tagger_for`; `fashionlens.model.heads`).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from fashionlens.captions import template_caption
from fashionlens.model.feature_cache import ImageInput
from fashionlens.model.heads import AttributeHeads
from fashionlens.search.store import replace_atomically
from fashionlens.taxonomy import (
    CATEGORIES,
    LIST_FIELDS,
    GarmentAttributes,
    allowed_values,
    category_of,
    fields_for,
)


class TextEmbedder(Protocol):
    def embed_texts(self, texts: list[str]) -> torch.Tensor: ...


def _phrase(category: str, **attributes: Any) -> str:
    return template_caption(GarmentAttributes(category, **attributes))


def phrase_choices() -> list[tuple[tuple[str, str], tuple[str, ...], list[str]]]:
    """(key, values, phrases) of every choice the tagger makes; key is (category or "*", field), and
    (category, "plain") holds the bare noun phrase the details are compared with."""
    subcategories = allowed_values("subcategory")
    entries = [
        (("*", "subcategory"), subcategories, [_phrase(category_of(s), subcategory=s) for s in subcategories])
    ]
    for category in CATEGORIES:
        entries.append(((category, "plain"), ("",), [_phrase(category)]))
        for field in fields_for(category):
            if field == "subcategory":
                continue
            values = allowed_values(field, category)
            phrases = [_phrase(category, **{field: (v,) if field in LIST_FIELDS else v}) for v in values]
            entries.append(((category, field), values, phrases))
    return entries


@dataclass(frozen=True)
class _Choice:
    """Candidate values of one field and the rows of their phrases in the phrase matrix."""

    values: tuple[str, ...]
    rows: np.ndarray


class ZeroShotTagger:
    """Predicts `GarmentAttributes` from L2-normalised image embeddings with a model's text tower.

    The phrase embeddings are computed on first use (once; thread-safe), or read from `phrase_file` when it
    holds the same phrases embedded by the same model (checked on one phrase): the indexer saves one into
    the index directory, so a search engine describes its first photo without re-embedding ~380 phrases.
    """

    def __init__(self, model: TextEmbedder, phrase_file: Path | None = None) -> None:
        self.model = model
        self.phrase_file = phrase_file
        self._lock = threading.Lock()
        self._table: tuple[list[str], np.ndarray, dict[tuple[str, str], _Choice]] | None = None

    def _phrase_table(self) -> tuple[list[str], np.ndarray, dict[tuple[str, str], _Choice]]:
        """Phrases, their embeddings [P, D], and the choices indexing into them."""
        with self._lock:
            if self._table is None:
                phrases: list[str] = []
                choices: dict[tuple[str, str], _Choice] = {}
                for key, values, texts in phrase_choices():
                    choices[key] = _Choice(values, np.arange(len(phrases), len(phrases) + len(texts)))
                    phrases += texts
                self._table = (phrases, self._embed(phrases), choices)
            return self._table

    def _embed(self, phrases: list[str]) -> np.ndarray:
        if self.phrase_file is not None and self.phrase_file.is_file():
            saved = np.load(self.phrase_file)
            if saved["phrases"].tolist() == phrases:
                probe = np.asarray(self.model.embed_texts(phrases[:1]), dtype=np.float32)[0]
                if np.allclose(probe, saved["embeddings"][0], atol=1e-4):
                    return saved["embeddings"]
        return np.asarray(self.model.embed_texts(phrases), dtype=np.float32)

    def save(self, path: Path) -> None:
        """Write the phrase embeddings (computed if need be) for later taggers of the same model."""
        phrases, embeddings, _ = self._phrase_table()

        def write(tmp: Path) -> None:
            with tmp.open("wb") as file:
                np.savez(file, phrases=np.array(phrases), embeddings=embeddings)

        replace_atomically(path, write)

    def predict(self, embeddings: np.ndarray | torch.Tensor) -> list[GarmentAttributes]:
        """One attributes record per image embedding row [N, D]."""
        _, phrase_embeddings, choices = self._phrase_table()
        scores = np.asarray(embeddings, dtype=np.float32) @ phrase_embeddings.T  # [N, P]
        return [self._tags(row, choices) for row in scores]

    @staticmethod
    def _tags(scores: np.ndarray, choices: dict[tuple[str, str], _Choice]) -> GarmentAttributes:
        def best(key: tuple[str, str]) -> str:
            choice = choices[key]
            return choice.values[int(np.argmax(scores[choice.rows]))]

        subcategory = best(("*", "subcategory"))
        category = category_of(subcategory)
        tags: dict[str, Any] = {"subcategory": subcategory}
        for field in fields_for(category):
            if field in ("subcategory", "details"):
                continue
            tags[field] = (best((category, field)),) if field == "color" else best((category, field))
        plain = scores[choices[(category, "plain")].rows[0]]
        details = choices[(category, "details")]
        tags["details"] = tuple(
            value for value, row in zip(details.values, details.rows, strict=True) if scores[row] > plain
        )
        return GarmentAttributes(category, **tags)


def tagger_for(model: Any, phrase_file: Path | None = None) -> AttributeHeads | ZeroShotTagger:
    """The auto-tagger of indexing and `describe`: the model's attribute heads where it has them (fitted on
    this very model, see `FashionBlip2.attribute_heads`), else zero-shot phrases (`phrase_file` caches their
    embeddings)."""
    heads = getattr(model, "attribute_heads", None)
    return heads if heads is not None else ZeroShotTagger(model, phrase_file)


def predict_tags(
    model: Any,
    tagger: AttributeHeads | ZeroShotTagger,
    images: Sequence[ImageInput],
    embeddings: np.ndarray | None = None,
) -> list[GarmentAttributes]:
    """Tags of `images` (PIL images or paths) by `model`'s tagger: attribute heads read what the model
    computes of the photos for them (`tag_inputs`); zero-shot phrases read the images' embeddings [N, D],
    computed here where the caller has none."""
    if isinstance(tagger, AttributeHeads):
        return tagger.predict(model.tag_inputs(images))
    return tagger.predict(model.embed_images(images) if embeddings is None else embeddings)
