"""Linear attribute heads: fitting, taxonomy-consistent predictions, the heads file and its probe, loading
beside a checkpoint, and which tagger a model gets."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from fashionlens.model import create_model
from fashionlens.model.heads import HEADS_FILE, AttributeHeads
from fashionlens.search.autotag import ZeroShotTagger, tagger_for
from fashionlens.taxonomy import GarmentAttributes

DIM = 32
#: One direction per (subcategory, colour) cluster: a trivially separable training set.
KINDS = [
    GarmentAttributes("top", subcategory="t-shirt", color=("red",), neckline="round", sleeve_length="short"),
    GarmentAttributes("pants", subcategory="cargo pants", color=("khaki",), fabric="denim"),
    GarmentAttributes("skirt", subcategory="mini skirt", color=("black",), fabric="leather"),
]


def synthetic(n_per_kind: int, seed: int = 0) -> tuple[np.ndarray, list[GarmentAttributes]]:
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(123).standard_normal((len(KINDS), DIM))
    x = np.concatenate([c + 0.1 * rng.standard_normal((n_per_kind, DIM)) for c in centres])
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32), [kind for kind in KINDS for _ in range(n_per_kind)]


class ProbeModel:
    """A text tower that embeds every phrase as one seeded vector: enough to fingerprint a model."""

    def __init__(self, seed: int = 0, name: str = "fashionlens-mini") -> None:
        self.vector = torch.from_numpy(np.random.default_rng(seed).standard_normal(DIM).astype(np.float32))
        self.config = SimpleNamespace(name=name)

    def embed_texts(self, texts: list[str]) -> torch.Tensor:
        return self.vector.expand(len(texts), DIM)


@pytest.fixture(scope="module")
def fitted() -> AttributeHeads:
    x, attributes = synthetic(20)
    return AttributeHeads.fit(x, attributes, ProbeModel(), steps=100)


def test_fit_learns_a_separable_field_and_predicts_within_the_taxonomy(fitted: AttributeHeads) -> None:
    x, truth = synthetic(5, seed=1)
    predicted = fitted.predict(x)
    assert [p.subcategory for p in predicted] == [t.subcategory for t in truth]
    assert [p.color for p in predicted] == [t.color for t in truth]
    for p in predicted:
        assert isinstance(p, GarmentAttributes) and p.details == ()
        if p.category == "top":
            assert p.neckline == "round" and p.sleeve_length == "short"
        else:  # upper-body fields only for tops and dresses
            assert p.neckline is None and p.sleeve_length is None and p.shoulder is None


def test_subcategory_is_restricted_to_the_predicted_category(fitted: AttributeHeads) -> None:
    x, _ = synthetic(1)
    logits = fitted.logits(x)
    top_class = fitted.classes["subcategory"].index("t-shirt")
    fitted.heads["subcategory"].bias[top_class] += 1e3  # t-shirt wins every row overall ...
    try:
        predicted = fitted.predict(x)
    finally:
        fitted.heads["subcategory"].bias[top_class] -= 1e3
    assert np.argmax(fitted.logits(x)["category"], 1).tolist() == np.argmax(logits["category"], 1).tolist()
    assert [p.subcategory for p in predicted] == ["t-shirt", "cargo pants", "mini skirt"]  # ... within tops


def test_heads_file_round_trip_and_probe_tell_the_model(fitted: AttributeHeads, tmp_path: Path) -> None:
    path = tmp_path / HEADS_FILE
    fitted.save(path)
    loaded = AttributeHeads.load(path)
    x, _ = synthetic(3, seed=2)
    assert loaded.classes == fitted.classes
    assert loaded.predict(x) == fitted.predict(x)
    np.testing.assert_allclose(loaded.logits(x)["fabric"], fitted.logits(x)["fabric"], rtol=1e-6)
    assert loaded.fits(ProbeModel())
    assert not loaded.fits(ProbeModel(seed=1))  # fine-tuned further: its embeddings moved


def test_tagger_for_uses_the_model_heads_else_zero_shot(fitted: AttributeHeads) -> None:
    assert tagger_for(SimpleNamespace(attribute_heads=fitted)) is fitted
    assert isinstance(tagger_for(SimpleNamespace(attribute_heads=None)), ZeroShotTagger)
    assert isinstance(tagger_for(SimpleNamespace()), ZeroShotTagger)


def test_heads_saved_with_a_checkpoint_load_only_onto_the_same_model(tmp_path: Path) -> None:
    model = create_model("tiny-random").eval()
    x, attributes = synthetic(4)
    x = model.embed_images([Image.new("RGB", (32, 32), (30 * i, 20, 90)) for i in range(len(x))]).numpy()
    model.attribute_heads = AttributeHeads.fit(x, attributes, model, steps=5)
    model.save_pretrained(tmp_path / "saved")
    reloaded = create_model(tmp_path / "saved")
    assert reloaded.attribute_heads is not None
    assert reloaded.attribute_heads.predict(x) == model.attribute_heads.predict(x)
    with torch.no_grad():
        model.text_projection.weight.mul_(-1.0)  # fine-tuned further: the saved heads no longer fit
    model.save_pretrained(tmp_path / "moved")
    (tmp_path / "moved" / HEADS_FILE).write_bytes((tmp_path / "saved" / HEADS_FILE).read_bytes())
    with pytest.warns(UserWarning, match="another embedding space"):
        assert create_model(tmp_path / "moved").attribute_heads is None


def test_shipped_heads_load_with_fashionlens_mini_config_and_predict_valid_attributes() -> None:
    shipped = AttributeHeads.load(
        Path(__file__).resolve().parents[2] / "src/fashionlens/model/weights/fashionlens-mini" / HEADS_FILE
    )
    x = np.random.default_rng(0).standard_normal((64, 256)).astype(np.float32)
    predicted = shipped.predict(x / np.linalg.norm(x, axis=1, keepdims=True))
    assert all(isinstance(p, GarmentAttributes) and p.subcategory and len(p.color) == 1 for p in predicted)
    assert {p.category for p in predicted} <= {"top", "dress", "pants", "skirt"}
