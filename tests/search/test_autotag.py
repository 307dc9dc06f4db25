"""Zero-shot auto-tagging: phrases cover the taxonomy, and the argmax logic recovers planted attributes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from fashionlens.search.autotag import ZeroShotTagger, phrase_choices
from fashionlens.taxonomy import CATEGORIES, GarmentAttributes, allowed_values, fields_for


def test_phrases_cover_every_value_of_every_field_per_category() -> None:
    choices = {key: (values, phrases) for key, values, phrases in phrase_choices()}
    assert choices[("*", "subcategory")][0] == allowed_values("subcategory")
    assert "A pair of cargo pants." in choices[("*", "subcategory")][1]
    for category in CATEGORIES:
        for field in set(fields_for(category)) - {"subcategory"}:
            values, phrases = choices[(category, field)]
            assert values == allowed_values(field, category) and len(phrases) == len(values)
    assert ("pants", "neckline") not in choices  # upper-body fields only for tops and dresses
    assert choices[("top", "color")][1][0] == "A red top."
    assert choices[("skirt", "details")][1][1] == "A skirt with hood details."


class PhraseModel:
    """Embeds each distinct phrase as its own random direction (nearly orthogonal in 512-d)."""

    embed_dim = 512

    def __init__(self, seed: int = 0) -> None:
        self.vectors: dict[str, np.ndarray] = {}
        self.rng = np.random.default_rng(seed)
        self.texts_embedded = 0

    def embed_texts(self, texts: list[str]) -> torch.Tensor:
        self.texts_embedded += len(texts)
        for text in texts:
            if text not in self.vectors:
                v = self.rng.standard_normal(self.embed_dim).astype(np.float32)
                self.vectors[text] = v / np.linalg.norm(v)
        return torch.from_numpy(np.stack([self.vectors[t] for t in texts]))


def test_recovers_planted_attributes_consistently_with_the_taxonomy() -> None:
    model = PhraseModel()
    tagger = ZeroShotTagger(model)
    tagger.predict(np.zeros((1, model.embed_dim), dtype=np.float32))  # builds the phrase vectors
    planted = [
        "A pair of cargo pants.",
        "A pair of khaki pants.",
        "A pair of denim pants.",
        "A pair of ankle-length pants.",
        "A pair of pants with pocket details.",
        "A pair of pants with string details.",
    ]
    # The bare noun phrase matches too, less than a detail the photo shows: the details' threshold.
    image = sum(model.vectors[p] for p in planted) + 0.5 * model.vectors["A pair of pants."]
    (tags,) = tagger.predict(image[None] / np.linalg.norm(image))
    assert tags.category == "pants" and tags.subcategory == "cargo pants"
    assert tags.color == ("khaki",) and tags.fabric == "denim" and tags.total_length == "ankle"
    assert set(tags.details) == {"pocket", "string"}
    assert tags.neckline is None and tags.sleeve_length is None  # not pants fields
    assert isinstance(tags, GarmentAttributes)


def test_phrase_file_is_reused_only_for_the_same_phrases_and_model(tmp_path: Path) -> None:
    path = tmp_path / "autotag.npz"
    first = PhraseModel()
    ZeroShotTagger(first).save(path)
    n_phrases = first.texts_embedded
    image = np.random.default_rng(1).standard_normal((3, first.embed_dim)).astype(np.float32)
    same, other = PhraseModel(), PhraseModel(seed=1)
    assert ZeroShotTagger(same, path).predict(image) == ZeroShotTagger(first).predict(image)
    assert same.texts_embedded == 1  # one phrase, to check the file belongs to this model
    ZeroShotTagger(other, path).predict(image)
    assert other.texts_embedded == 1 + n_phrases


def test_colour_on_solid_photos(color_model) -> None:
    from search_helpers import solid

    tagger = ZeroShotTagger(color_model)
    colors = ["red", "navy", "mint", "beige"]
    tags = tagger.predict(color_model.embed_images([solid(c) for c in colors]))
    assert [t.color for t in tags] == [(c,) for c in colors]


def test_tiny_random_model_gives_valid_records() -> None:
    model_package = pytest.importorskip("fashionlens.model", reason="model package not built yet")
    model = model_package.create_model("tiny-random").eval()
    tags = ZeroShotTagger(model).predict(model.embed_texts(["a red dress", "blue jeans"]))
    assert len(tags) == 2 and all(t.category in CATEGORIES and len(t.color) == 1 for t in tags)
