"""`create_model(name_or_path)`: the one way to get a FashionBlip2.

The registry is the `configs/` folder: `create_model("fashionlens-mini")` reads
`configs/fashionlens-mini.json`. A folder written by `save_pretrained` (config.json + trainable weights) or
any config .json file works too. Building = the frozen parts from their sources, the Q-Former initialised as
the config says (random, from BERT, or from BLIP-2's checkpoints), the fine-tuning mode applied, then the
config's `checkpoint` (trainable weights) loaded.

To ship trained weights with a registered model: `model.save_pretrained("src/fashionlens/model/weights/NAME")`
and set `"checkpoint": "../weights/NAME"` in `configs/NAME.json` (the path is relative to the config file).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file
from torch import nn

from fashionlens.model.blip2 import CONFIG_NAME, WEIGHTS_NAME, FashionBlip2
from fashionlens.model.config import ModelConfig, load_config
from fashionlens.model.heads import HEADS_FILE, AttributeHeads
from fashionlens.model.hub import resolve
from fashionlens.model.image_encoders import EfficientNetLite0Encoder, build_image_encoder
from fashionlens.model.llm import build_llm, is_blip2_checkpoint
from fashionlens.model.lora import configure_trainable
from fashionlens.model.qformer import qformer_state_from_bert, state_from_blip2

CONFIG_DIR = Path(__file__).resolve().parent / "configs"


def list_models() -> list[str]:
    """Names of the registered model configs."""
    return sorted(path.stem for path in CONFIG_DIR.glob("*.json"))


def config_path(name_or_path: str | Path) -> Path:
    """The config file for a registered name, a save_pretrained folder or a .json file."""
    path = Path(name_or_path)
    if path.is_dir():
        path = path / CONFIG_NAME
    elif not path.is_file() and (CONFIG_DIR / f"{name_or_path}.json").is_file():
        path = CONFIG_DIR / f"{name_or_path}.json"
    if not path.is_file():
        raise FileNotFoundError(
            f"no model {str(name_or_path)!r}: not a registered name ({', '.join(list_models())}), "
            "a save_pretrained folder or a config file"
        )
    return path


def get_config(name_or_path: str | Path, **overrides: Any) -> ModelConfig:
    """The ModelConfig of a name or path, with nested `overrides` merged in."""
    config = load_config(config_path(name_or_path))
    return config.replace(**overrides) if overrides else config


def create_model(name_or_path: str | Path, pretrained: bool = True, **overrides: Any) -> FashionBlip2:
    """Build a FashionBlip2 from a registered name, a save_pretrained folder or a config file.

    `overrides` are merged into the config: `llm={"source": "/tmp/opt"}`, `finetune={"mode": "qformer"}`.
    `pretrained=False` skips every weight source and checkpoint (random init, e.g. on the meta device to
    count parameters). Returns the model in train mode with exactly the fine-tuning mode's parameters
    trainable; call `.eval()` for inference.
    """
    path = config_path(name_or_path)
    config = get_config(path, **overrides)
    model = build_model(config, pretrained=pretrained)
    if pretrained and config.checkpoint is not None:
        load_trainable(model, path.parent / config.checkpoint)
        load_heads(model, path.parent / config.checkpoint)
    return model


def build_model(config: ModelConfig, pretrained: bool = True) -> FashionBlip2:
    """Base model from a config: pretrained parts from their sources, every random weight seeded by
    `config.seed` (so a checkpoint of the trainable weights alone restores a model exactly)."""
    dtype = getattr(torch, config.frozen_dtype) if pretrained else torch.float32
    blip2 = _Blip2Checkpoints(dtype)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        encoder_config, qformer_config, llm_config = config.image_encoder, config.qformer, config.llm
        vision_model = None
        if pretrained and encoder_config.type == "blip2-vit":
            vision_model = blip2.generation(encoder_config.source).vision_model
        image_encoder = build_image_encoder(encoder_config, vision_model)
        if pretrained and isinstance(image_encoder, EfficientNetLite0Encoder):
            image_encoder.load_imagenet(encoder_config.source)
        language_model = None
        if pretrained and llm_config.source is not None and is_blip2_checkpoint(llm_config.source):
            language_model = blip2.generation(llm_config.source).language_model
        llm = build_llm(llm_config, dtype, language_model, pretrained=pretrained)
        model = FashionBlip2(config, image_encoder, llm)
        if pretrained and qformer_config.init == "bert":
            _load_partial(model, qformer_state_from_bert(_bert_state(qformer_config.source)), "BERT")
        elif pretrained and qformer_config.init == "blip2":
            state = state_from_blip2(
                blip2.generation(qformer_config.source).state_dict(),
                blip2.retrieval(qformer_config.text_source).state_dict(),
            )
            _load_partial(model, state, "BLIP-2")
        configure_trainable(model, config.finetune)
    return model.train()


def load_trainable(model: FashionBlip2, directory: str | Path) -> None:
    """Load save_pretrained weights: exactly the model's trainable parameters, no more, no fewer."""
    state = load_file(str(Path(directory) / WEIGHTS_NAME))
    trainable = {name for name, parameter in model.named_parameters() if parameter.requires_grad}
    if set(state) != trainable:
        raise ValueError(
            f"{directory}: weights do not match this model's trainable parameters "
            f"(missing {sorted(trainable - set(state))[:5]}, unexpected {sorted(set(state) - trainable)[:5]})"
        )
    model.load_state_dict(state, strict=False)


def load_heads(model: FashionBlip2, directory: str | Path) -> None:
    """Attach the attribute heads saved beside a checkpoint, where there are any and they were fitted on
    this model's image encoder and this version's input recipes (else a warning says to refit them)."""
    path = Path(directory) / HEADS_FILE
    if not path.is_file():
        return
    try:
        heads = AttributeHeads.load(path)
    except ValueError as error:  # another input recipe
        warnings.warn(f"attribute heads not loaded: {error}", stacklevel=2)
        return
    if heads.fits(model.encoder_id):
        model.attribute_heads = heads
    else:
        warnings.warn(
            f"{path}: attribute heads fitted on views of another image encoder ({heads.encoder}), not "
            "loaded; refit them with benchmarks/autotag.py --fit-out",
            stacklevel=2,
        )


def _load_partial(model: nn.Module, state: dict[str, torch.Tensor], origin: str) -> None:
    result = model.load_state_dict(state, strict=False)
    if result.unexpected_keys:
        raise ValueError(f"{origin} weights with no place in the model: {result.unexpected_keys[:5]}")


def _bert_state(source: str | None) -> dict[str, torch.Tensor]:
    from transformers import AutoModel

    if source is None:
        raise ValueError("qformer.init 'bert' needs qformer.source (a BERT checkpoint)")
    bert = AutoModel.from_pretrained(resolve(source), dtype=torch.float32)
    return {key.removeprefix("bert."): value for key, value in bert.state_dict().items()}


class _Blip2Checkpoints:
    """Loads each BLIP-2 checkpoint once per build: one checkpoint supplies the ViT, Q-Former, projection
    and LLM."""

    def __init__(self, dtype: torch.dtype) -> None:
        self.dtype = dtype
        self.loaded: dict[tuple[str, str], nn.Module] = {}

    def generation(self, source: str | None) -> nn.Module:
        from transformers import Blip2ForConditionalGeneration

        return self._load(Blip2ForConditionalGeneration, source, self.dtype)

    def retrieval(self, source: str | None) -> nn.Module:
        """The stage-1 checkpoint, for the text branch: kept float32 (those weights train)."""
        from transformers import Blip2ForImageTextRetrieval

        return self._load(Blip2ForImageTextRetrieval, source, torch.float32)

    def _load(self, cls: type, source: str | None, dtype: torch.dtype) -> nn.Module:
        if source is None:
            raise ValueError(f"a {cls.__name__} checkpoint is needed but its source is not set")
        key = (cls.__name__, source)
        if key not in self.loaded:
            self.loaded[key] = cls.from_pretrained(resolve(source), dtype=dtype)
        return self.loaded[key]
