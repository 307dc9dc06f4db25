"""FashionBlip2: one BLIP-2-style model that captions clothing photos and embeds images and texts for search.

    image --(frozen encoder)--> tokens [N, T, C] --(Q-Former, 32 queries)--> query outputs [N, Q, H]
      |-- language_projection --> soft prompt --> frozen LLM (+ text prompt) --> caption
      |-- vision_projection --> L2-normalised [N, Q, D] --mean, L2-normalise--> image embedding [N, D]
    text --(Q-Former text branch, shared self-attention)--> [CLS] --text_projection--> text embedding [N, D]

Visual embedding (photo-only search): L2-normalised mean of the frozen encoder's tokens [N, C].

Retrieval pooling, used everywhere (indexing, search, evaluation): image embedding = L2-normalise(mean over
the queries of the L2-normalised projected query outputs); text embedding = L2-normalised projection of the
text [CLS] output; scores are dot products. Training uses ITC + ITM + LM (`forward`); `itc_pooling` says
whether ITC scores with that same mean pooling or with BLIP-2's max over queries.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import warnings
from collections.abc import Callable, Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from torch import nn
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from fashionlens.captions import tag_phrase
from fashionlens.model import losses
from fashionlens.model.colours import colour_features
from fashionlens.model.config import ModelConfig
from fashionlens.model.feature_cache import FeatureCache, ImageInput, cached_rows, decoded_once
from fashionlens.model.garment_view import VIEW_ID, view_features
from fashionlens.model.heads import HEADS_FILE, AttributeHeads
from fashionlens.model.hub import cache_dir
from fashionlens.model.image_encoders import OnnxImageEncoder
from fashionlens.model.qformer import build_qformer
from fashionlens.model.tokenizer import (
    encode_prompt,
    encode_prompted_captions,
    encode_texts,
    end_token_id,
    load_tokenizer,
)
from fashionlens.model.transforms import ImageTransform
from fashionlens.taxonomy import GarmentAttributes

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
IGNORE_INDEX = -100  # label of positions without LM loss


class FashionBlip2(nn.Module):
    """Frozen image encoder -> Q-Former -> projection -> frozen LLM, with BLIP-2's retrieval heads.

    Built by `fashionlens.model.create_model`, which loads pretrained parts and sets what trains.
    """

    #: Images, feature maps or texts processed per forward pass inside the batch-level APIs.
    batch_size = 32

    def __init__(self, config: ModelConfig, image_encoder: nn.Module, llm: PreTrainedModel) -> None:
        super().__init__()
        self.config = config
        self.image_encoder = image_encoder
        self.qformer, self.embeddings, self.query_tokens = build_qformer(
            config.qformer, config.image_encoder.token_dim
        )
        self.llm = llm
        hidden = config.qformer.hidden_size
        self.language_projection = nn.Linear(hidden, llm.get_input_embeddings().embedding_dim)
        self.vision_projection = nn.Linear(hidden, config.embed_dim)
        self.text_projection = nn.Linear(hidden, config.embed_dim)
        self.itm_head = nn.Linear(hidden, 2)
        self.temperature = nn.Parameter(torch.tensor(config.initial_temperature))
        self.transform = ImageTransform.for_encoder(config.image_encoder)
        self._onnx_encoder: OnnxImageEncoder | None = None
        #: Taxonomy tags from the joint image embedding (auto-tagging, tag-guided captions); loaded with the
        #: weights where a checkpoint ships them (`factory.load_heads`).
        self.attribute_heads: AttributeHeads | None = None

    # ----------------------------------------------------------------------------------------------- basics
    @property
    def embed_dim(self) -> int:
        """Width D of the image-text retrieval space."""
        return self.config.embed_dim

    @property
    def visual_dim(self) -> int:
        """Width C of the visual space (`visual_embed_features`): the frozen encoder's token width."""
        return self.config.image_encoder.token_dim

    @property
    def device(self) -> torch.device:
        return self.query_tokens.device

    @cached_property
    def encoder_id(self) -> str:
        """Names the frozen encoder's outputs (type, weights, preprocessing): its feature-cache folder."""
        encoder = dataclasses.asdict(self.config.image_encoder)
        encoder.pop("onnx")  # same features either way
        if self.config.image_encoder.type == "tiny-conv":
            encoder["seed"] = self.config.seed  # its weights are the seeded random init
        encoder["dtype"] = self.config.frozen_dtype
        digest = hashlib.sha256(json.dumps(encoder, sort_keys=True).encode()).hexdigest()[:16]
        return f"{self.config.image_encoder.type}-{digest}"

    @cached_property
    def text_tokenizer(self) -> PreTrainedTokenizerBase:
        return load_tokenizer(self.config.qformer.tokenizer)

    @cached_property
    def llm_tokenizer(self) -> PreTrainedTokenizerBase:
        return load_tokenizer(self.config.llm.tokenizer or self.config.llm.source)

    def train(self, mode: bool = True) -> FashionBlip2:
        """Train mode everywhere except the frozen image encoder (its BatchNorm statistics must not move)."""
        super().train(mode)
        self.image_encoder.eval()
        return self

    def save_pretrained(self, directory: str | Path) -> None:
        """Write config.json and the trainable weights only (model.safetensors, by parameter name).

        `create_model(directory)` rebuilds the frozen base from the config and loads these on top.
        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        state = {
            name: parameter.detach().cpu().contiguous()
            for name, parameter in self.named_parameters()
            if parameter.requires_grad
        }
        save_file(state, str(directory / WEIGHTS_NAME), metadata={"format": "pt"})
        config = {**self.config.to_dict(), "checkpoint": "."}
        (directory / CONFIG_NAME).write_text(json.dumps(config, indent=2) + "\n")
        if self.attribute_heads is not None:
            self.attribute_heads.save(directory / HEADS_FILE)

    # --------------------------------------------------------------------------------------- image tokens
    @torch.no_grad()
    def image_features(self, images: Sequence[ImageInput], cache: FeatureCache | None = None) -> torch.Tensor:
        """Frozen image-encoder tokens [N, T, C] (float32, CPU) for PIL images or paths.

        With a cache, known images are read from it and new ones are computed and stored; cached values are
        float16, so with a cache every returned value is float16-rounded (hits and misses alike).
        """
        found = cached_rows(
            cache,
            self.encoder_id,
            images,
            lambda batch: self._encode_pixels(self.transform.batch(batch)),
            self.batch_size,
        )
        return torch.stack(found) if found else torch.empty(0, 0, self.config.image_encoder.token_dim)

    def _encode_pixels(self, pixels: torch.Tensor) -> torch.Tensor:
        """Frozen-encoder tokens [N, T, C] of normalised pixels [N, 3, H, W] of any size the encoder takes."""
        if self.config.image_encoder.onnx and self.device.type == "cpu":
            if self._onnx_encoder is None:
                path = cache_dir() / "onnx" / f"{self.encoder_id}-any-size.onnx"
                self._onnx_encoder = OnnxImageEncoder(
                    self.image_encoder, self.config.image_encoder.image_size, path
                )
            return self._onnx_encoder(pixels)
        dtype = next(self.image_encoder.parameters()).dtype
        return self.image_encoder(pixels.to(self.device, dtype)).float().cpu()

    # ------------------------------------------------------------------------------------- Q-Former paths
    def _query_outputs(self, features: torch.Tensor) -> torch.Tensor:
        """Query outputs [N, Q, H] of the Q-Former cross-attending to image tokens [N, T, C]."""
        features = features.to(self.device, torch.float32)
        queries = self.query_tokens.expand(len(features), -1, -1)
        return self.qformer(query_embeds=queries, encoder_hidden_states=features).last_hidden_state

    def _text_outputs(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Text-branch outputs [N, L, H] (no image, no queries)."""
        return self.qformer(
            query_embeds=self.embeddings(input_ids=input_ids), query_length=0, attention_mask=attention_mask
        ).last_hidden_state

    def _image_embeddings(self, query_outputs: torch.Tensor) -> torch.Tensor:
        """THE image embedding [N, D] from query outputs: the one retrieval pooling (module docstring)."""
        return losses.pool_queries(self._query_embeddings(query_outputs))

    def _query_embeddings(self, query_outputs: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.vision_projection(query_outputs), dim=-1)

    def _text_embeddings(self, text_outputs: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        if self.config.text_pooling == "cls":
            pooled = text_outputs[:, 0]
        else:
            weights = attention_mask.unsqueeze(-1).to(text_outputs.dtype)
            pooled = (text_outputs * weights).sum(1) / weights.sum(1).clamp(min=1)
        return F.normalize(self.text_projection(pooled), dim=-1)

    def _embed_text_ids(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self._text_embeddings(self._text_outputs(input_ids, attention_mask), attention_mask)

    def _tokenize_texts(self, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        ids, mask = encode_texts(self.text_tokenizer, texts, self.config.qformer.max_text_tokens)
        return ids.to(self.device), mask.to(self.device)

    def _itm_logits(
        self, features: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> torch.Tensor:
        """Match logits [N, 2]: queries and text attend to each other, queries also to the image; the ITM
        head is averaged over the query outputs (as BLIP-2)."""
        queries = self.query_tokens.expand(len(input_ids), -1, -1)
        n_queries = queries.shape[1]
        query_mask = torch.ones(queries.shape[:2], dtype=attention_mask.dtype, device=self.device)
        outputs = self.qformer(
            query_embeds=self.embeddings(input_ids=input_ids, query_embeds=queries),
            query_length=n_queries,
            attention_mask=torch.cat([query_mask, attention_mask], dim=1),
            encoder_hidden_states=features.to(self.device, torch.float32),
        ).last_hidden_state
        return self.itm_head(outputs[:, :n_queries]).mean(dim=1)

    # ------------------------------------------------------------------------------------------ LLM paths
    def _soft_prompt(self, query_outputs: torch.Tensor) -> torch.Tensor:
        return self.language_projection(query_outputs).to(self.llm.dtype)

    def _prompt_ids(self, prompt: str) -> torch.Tensor:
        return encode_prompt(self.llm_tokenizer, prompt, self.config.llm.prepend_bos).to(self.device)

    def _prompts(self, attributes: Sequence[GarmentAttributes | None] | None, n: int) -> list[str]:
        """Text prompt per image: the tagged prompt where the config has one and tags are known, else the
        plain one."""
        generation = self.config.generation
        if generation.tags_prompt is None or attributes is None:
            return [generation.prompt] * n
        return [
            generation.prompt if a is None else generation.tags_prompt.format(tags=tag_phrase(a))
            for a in attributes
        ]

    def _lm_loss(
        self, query_outputs: torch.Tensor, captions: Sequence[str], prompts: Sequence[str]
    ) -> torch.Tensor:
        """Caption cross-entropy with the projected queries as a soft prompt, then each text prompt; only the
        caption tokens (and the end token) are scored. The LM head runs on the text positions alone: on a
        49k-token vocabulary it is a large share of a small LLM's cost."""
        soft = self._soft_prompt(query_outputs)
        ids, mask, scored = encode_prompted_captions(
            self.llm_tokenizer,
            prompts,
            captions,
            self.config.llm.max_caption_tokens,
            self.config.llm.prepend_bos,
        )
        ids, mask, scored = ids.to(self.device), mask.to(self.device), scored.to(self.device)
        embeds = torch.cat([soft, self.llm.get_input_embeddings()(ids)], dim=1)
        prefix = torch.ones(len(soft), soft.shape[1], dtype=mask.dtype, device=self.device)
        # The logit at position t predicts token t + 1: text token j comes from the position before it.
        logits = self.llm(
            inputs_embeds=embeds,
            attention_mask=torch.cat([prefix, mask], dim=1),
            logits_to_keep=ids.shape[1] + 1,
        ).logits[:, :-1]
        targets = ids.masked_fill(scored == 0, IGNORE_INDEX)
        return F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten(), ignore_index=IGNORE_INDEX)

    # -------------------------------------------------------------------------------------- training
    def forward(self, batch: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        """Training losses on a batch of matching (image, text) pairs.

        batch: "texts" (list[str]) and either "features" (image tokens [N, T, C], e.g. from `image_features`
        with a cache) or "images" (PIL images or paths); optionally "attributes" (labelled tags per pair, or
        None) for tag-guided captions. Returns "loss" (the `loss_weights`-weighted sum)
        and the unweighted "itc", "itm", "lm" (a loss no nonzero weight needs is skipped and reported as 0).
        """
        features = batch["features"] if "features" in batch else self.image_features(batch["images"])
        features = features.to(self.device, torch.float32)
        texts = list(batch["texts"])
        if len(texts) != len(features):
            raise ValueError(f"batch has {len(features)} images but {len(texts)} texts")
        weights = self.config.loss_weights
        zero = torch.zeros((), device=self.device)
        terms = {"itc": zero, "itm": zero, "lm": zero}
        query_outputs = self._query_outputs(features)
        if weights["itc"] or weights["itm"]:
            ids, mask = self._tokenize_texts(texts)
            same_text = torch.tensor([[a == b for b in texts] for a in texts], device=self.device)
            similarity = losses.image_text_similarity(
                self._query_embeddings(query_outputs),
                self._embed_text_ids(ids, mask),
                self.config.itc_pooling,
            )
            terms["itc"] = losses.itc_loss(similarity, self.temperature, same_text)
            if weights["itm"] and len(texts) > 1:
                # Negatives are mined over the whole batch; only the first `itm_batch_size` pairs are scored.
                n = self.config.itm_batch_size or len(texts)
                negative_text, negative_image = (i[:n] for i in losses.hard_negatives(similarity, same_text))
                positive = self._itm_logits(features[:n], ids[:n], mask[:n])
                negative = self._itm_logits(
                    torch.cat([features[:n], features[negative_image]]),
                    torch.cat([ids[negative_text], ids[:n]]),
                    torch.cat([mask[negative_text], mask[:n]]),
                )
                terms["itm"] = losses.itm_loss(positive, negative)
        if weights["lm"]:
            n = self.config.lm_batch_size or len(texts)
            prompts = self._prompts(batch.get("attributes"), len(texts))
            terms["lm"] = self._lm_loss(query_outputs[:n], texts[:n], prompts[:n])
        loss = sum(weights[name] * value for name, value in terms.items())
        return {"loss": loss, **terms}

    # ------------------------------------------------------------------------------------- inference API
    @torch.no_grad()
    def embed_image_features(self, features: torch.Tensor) -> torch.Tensor:
        """Retrieval embeddings [N, D] (float32, L2-normalised, CPU) from image tokens [N, T, C]."""
        return self._batched(
            features,
            lambda chunk: self._image_embeddings(self._query_outputs(chunk)),
            self.embed_dim,
        )

    @torch.no_grad()
    def embed_images(self, images: Sequence[ImageInput], cache: FeatureCache | None = None) -> torch.Tensor:
        """Retrieval embeddings [N, D] (float32, L2-normalised, CPU) of PIL images or paths."""
        return self.embed_image_features(self.image_features(images, cache))

    @torch.no_grad()
    def visual_embed_features(self, features: torch.Tensor) -> torch.Tensor:
        """Visual embeddings [N, C] (float32, L2-normalised, CPU): the mean over the token axis of image
        tokens [N, T, C] from the frozen encoder, no Q-Former.

        For instance-level photo matching (a customer's photo -> the catalogue photo of the same garment):
        the joint space keeps what captions describe and drops the details that tell two similar garments
        apart. On 120 strongly augmented copies of dev photos (docs/results.md, consumer-to-shop proxy) pooled
        EfficientNet-Lite0 features find the original at top-1 0.61 against 0.29 in the joint space of the
        shipped model. Text queries cannot use this space.
        """
        return F.normalize(features.float().mean(dim=1), dim=-1).cpu()

    @torch.no_grad()
    def visual_embed_images(
        self, images: Sequence[ImageInput], cache: FeatureCache | None = None
    ) -> torch.Tensor:
        """Visual embeddings [N, C] (see `visual_embed_features`) of PIL images or paths."""
        return self.visual_embed_features(self.image_features(images, cache))

    @torch.no_grad()
    def embed_texts(self, texts: Sequence[str]) -> torch.Tensor:
        """Retrieval embeddings [N, D] (float32, L2-normalised, CPU) of texts, in the space of images."""
        return self._batched(
            list(texts),
            lambda chunk: self._embed_text_ids(*self._tokenize_texts(chunk)),
            self.embed_dim,
        )

    @torch.no_grad()
    def tag_inputs(
        self, images: Sequence[ImageInput], cache: FeatureCache | None = None
    ) -> dict[str, torch.Tensor] | None:
        """What the attribute heads read of each PIL image or path (`heads.RECIPES`: the garment view [N, F]
        and the colour histogram [N, B], as far as the heads read them), or None for a model without heads:
        the `inputs` of `caption_features` and of `attribute_heads.predict`."""
        if self.attribute_heads is None:
            return None
        images = decoded_once(images, cache)
        compute = {
            "view": lambda: self.garment_views(images, cache),
            "histogram": lambda: colour_features(images, cache),
        }
        unknown = set(self.attribute_heads.inputs) - set(compute)
        if unknown:
            raise ValueError(f"the attribute heads read {sorted(unknown)}, which this model does not compute")
        return {name: compute[name]() for name in self.attribute_heads.inputs}

    def garment_views(self, images: Sequence[ImageInput], cache: FeatureCache | None = None) -> torch.Tensor:
        """Garment views [N, F] of PIL images or paths (`fashionlens.model.garment_view`): the frozen encoder
        on each photo at its own aspect ratio, pooled; what the attribute heads read."""
        return view_features(
            images,
            self.transform,
            self._encode_pixels,
            cache,
            f"{self.encoder_id}-{VIEW_ID}",
            self.batch_size,
        )

    @torch.no_grad()
    def predict_attributes(
        self, images: Sequence[ImageInput], cache: FeatureCache | None = None
    ) -> list[GarmentAttributes]:
        """Taxonomy tags per PIL image or path; raises ValueError for a model without attribute heads."""
        if self.attribute_heads is None:
            raise ValueError(f"model {self.config.name!r} has no attribute heads")
        return self.attribute_heads.predict(self.tag_inputs(images, cache) or {})

    @torch.no_grad()
    def caption_features(
        self,
        features: torch.Tensor,
        inputs: Mapping[str, torch.Tensor] | None = None,
        prompt: str | None = None,
        **generate_kwargs: Any,
    ) -> list[str]:
        """One caption per image from image tokens [N, T, C]: greedy decoding by default (`generation` in
        the config); `generate_kwargs` go to transformers' `generate`, `prompt` replaces the text prompt.

        With `generation.tags_prompt` and attribute heads, each image's prompt names its predicted tags (and
        with `generation.start_with_tags` the caption starts with them): the heads read `inputs`
        (`tag_inputs` of the same images), without which this raises ValueError.
        """
        options = dataclasses.asdict(self.config.generation)
        options.pop("prompt"), options.pop("tags_prompt"), options.pop("start_with_tags")
        options.update(generate_kwargs)
        end = end_token_id(self.llm_tokenizer)
        embed = self.llm.get_input_embeddings()
        captions: list[str] = []
        for start in range(0, len(features), self.batch_size):
            query_outputs = self._query_outputs(features[start : start + self.batch_size])
            starts = [""] * len(query_outputs)
            if prompt is not None:
                prompts = [prompt] * len(query_outputs)
            else:
                tags = None
                if self.attribute_heads is not None:
                    tags = self.attribute_heads.predict(
                        {name: rows[start : start + self.batch_size] for name, rows in (inputs or {}).items()}
                    )
                prompts = self._prompts(tags, len(query_outputs))
                if self.config.generation.start_with_tags and tags is not None:
                    starts = [phrase[:1].upper() + phrase[1:] for phrase in map(tag_phrase, tags)]
            # The caption's start is tokenised as in training, where the caption follows the prompt.
            start_ids = [encode_prompt(self.llm_tokenizer, s, prepend_bos=False) for s in starts]
            soft = self._soft_prompt(query_outputs)
            rows = [
                torch.cat([s, embed(self._prompt_ids(p)), embed(ids.to(self.device))])
                for s, p, ids in zip(soft, prompts, start_ids, strict=True)
            ]
            # Left-padded: generation continues every row from its last position.
            width = max(len(row) for row in rows)
            embeds = soft.new_zeros(len(rows), width, soft.shape[-1])
            mask = torch.zeros(len(rows), width, dtype=torch.long, device=self.device)
            for i, row in enumerate(rows):
                embeds[i, width - len(row) :] = row
                mask[i, width - len(row) :] = 1
            with warnings.catch_warnings():
                # The penalties apply to the generated tokens only: intended, not worth a warning.
                for option in ("repetition_penalty", "no_repeat_ngram_size"):
                    warnings.filterwarnings("ignore", message=f"Passing `{option}` with `inputs_embeds`")
                generated = self.llm.generate(
                    inputs_embeds=embeds, attention_mask=mask, eos_token_id=end, pad_token_id=end, **options
                )
            # One line per caption: an untrained or drifting LLM may emit newlines.
            texts = self.llm_tokenizer.batch_decode(
                [torch.cat([ids, row.cpu()]) for ids, row in zip(start_ids, generated, strict=True)],
                skip_special_tokens=True,
            )
            captions += [" ".join(text.split()) for text in texts]
        return captions

    @torch.no_grad()
    def caption(
        self, images: Sequence[ImageInput], cache: FeatureCache | None = None, **generate_kwargs: Any
    ) -> list[str]:
        """One caption per PIL image or path (see `caption_features`)."""
        images = decoded_once(images, cache)
        inputs = self.tag_inputs(images, cache)
        return self.caption_features(self.image_features(images, cache), inputs, **generate_kwargs)

    def _batched(
        self, items: Sequence[Any], encode: Callable[[Any], torch.Tensor], width: int
    ) -> torch.Tensor:
        chunks = [
            encode(items[i : i + self.batch_size]).float().cpu()
            for i in range(0, len(items), self.batch_size)
        ]
        return torch.cat(chunks) if chunks else torch.empty(0, width)
