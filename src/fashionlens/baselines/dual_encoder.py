"""Baseline (d): a FashionCLIP-style dual encoder built from the same offline parts as fashionlens-mini.

Image side: the frozen EfficientNet-Lite0 tokens, mean-pooled to one 1280-d vector. Text side: frozen
all-MiniLM-L6-v2 sentence embeddings (mean pooling, 384-d). Two linear projections into a 256-d space are
trained with a symmetric InfoNCE loss and a learnable temperature, as CLIP is. It has no caption head:
it is the "retrieval-only" model the thesis compares BLIP-2 against.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from fashionlens.model.hub import MINILM_ID, resolve


class SentenceEncoder:
    """Frozen MiniLM sentence embeddings (mean over tokens, as sentence-transformers does)."""

    def __init__(self, source: str = MINILM_ID, batch_size: int = 128) -> None:
        from transformers import AutoModel, AutoTokenizer

        path = resolve(source)
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModel.from_pretrained(path).eval()
        self.batch_size = batch_size

    @torch.no_grad()
    def __call__(self, texts: Sequence[str]) -> torch.Tensor:
        out = []
        for start in range(0, len(texts), self.batch_size):
            batch = self.tokenizer(
                list(texts[start : start + self.batch_size]),
                padding=True,
                truncation=True,
                max_length=64,
                return_tensors="pt",
            )
            hidden = self.model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            out.append((hidden * mask).sum(1) / mask.sum(1).clamp(min=1))
        return torch.cat(out) if out else torch.zeros(0, self.model.config.hidden_size)


class DualEncoder(nn.Module):
    """Two linear heads over frozen pooled image features and frozen sentence embeddings."""

    def __init__(self, image_dim: int = 1280, text_dim: int = 384, embed_dim: int = 256) -> None:
        super().__init__()
        self.image_proj = nn.Linear(image_dim, embed_dim)
        self.text_proj = nn.Linear(text_dim, embed_dim)
        self.logit_scale = nn.Parameter(torch.tensor(float(np.log(1 / 0.07))))
        self.embed_dim = embed_dim
        self._sentences: SentenceEncoder | None = None

    def embed_image_features(self, features: torch.Tensor) -> torch.Tensor:
        """[N, T, C] encoder tokens (or [N, C] pooled) -> [N, D] unit vectors."""
        pooled = features.float().mean(1) if features.ndim == 3 else features.float()
        return F.normalize(self.image_proj(pooled), dim=-1)

    def embed_text_vectors(self, vectors: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.text_proj(vectors.float()), dim=-1)

    def embed_texts(self, texts: Sequence[str]) -> torch.Tensor:
        if self._sentences is None:
            self._sentences = SentenceEncoder()
        return self.embed_text_vectors(self._sentences(texts))

    def loss(self, image_features: torch.Tensor, text_vectors: torch.Tensor) -> torch.Tensor:
        images = self.embed_image_features(image_features)
        texts = self.embed_text_vectors(text_vectors)
        logits = self.logit_scale.exp().clamp(max=100) * images @ texts.T
        target = torch.arange(len(logits))
        return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2

    def save_pretrained(self, directory: str | Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        dims = {
            "image_dim": self.image_proj.in_features,
            "text_dim": self.text_proj.in_features,
            "embed_dim": self.embed_dim,
        }
        (directory / "config.json").write_text(json.dumps({"architecture": "dual-encoder", **dims}))
        save_file(
            {k: v.contiguous() for k, v in self.state_dict().items()}, str(directory / "model.safetensors")
        )

    @classmethod
    def from_pretrained(cls, directory: str | Path) -> DualEncoder:
        directory = Path(directory)
        config = json.loads((directory / "config.json").read_text())
        config.pop("architecture")
        model = cls(**config)
        model.load_state_dict(load_file(str(directory / "model.safetensors")))
        return model.eval()


def train_dual_encoder(
    image_features: torch.Tensor,
    text_vectors: torch.Tensor,
    *,
    epochs: int = 10,
    batch_size: int = 128,
    lr: float = 1e-3,
    weight_decay: float = 0.01,
    seed: int = 0,
) -> tuple[DualEncoder, list[float]]:
    """Fit the two heads on aligned (image, text) rows; returns the model and the per-epoch mean loss.

    Ten epochs by default: on ~3.3k pairs the heads overfit after that (see ../shared/docs/baselines.md).
    """
    torch.manual_seed(seed)
    image_dim = image_features.shape[-1]
    model = DualEncoder(image_dim=image_dim, text_dim=text_vectors.shape[-1])
    pooled = image_features.float().mean(1) if image_features.ndim == 3 else image_features.float()
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.98), weight_decay=weight_decay)
    generator = torch.Generator().manual_seed(seed)
    history = []
    for _ in range(epochs):
        order = torch.randperm(len(pooled), generator=generator)
        losses = []
        for start in range(0, len(order) - 1, batch_size):
            idx = order[start : start + batch_size]
            if len(idx) < 2:
                continue
            loss = model.loss(pooled[idx], text_vectors[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        history.append(float(np.mean(losses)))
    return model.eval(), history
