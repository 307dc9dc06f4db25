"""Linear attribute heads: fitting on named inputs, taxonomy-consistent predictions, the heads file and the
encoder it names, loading beside a checkpoint, and which tagger a model gets."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from fashionlens.model import create_model
from fashionlens.model.colours import HISTOGRAM_SIZE, colour_features
from fashionlens.model.factory import load_heads
from fashionlens.model.garment_view import BANDS
from fashionlens.model.heads import HEADS_FILE, SECOND_COLOUR_RATIO, AttributeHeads
from fashionlens.search.autotag import ZeroShotTagger, predict_tags, tagger_for
from fashionlens.taxonomy import GarmentAttributes

DIM = 32
ENCODER = "tiny-conv-0123"
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


@pytest.fixture(scope="module")
def fitted() -> AttributeHeads:
    x, attributes = synthetic(20)
    return AttributeHeads.fit({"view": x}, attributes, ENCODER, steps=100)


def test_fit_learns_a_separable_field_and_predicts_within_the_taxonomy(fitted: AttributeHeads) -> None:
    x, truth = synthetic(5, seed=1)
    predicted = fitted.predict({"view": x})
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
    logits = fitted.logits({"view": x})
    top_class = fitted.classes["subcategory"].index("t-shirt")
    fitted.heads["subcategory"].bias[top_class] += 1e3  # t-shirt wins every row overall ...
    try:
        predicted = fitted.predict({"view": x})
    finally:
        fitted.heads["subcategory"].bias[top_class] -= 1e3
    assert (
        np.argmax(fitted.logits({"view": x})["category"], 1).tolist()
        == np.argmax(logits["category"], 1).tolist()
    )
    assert [p.subcategory for p in predicted] == ["t-shirt", "cargo pants", "mini skirt"]  # ... within tops


def test_fit_refuses_reads_of_inputs_not_given() -> None:
    x, attributes = synthetic(2)
    with pytest.raises(ValueError, match="must read given inputs"):
        AttributeHeads.fit({"view": x}, attributes, ENCODER, reads={"category": ("histogram",)}, steps=1)


def test_heads_file_round_trip_names_the_encoder(fitted: AttributeHeads, tmp_path: Path) -> None:
    path = tmp_path / HEADS_FILE
    fitted.save(path)
    loaded = AttributeHeads.load(path)
    x, _ = synthetic(3, seed=2)
    assert loaded.classes == fitted.classes and loaded.reads == fitted.reads and loaded.inputs == ("view",)
    assert loaded.predict({"view": x}) == fitted.predict({"view": x})
    np.testing.assert_allclose(
        loaded.logits({"view": x})["fabric"], fitted.logits({"view": x})["fabric"], rtol=1e-6
    )
    assert loaded.fits(ENCODER)
    assert not loaded.fits("efficientnet-lite0-other")  # views of another encoder mean other things


def test_tagger_for_uses_the_model_heads_else_zero_shot(fitted: AttributeHeads) -> None:
    assert tagger_for(SimpleNamespace(attribute_heads=fitted)) is fitted
    assert isinstance(tagger_for(SimpleNamespace(attribute_heads=None)), ZeroShotTagger)
    assert isinstance(tagger_for(SimpleNamespace()), ZeroShotTagger)


def photos_of(n: int) -> list[Image.Image]:
    return [Image.new("RGB", (32 + 4 * (i % 3), 48), (30 * i % 255, 20, 90)) for i in range(n)]


def test_heads_saved_with_a_checkpoint_load_only_onto_the_same_encoder(tmp_path: Path) -> None:
    model = create_model("tiny-random").eval()
    _, attributes = synthetic(4)
    photos = photos_of(len(attributes))
    views = model.garment_views(photos).numpy()
    assert views.shape[1] == (1 + BANDS) * model.config.image_encoder.architecture["hidden_size"]
    model.attribute_heads = AttributeHeads.fit({"view": views}, attributes, model.encoder_id, steps=5)
    model.save_pretrained(tmp_path / "saved")
    reloaded = create_model(tmp_path / "saved")
    assert reloaded.attribute_heads is not None
    assert reloaded.attribute_heads.predict({"view": views}) == model.attribute_heads.predict({"view": views})
    assert predict_tags(reloaded, reloaded.attribute_heads, photos) == (
        model.attribute_heads.predict({"view": views})
    )
    other = AttributeHeads.fit({"view": views}, attributes, "efficientnet-lite0-other", steps=5)
    other.save(tmp_path / "saved" / HEADS_FILE)
    with pytest.warns(UserWarning, match="another image encoder"):
        assert create_model(tmp_path / "saved").attribute_heads is None


def test_shipped_heads_load_with_fashionlens_mini_config_and_predict_valid_attributes() -> None:
    shipped = AttributeHeads.load(
        Path(__file__).resolve().parents[2] / "src/fashionlens/model/weights/fashionlens-mini" / HEADS_FILE
    )
    assert shipped.inputs == ("histogram", "view")
    assert shipped.reads["category"] == ("view",) and shipped.reads["color"] == ("view", "histogram")
    view = np.abs(np.random.default_rng(0).standard_normal((64, (1 + BANDS) * 1280))).astype(np.float32)
    histograms = colour_features([Image.new("RGB", (40, 60), (7 * i, 200 - 3 * i, 90)) for i in range(64)])
    predicted = shipped.predict(
        {"view": view / np.linalg.norm(view, axis=1, keepdims=True), "histogram": histograms}
    )
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
    """Heads whose views say nothing (all equal): only the histograms can tell the colours apart."""
    _, attributes = synthetic(10)
    inputs = {"view": blank(len(attributes)), "histogram": colour_features(solid_photos(attributes)).numpy()}
    return AttributeHeads.fit(inputs, attributes, ENCODER, steps=100), attributes


def blank(n: int) -> np.ndarray:
    return np.full((n, DIM), DIM**-0.5, dtype=np.float32)


def test_colour_heads_read_the_histograms_and_refuse_to_guess_without_them(
    with_colours: tuple[AttributeHeads, list[GarmentAttributes]],
) -> None:
    heads, attributes = with_colours
    assert heads.inputs == ("histogram", "view") and heads.reads["color"] == ("view", "histogram")
    assert "tone" not in heads.heads  # no tone labelled: no tone head
    assert heads.heads["color"].in_features == DIM + HISTOGRAM_SIZE
    assert heads.heads["category"].in_features == DIM
    photos = solid_photos([attributes[0], attributes[10], attributes[20]])
    inputs = {"view": blank(3), "histogram": colour_features(photos)}
    assert [p.color[0] for p in heads.predict(inputs)] == ["red", "khaki", "black"]
    with pytest.raises(ValueError, match="missing histogram"):
        heads.predict({"view": blank(3)})


def test_a_second_colour_is_named_only_when_nearly_as_likely(
    with_colours: tuple[AttributeHeads, list[GarmentAttributes]],
) -> None:
    heads, attributes = with_colours
    inputs = {"view": blank(1), "histogram": colour_features(solid_photos(attributes[:1]))}
    logits = heads.logits(inputs)["color"][0]
    classes = heads.classes["color"]
    red, runner_up = classes.index("red"), classes.index("navy")
    bias = heads.heads["color"].bias
    original = bias.clone()
    try:  # place navy just above, then just below, the ratio to red
        for margin, expected in ((0.01, ("red", "navy")), (-0.01, ("red",))):
            bias.copy_(original)
            bias[runner_up] += logits[red] - logits[runner_up] + np.log(SECOND_COLOUR_RATIO) + margin
            assert heads.predict(inputs)[0].color == expected
    finally:
        bias.copy_(original)


@pytest.mark.parametrize(
    ("metadata", "error"),
    [
        ({"recipes": '{"histogram": "hsv-histogram-8x3x3-v0", "view": "x"}'}, "refit"),
        ({"reads": None}, "older version"),
    ],
)
def test_heads_of_another_recipe_are_refused_and_a_checkpoint_loads_without_them(
    with_colours: tuple[AttributeHeads, list[GarmentAttributes]], tmp_path: Path, metadata: dict, error: str
) -> None:
    heads, attributes = with_colours
    path = tmp_path / HEADS_FILE
    heads.save(path)
    inputs = {"view": blank(3), "histogram": colour_features(solid_photos(attributes[::10]))}
    assert AttributeHeads.load(path).predict(inputs) == heads.predict(inputs)
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(path), "pt") as file:
        changed = {**file.metadata(), **metadata}
        tensors = {name: file.get_tensor(name) for name in file.keys()}  # noqa: SIM118
    save_file(tensors, str(path), metadata={k: v for k, v in changed.items() if v is not None})
    with pytest.raises(ValueError, match=error):
        AttributeHeads.load(path)
    with pytest.warns(UserWarning, match="not loaded"):  # a checkpoint still loads, without its heads
        load_heads(create_model("tiny-random"), tmp_path)


def test_captions_and_tags_of_a_model_with_heads(tmp_path: Path) -> None:
    model = create_model("tiny-random").eval()
    _, attributes = synthetic(3)
    photos = solid_photos(attributes)
    inputs = {"view": model.garment_views(photos).numpy(), "histogram": colour_features(photos).numpy()}
    model.attribute_heads = AttributeHeads.fit(inputs, attributes, model.encoder_id, steps=5)
    computed = model.tag_inputs(photos)
    assert computed is not None and set(computed) == {"view", "histogram"}
    assert computed["histogram"].shape == (len(photos), HISTOGRAM_SIZE)
    features = model.image_features(photos)
    captions = model.caption(photos, max_new_tokens=2)
    assert model.caption_features(features, computed, max_new_tokens=2) == captions
    assert model.predict_attributes(photos) == model.attribute_heads.predict(computed)
    with pytest.raises(ValueError, match="missing"):
        model.caption_features(features, max_new_tokens=2)
    model.attribute_heads = None
    assert model.tag_inputs(photos) is None
    with pytest.raises(ValueError, match="no attribute heads"):
        model.predict_attributes(photos)


def test_photo_paths_are_decoded_once_for_tokens_view_and_histogram(tmp_path: Path, monkeypatch) -> None:
    from fashionlens.model import feature_cache

    model = create_model("tiny-random").eval()
    _, attributes = synthetic(2)
    photos = solid_photos(attributes)
    inputs = {"view": model.garment_views(photos).numpy(), "histogram": colour_features(photos).numpy()}
    model.attribute_heads = AttributeHeads.fit(inputs, attributes, model.encoder_id, steps=5)
    paths = []
    for i, photo in enumerate(photos):
        paths.append(tmp_path / f"{i}.png")
        photo.save(paths[-1])
    decoded: list[object] = []
    load = feature_cache.load_image
    monkeypatch.setattr(feature_cache, "load_image", lambda source: decoded.append(source) or load(source))
    assert model.caption(paths, max_new_tokens=2) == model.caption(photos, max_new_tokens=2)
    assert sorted(decoded) == sorted(paths)
