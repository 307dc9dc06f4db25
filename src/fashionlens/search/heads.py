"""Auto-tagging with linear heads: one softmax layer per taxonomy field on a model's joint image embedding.

Fitted on the labelled train product photos of ../shared/data/clothing, they beat the zero-shot phrases of
`fashionlens.search.autotag` on every field measured (`benchmarks/autotag.py`), so a model that ships a heads
file (`attribute_heads.safetensors` in its weights folder) tags with them; other models fall back to zero-shot
(`tagger_for`).

Prediction follows the taxonomy's hierarchy: the category head picks the category, the subcategory head picks
among that category's subcategories, and the upper-body fields are only predicted for tops and dresses.
Colour is the top-1 colour (the heads learn the dominant labelled colour). Details are multi-valued and have
no head: they stay empty.

The file holds `{field}.weight` [C, D] and `{field}.bias` [C] per field, the class names per field in its
metadata, and `probe`: the model's text embedding of `PROBE_PHRASE`, which tells a fine-tuned model (whose
embedding space moved) from the one the heads were fitted on.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from fashionlens.search.autotag import TextEmbedder, ZeroShotTagger
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
WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "model" / "weights"


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

    def __init__(self, heads: dict[str, torch.nn.Linear], classes: dict[str, tuple[str, ...]]) -> None:
        missing = {"category", "subcategory"} - set(heads)
        if missing or set(heads) != set(classes):
            raise ValueError(
                f"heads need category and subcategory and one class list each; got {sorted(heads)}"
            )
        self.heads = heads
        self.classes = classes

    @classmethod
    def fit(cls, x: np.ndarray, attributes: Sequence[GarmentAttributes], steps: int = 300) -> AttributeHeads:
        """Fit every field of `HEAD_FIELDS` on the rows whose label is known (upper-body fields: tops and
        dresses only); a field no row labels gets no head and is left unknown."""
        heads, classes = {}, {}
        for field in HEAD_FIELDS:
            rows = [(i, _label(a, field)) for i, a in enumerate(attributes) if a.category in CATEGORIES]
            rows = [(i, label) for i, label in rows if label is not None]
            if rows:
                classes[field] = allowed_values(field)
                heads[field] = fit_head(
                    x[[i for i, _ in rows]], [label for _, label in rows], classes[field], steps
                )
        return cls(heads, classes)

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

    def save(self, path: Path, model: TextEmbedder) -> None:
        """Write the heads with `model`'s probe embedding, so `load` can refuse them for another model."""
        tensors = {
            f"{field}.{name}": p.detach().contiguous()
            for field, h in self.heads.items()
            for name, p in h.named_parameters()
        }
        tensors["probe"] = torch.as_tensor(model.embed_texts([PROBE_PHRASE]), dtype=torch.float32)[0]
        path.parent.mkdir(parents=True, exist_ok=True)
        save_file(tensors, str(path), metadata={"classes": json.dumps(self.classes)})

    @classmethod
    def load(cls, path: Path, model: TextEmbedder | None = None) -> AttributeHeads:
        """Read heads written by `save`; with `model`, raise ValueError unless they were fitted on it."""
        with safe_open(str(path), "pt") as file:
            metadata = file.metadata()
            tensors = {name: file.get_tensor(name) for name in file.keys()}  # noqa: SIM118 (a safetensors handle, not a dict)
        classes = {field: tuple(values) for field, values in json.loads(metadata["classes"]).items()}
        probe = tensors.pop("probe")
        if model is not None:
            embedded = torch.as_tensor(model.embed_texts([PROBE_PHRASE]), dtype=torch.float32)[0]
            if embedded.shape != probe.shape or not torch.allclose(embedded, probe, atol=1e-4):
                raise ValueError(f"{path}: attribute heads were fitted on another model")
        heads = {}
        for field, values in classes.items():
            weight = tensors[f"{field}.weight"]
            heads[field] = torch.nn.Linear(weight.shape[1], len(values)).requires_grad_(False)
            heads[field].load_state_dict({"weight": weight, "bias": tensors[f"{field}.bias"]})
        return cls(heads, classes)


def shipped_heads_path(model: Any) -> Path | None:
    """The heads file shipped next to a registered model's weights, or None when it ships none."""
    config = getattr(model, "config", None)
    path = WEIGHTS_DIR / str(getattr(config, "name", "")) / HEADS_FILE
    return path if config is not None and path.is_file() else None


def tagger_for(model: Any, phrase_file: Path | None = None) -> AttributeHeads | ZeroShotTagger:
    """The auto-tagger indexing and `describe` use: the model's shipped heads when they were fitted on this
    very model, else zero-shot phrases (`phrase_file` caches their embeddings)."""
    path = shipped_heads_path(model)
    if path is not None:
        try:
            return AttributeHeads.load(path, model)
        except ValueError:
            pass  # fine-tuned away from the shipped weights: the heads no longer fit its embeddings
    return ZeroShotTagger(model, phrase_file)
