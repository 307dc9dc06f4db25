"""Fine-tuning modes: what trains is decided here and nowhere else (`configure_trainable`).

- `lora`: LoRA adapters (rank 8 by default) on query and key of the Q-Former's self- and cross-attention and
  of the LLM's attention (`q_proj`/`k_proj` for OPT and Llama-style models), as the thesis;
- `qformer`: the whole Q-Former (layers, text embeddings, query tokens) trained in full (thesis Table 4.2).

In both modes the parameters matching `finetune.trainable` (new heads, new layers) train in full; the image
encoder and the LLM weights never train.
"""

from __future__ import annotations

from fnmatch import fnmatchcase

from peft import LoraConfig, inject_adapter_in_model
from torch import nn

from fashionlens.model.config import FinetuneConfig

#: Parameters that make up the Q-Former in `qformer` mode.
QFORMER_PREFIXES = ("qformer.", "embeddings.", "query_tokens")


def add_lora(module: nn.Module, targets: tuple[str, ...], finetune: FinetuneConfig) -> None:
    """Inject LoRA adapters (named `...<target>.lora_A.default.weight`) into every submodule of `module`
    whose name ends with one of `targets`; peft raises if none matches."""
    config = LoraConfig(
        r=finetune.lora_rank,
        lora_alpha=finetune.lora_alpha,
        lora_dropout=finetune.lora_dropout,
        target_modules=list(targets),
    )
    inject_adapter_in_model(config, module)


def is_trainable(name: str, finetune: FinetuneConfig) -> bool:
    """Whether parameter `name` (of FashionBlip2) trains under `finetune`."""
    if any(fnmatchcase(name, pattern) for pattern in finetune.trainable):
        return True
    if finetune.mode == "lora":
        return ".lora_" in name
    return name.startswith(QFORMER_PREFIXES)


def configure_trainable(model: nn.Module, finetune: FinetuneConfig) -> None:
    """Add the adapters the mode needs, then freeze everything except the parameters it trains."""
    if finetune.mode == "lora":
        add_lora(model.qformer, finetune.qformer_lora_targets, finetune)
        add_lora(model.llm, finetune.llm_lora_targets, finetune)
    for name, parameter in model.named_parameters():
        parameter.requires_grad_(is_trainable(name, finetune))
