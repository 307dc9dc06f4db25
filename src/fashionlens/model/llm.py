"""The frozen causal language model that writes captions (OPT for blip2-opt, SmolLM2 for fashionlens-mini)."""

from __future__ import annotations

import torch
from transformers import AutoConfig, AutoModelForCausalLM, PreTrainedModel

from fashionlens.model.config import LLMConfig
from fashionlens.model.hub import resolve


def build_llm(
    config: LLMConfig,
    dtype: torch.dtype,
    blip2_language_model: PreTrainedModel | None = None,
    pretrained: bool = True,
) -> PreTrainedModel:
    """The LLM named by `config`: the language model of a loaded BLIP-2 checkpoint when given, else the
    pretrained `source`, else (no source, or `pretrained=False`) a random model from `architecture`."""
    if blip2_language_model is not None:
        return blip2_language_model
    if config.source is None or not pretrained:
        architecture = dict(config.architecture)
        hf_config = AutoConfig.for_model(architecture.pop("model_type"), **architecture)
        return AutoModelForCausalLM.from_config(hf_config)
    return AutoModelForCausalLM.from_pretrained(resolve(config.source), dtype=dtype)


def is_blip2_checkpoint(source: str) -> bool:
    """Whether `source` is a whole BLIP-2 checkpoint (its LLM is then taken from inside it)."""
    return AutoConfig.from_pretrained(resolve(source)).model_type == "blip-2"
