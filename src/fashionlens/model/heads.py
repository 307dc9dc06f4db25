"""Attribute heads: one softmax layer per taxonomy field on the model's joint image embedding.

They are part of a model (`FashionBlip2.attribute_heads`, saved beside its weights as `HEADS_FILE`): they
auto-tag catalogue photos for search filters, and their tags guide the caption (`generation.tags_prompt`).
Fitted on the labelled train product photos of ../shared/data/clothing (`benchmarks/autotag.py --fit-out`),
they beat the zero-shot phrases of `fashionlens.search.autotag` on every field measured.

Prediction follows the taxonomy's hierarchy: the category head picks the category, the subcategory head picks
among that category's subcategories, and the upper-body fields are only predicted for tops and dresses.
Colour is the top-1 colour (the heads learn the dominant labelled colour). Details are multi-valued and have
no head: they stay empty.

The file holds `{field}.weight` [C, D] and `{field}.bias` [C] per field, the class names per field in its
metadata, and `probe`: the text embedding of `PROBE_PHRASE` by the model the heads were fitted on. A model
whose embedding space moved since (fine-tuned further) embeds it differently, and `fits` tells so.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from fashionlens.taxonomy import (
    CATEGORIES,
    SINGLE_FIELDS,
    UPPER_BODY_CATEGORIES,
    UPPER_BODY_FIELDS,
    GarmentAttributes,
    allowed_values,
)

HEADS_FILE = "attribute_heads.safetensors"
#: Fields with a head, in prediction order; colour is fitted on the dominant labelled colour.
HEAD_FIELDS: tuple[str, ...] = ("category", *SINGLE_FIELDS[:1], "color", *SINGLE_FIELDS[1:])
PROBE_PHRASE = "A red top."
#: Embeddings are unit vectors: scaling them lets a weight-decayed linear layer reach confident logits.
INPUT_SCALE = 10.0


class TextEmbedder(Protocol):
    def embed_texts(self, texts: list[str]) -> torch.Tensor: ...


def probe_embedding(model: TextEmbedder) -> torch.Tensor:
    """The model's embedding of `PROBE_PHRASE` [D]: a fingerprint of its embedding space."""
    return torch.as_tensor(model.embed_texts([PROBE_PHRASE]), dtype=torch.float32)[0]


def _label(attributes: GarmentAttributes, field: str) -> str | None:
    if field == "color":
        return attributes.color[0] if attributes.color else None
    return getattr(attributes, field)


def fit_head(
    x: np.ndarray, labels: Sequence[str], classes: tuple[str, ...], steps: int = 300
) -> torch.nn.Linear:
    """A softmax layer x [N, D] -> classes, full batch with Adam; classes absent from the labels keep their
    random logits."""
    torch.manual_seed(0)
    head = torch.nn.Linear(x.shape[1], len(classes))
    inputs = torch.from_numpy(np.asarray(x, dtype=np.float32)) * INPUT_SCALE
    targets = torch.tensor([classes.index(label) for label in labels])
    optimiser = torch.optim.Adam(head.parameters(), lr=0.01, weight_decay=1e-4)
    for _ in range(steps):
        optimiser.zero_grad()
        torch.nn.functional.cross_entropy(head(inputs), targets).backward()
        optimiser.step()
    return head.requires_grad_(False)


class AttributeHeads:
    """Predicts `GarmentAttributes` from L2-normalised image embeddings [N, D] with per-field linear heads."""

    def __init__(
        self, heads: dict[str, torch.nn.Linear], classes: dict[str, tuple[str, ...]], probe: torch.Tensor
    ) -> None:
        missing = {"category", "subcategory"} - set(heads)
        if missing or set(heads) != set(classes):
            raise ValueError(
                f"heads need category and subcategory and one class list each; got {sorted(heads)}"
            )
        self.heads = heads
        self.classes = classes
        self.probe = probe

    @classmethod
    def fit(
        cls, x: np.ndarray, attributes: Sequence[GarmentAttributes], model: TextEmbedder, steps: int = 300
    ) -> AttributeHeads:
        """Fit on `model`'s image embeddings x [N, D]: every field of `HEAD_FIELDS` on the rows whose label
        is known (upper-body fields: tops and dresses only); a field no row labels gets no head."""
        heads, classes = {}, {}
        for field in HEAD_FIELDS:
            rows = [(i, _label(a, field)) for i, a in enumerate(attributes) if a.category in CATEGORIES]
            rows = [(i, label) for i, label in rows if label is not None]
            if rows:
                classes[field] = allowed_values(field)
                heads[field] = fit_head(
                    x[[i for i, _ in rows]], [label for _, label in rows], classes[field], steps
                )
        return cls(heads, classes, probe_embedding(model))

    def fits(self, model: TextEmbedder) -> bool:
        """Whether `model` embeds as the model the heads were fitted on (same probe embedding)."""
        embedded = probe_embedding(model)
        return embedded.shape == self.probe.shape and bool(torch.allclose(embedded, self.probe, atol=1e-4))

    def logits(self, embeddings: np.ndarray | torch.Tensor) -> dict[str, np.ndarray]:
        """Per field, logits [N, C] over `classes[field]`."""
        x = torch.as_tensor(np.asarray(embeddings, dtype=np.float32)) * INPUT_SCALE
        with torch.no_grad():
            return {field: head(x).numpy() for field, head in self.heads.items()}

    def predict(self, embeddings: np.ndarray | torch.Tensor) -> list[GarmentAttributes]:
        """One attributes record per image embedding row [N, D], consistent with the taxonomy."""
        logits = self.logits(embeddings)
        return [
            self._tags({field: scores[n] for field, scores in logits.items()}) for n in range(len(embeddings))
        ]

    def _tags(self, scores: dict[str, np.ndarray]) -> GarmentAttributes:
        def best(field: str, category: str) -> str:
            allowed = allowed_values(field, category)
            classes = self.classes[field]
            return max(allowed, key=lambda value: scores[field][classes.index(value)])

        category = self.classes["category"][int(np.argmax(scores["category"]))]
        tags: dict[str, Any] = {}
        for field in self.heads:
            if field == "category" or (field in UPPER_BODY_FIELDS and category not in UPPER_BODY_CATEGORIES):
                continue
            tags[field] = (best(field, category),) if field == "color" else best(field, category)
        return GarmentAttributes(category, **tags)

    def save(self, path: Path) -> None:
        """Write the heads and their probe (see the module docstring)."""
        tensors = {
            f"{field}.{name}": p.detach().contiguous()
            for field, h in self.heads.items()
            for name, p in h.named_parameters()
        }
        tensors["probe"] = self.probe.contiguous()
        path.parent.mkdir(parents=True, exist_ok=True)
        save_file(tensors, str(path), metadata={"classes": json.dumps(self.classes)})

    @classmethod
    def load(cls, path: Path) -> AttributeHeads:
        """Read heads written by `save`."""
        with safe_open(str(path), "pt") as file:
            metadata = file.metadata()
            tensors = {name: file.get_tensor(name) for name in file.keys()}  # noqa: SIM118 (a safetensors handle, not a dict)
        classes = {field: tuple(values) for field, values in json.loads(metadata["classes"]).items()}
        heads = {}
        for field, values in classes.items():
            weight = tensors[f"{field}.weight"]
            heads[field] = torch.nn.Linear(weight.shape[1], len(values)).requires_grad_(False)
            heads[field].load_state_dict({"weight": weight, "bias": tensors[f"{field}.bias"]})
        return cls(heads, classes, tensors["probe"])
