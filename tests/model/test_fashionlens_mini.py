"""fashionlens-mini with its real offline parts (EfficientNet-Lite0, MiniLM, SmolLM2): slow, integration."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from fashionlens.cli import app
from fashionlens.model import FashionBlip2, create_model
from fashionlens.model.garment_view import pool_view, view_size

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def mini() -> FashionBlip2:
    return create_model("fashionlens-mini").eval()


@pytest.fixture(scope="module")
def photos(clothing_dir) -> list:
    records = [json.loads(line) for line in (clothing_dir / "labels.jsonl").read_text().splitlines()]
    return [clothing_dir / record["image"] for record in records if record["image"].startswith("images/")][:3]


def test_lora_on_self_attention_and_llama_attention_cross_attention_in_full(mini: FashionBlip2) -> None:
    lora = {name for name, module in mini.named_modules() if hasattr(module, "lora_A")}
    assert lora == {
        f"qformer.encoder.layer.{i}.attention.attention.{p}" for i in range(6) for p in ("query", "key")
    } | {f"llm.model.layers.{i}.self_attn.{p}" for i in range(30) for p in ("q_proj", "k_proj")}
    cross = [p for n, p in mini.named_parameters() if ".crossattention." in n]
    assert len(cross) == 6 * 10 and all(p.requires_grad for p in cross)


def test_real_photos_embed_and_caption(mini: FashionBlip2, photos: list) -> None:
    features = mini.image_features(photos)
    assert features.shape == (3, 49, 1280)
    embeddings = mini.embed_images(photos)
    assert embeddings.shape == (3, 256)
    torch.testing.assert_close(embeddings.norm(dim=1), torch.ones(3))
    captions = mini.caption(photos[:1], max_new_tokens=8)
    assert len(captions) == 1 and captions[0].strip()
    # Shipped with its attribute heads, which tag the photo and guide the caption.
    assert mini.attribute_heads is not None and mini.config.generation.tags_prompt
    assert mini.config.generation.start_with_tags and captions[0].startswith("A ")
    (tags,) = mini.predict_attributes(photos[:1])
    assert tags.category in {"top", "dress", "pants", "skirt"} and 1 <= len(tags.color) <= 2


def test_onnx_efficientnet_matches_torch_on_squares_and_garment_views(
    mini: FashionBlip2, photos: list
) -> None:
    assert mini.config.image_encoder.onnx
    onnx_tokens = mini.image_features(photos)
    with torch.no_grad():
        torch_tokens = mini.image_encoder(mini.transform.batch([_load(p) for p in photos]))
    torch.testing.assert_close(onnx_tokens, torch_tokens, atol=2e-3, rtol=1e-3)
    image = _load(photos[0])
    size = view_size(*image.size)
    with torch.no_grad():
        tokens = mini.image_encoder(mini.transform.resized(image, size)[None])
    expected = pool_view(tokens, height=size[1], width=size[0])
    torch.testing.assert_close(mini.garment_views(photos[:1]), expected, atol=1e-4, rtol=1e-3)


def test_caption_cli_on_a_real_photo(photos: list) -> None:
    result = CliRunner().invoke(app, ["caption", str(photos[0]), "--json"])
    assert result.exit_code == 0, result.stderr
    (item,) = json.loads(result.stdout)
    assert item["image"] == str(photos[0]) and item["caption"].strip()


def _load(path):
    from fashionlens.images import load_image

    return load_image(path)
