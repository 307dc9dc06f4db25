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
from fashionlens.model.colours import HISTOGRAM_SIZE, colour_features
from fashionlens.model.factory import load_heads
from fashionlens.model.heads import HEADS_FILE, SECOND_COLOUR_RATIO, AttributeHeads
from fashionlens.search.autotag import ZeroShotTagger, predict_tags, tagger_for
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
    assert shipped.colour_fields == ("color", "tone")
    x = np.random.default_rng(0).standard_normal((64, 256)).astype(np.float32)
    colours = colour_features([Image.new("RGB", (40, 60), (7 * i, 200 - 3 * i, 90)) for i in range(64)])
    predicted = shipped.predict(x / np.linalg.norm(x, axis=1, keepdims=True), colours)
    assert all(
        isinstance(p, GarmentAttributes) and p.subcategory and 1 <= len(p.color) <= 2 for p in predicted
    )
    assert {p.category for p in predicted} <= {"top", "dress", "pants", "skirt"}


# ------------------------------------------------------------------------------------- colour histograms
SOLIDS = {"red": (200, 20, 20), "khaki": (120, 120, 60), "black": (10, 10, 10)}


def solid_photos(attributes: list[GarmentAttributes]) -> list[Image.Image]:
    return [Image.new("RGB", (24, 36), SOLIDS[a.color[0]]) for a in attributes]


@pytest.fixture(scope="module")
def with_colours() -> tuple[AttributeHeads, list[GarmentAttributes]]:
    """Heads whose embeddings say nothing (all equal): only the histograms can tell the colours apart."""
    _, attributes = synthetic(10)
    x = np.full((len(attributes), DIM), DIM**-0.5, dtype=np.float32)
    colours = colour_features(solid_photos(attributes)).numpy()
    return AttributeHeads.fit(x, attributes, ProbeModel(), colours=colours, steps=100), attributes


def test_colour_heads_read_the_histograms_and_refuse_to_guess_without_them(
    with_colours: tuple[AttributeHeads, list[GarmentAttributes]],
) -> None:
    heads, attributes = with_colours
    assert heads.needs_colours and heads.colour_fields == ("color",)  # no tone labelled: no tone head
    assert heads.heads["color"].in_features == DIM + HISTOGRAM_SIZE
    assert heads.heads["category"].in_features == DIM
    x = np.full((3, DIM), DIM**-0.5, dtype=np.float32)
    photos = solid_photos([attributes[0], attributes[10], attributes[20]])
    assert [p.color[0] for p in heads.predict(x, colour_features(photos))] == ["red", "khaki", "black"]
    assert predict_tags(heads, x, photos) == heads.predict(x, colour_features(photos))
    with pytest.raises(ValueError, match="colour histograms"):
        heads.predict(x)


def test_a_second_colour_is_named_only_when_nearly_as_likely(
    with_colours: tuple[AttributeHeads, list[GarmentAttributes]],
) -> None:
    heads, attributes = with_colours
    x = np.full((1, DIM), DIM**-0.5, dtype=np.float32)
    colours = colour_features(solid_photos(attributes[:1]))
    logits = heads.logits(x, colours)["color"][0]
    classes = heads.classes["color"]
    red, runner_up = classes.index("red"), classes.index("navy")
    bias = heads.heads["color"].bias
    original = bias.clone()
    try:  # place navy just above, then just below, the ratio to red
        for margin, expected in ((0.01, ("red", "navy")), (-0.01, ("red",))):
            bias.copy_(original)
            bias[runner_up] += logits[red] - logits[runner_up] + np.log(SECOND_COLOUR_RATIO) + margin
            assert heads.predict(x, colours)[0].color == expected
    finally:
        bias.copy_(original)


def test_colour_heads_round_trip_and_reject_another_histogram_recipe(
    with_colours: tuple[AttributeHeads, list[GarmentAttributes]], tmp_path: Path
) -> None:
    heads, attributes = with_colours
    path = tmp_path / HEADS_FILE
    heads.save(path)
    loaded = AttributeHeads.load(path)
    x = np.full((3, DIM), DIM**-0.5, dtype=np.float32)
    colours = colour_features(solid_photos(attributes[::10]))
    assert loaded.colour_fields == heads.colour_fields
    assert loaded.predict(x, colours) == heads.predict(x, colours)
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(path), "pt") as file:
        metadata = {**file.metadata(), "histogram": "hsv-histogram-8x3x3-v0"}
        tensors = {name: file.get_tensor(name) for name in file.keys()}  # noqa: SIM118
    save_file(tensors, str(path), metadata=metadata)
    with pytest.raises(ValueError, match="refit"):
        AttributeHeads.load(path)
    with pytest.warns(UserWarning, match="not loaded"):  # a checkpoint still loads, without its heads
        load_heads(create_model("tiny-random"), tmp_path)


def test_captions_and_tags_of_a_model_whose_heads_read_colours(tmp_path: Path) -> None:
    model = create_model("tiny-random").eval()
    _, attributes = synthetic(3)
    photos = solid_photos(attributes)
    x = model.embed_images(photos).numpy()
    model.attribute_heads = AttributeHeads.fit(
        x, attributes, model, colours=colour_features(photos).numpy(), steps=5
    )
    features = model.image_features(photos)
    colours = model.tag_colours(photos)
    assert colours is not None and colours.shape == (len(photos), HISTOGRAM_SIZE)
    captions = model.caption(photos, max_new_tokens=2)
    assert model.caption_features(features, colours, max_new_tokens=2) == captions
    assert model.predict_attributes_features(features, colours) == model.attribute_heads.predict(x, colours)
    with pytest.raises(ValueError, match="colour histograms"):
        model.caption_features(features, max_new_tokens=2)
    model.attribute_heads = None
    assert model.tag_colours(photos) is None
