"""Attribute heads: one softmax layer per taxonomy field on the model's joint image embedding (colour and
tone: on the embedding and the photo's colour histogram).

They are part of a model (`FashionBlip2.attribute_heads`, saved beside its weights as `HEADS_FILE`): they
auto-tag catalogue photos for search filters, and their tags guide the caption (`generation.tags_prompt`).
Fitted on the labelled train product photos of ../shared/data/clothing (`benchmarks/autotag.py --fit-out`),
they beat the zero-shot phrases of `fashionlens.search.autotag` on every field measured.

Prediction follows the taxonomy's hierarchy: the category head picks the category, the subcategory head picks
among that category's subcategories, and the upper-body fields are only predicted for tops and dresses.
Colour is the top-1 colour (the head learns the dominant labelled colour), and the runner-up as well where it
is at least `SECOND_COLOUR_RATIO` times as likely: 40 % of the labelled garments have several main colours (a
navy and white striped shirt). Details are multi-valued and have no head: they stay empty.

Heads fitted with colour histograms (`fashionlens.model.colours`) read, for colour and tone
(`COLOUR_FIELDS`), the embedding and the photo's histogram side by side: the embedding keeps the garment's
kind far better than its hue (dev, `benchmarks/autotag.py`: a labelled colour named 48.9 % -> 68.6 %; tone
75.7 % -> 80.5 %, where the majority class scores 73.9 %).

The file holds `{field}.weight` [C, D (+ B)] and `{field}.bias` [C] per field; in its metadata the class
names per field, the fields that read histograms and the histogram recipe; and `probe`: the text embedding
of `PROBE_PHRASE` by the model the heads were fitted on. A model whose embedding space moved since (fine-tuned
further) embeds it differently, and `fits` tells so.
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

from fashionlens.model.colours import HISTOGRAM_ID, colour_features
from fashionlens.model.feature_cache import FeatureCache, ImageInput
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
#: Fields whose heads also read the colour histogram, where the heads were fitted with histograms.
COLOUR_FIELDS: tuple[str, ...] = ("color", "tone")
#: A second colour is named where its probability is at least this share of the first's. Chosen on the dev
#: photos (benchmarks/autotag.py) so that two colours are named for fewer photos (30 %) than the labels list
#: two or more for (40 %): a labelled colour is then named for 78.0 % instead of 68.6 % of dev photos, at a
#: precision (named colours that are labelled) of 61.5 % instead of 68.6 %.
SECOND_COLOUR_RATIO = 0.5
PROBE_PHRASE = "A red top."
#: Embeddings and histograms are unit vectors: scaling lets a weight-decayed layer reach confident logits.
INPUT_SCALE = 10.0
#: Adam's L2 penalty: chosen on the dev photos, the colour head on 3,276 photos overfits with less.
WEIGHT_DECAY = 0.03


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
    optimiser = torch.optim.Adam(head.parameters(), lr=0.01, weight_decay=WEIGHT_DECAY)
    for _ in range(steps):
        optimiser.zero_grad()
        torch.nn.functional.cross_entropy(head(inputs), targets).backward()
        optimiser.step()
    return head.requires_grad_(False)


class AttributeHeads:
    """Predicts `GarmentAttributes` from L2-normalised image embeddings [N, D] (and, for `colour_fields`, the
    photos' colour histograms [N, B]) with per-field linear heads."""

    def __init__(
        self,
        heads: dict[str, torch.nn.Linear],
        classes: dict[str, tuple[str, ...]],
        probe: torch.Tensor,
        colour_fields: tuple[str, ...] = (),
    ) -> None:
        missing = {"category", "subcategory"} - set(heads)
        if missing or set(heads) != set(classes):
            raise ValueError(
                f"heads need category and subcategory and one class list each; got {sorted(heads)}"
            )
        self.heads = heads
        self.classes = classes
        self.probe = probe
        self.colour_fields = tuple(field for field in colour_fields if field in heads)

    @property
    def needs_colours(self) -> bool:
        """Whether `predict` needs the photos' colour histograms (`fashionlens.model.colours`)."""
        return bool(self.colour_fields)

    def colours_for(
        self, images: Sequence[ImageInput], cache: FeatureCache | None = None
    ) -> torch.Tensor | None:
        """The `colours` argument of `predict` for these PIL images or paths: their histograms [N, B], or
        None for heads that read none."""
        return colour_features(images, cache) if self.needs_colours else None

    @classmethod
    def fit(
        cls,
        x: np.ndarray,
        attributes: Sequence[GarmentAttributes],
        model: TextEmbedder,
        colours: np.ndarray | None = None,
        steps: int = 300,
    ) -> AttributeHeads:
        """Fit on `model`'s image embeddings x [N, D] (and, given, the photos' colour histograms [N, B] for
        `COLOUR_FIELDS`): every field of `HEAD_FIELDS` on the rows whose label is known (upper-body fields:
        tops and dresses only); a field no row labels gets no head."""
        colour_fields = COLOUR_FIELDS if colours is not None else ()
        heads, classes = {}, {}
        for field in HEAD_FIELDS:
            rows = [(i, _label(a, field)) for i, a in enumerate(attributes) if a.category in CATEGORIES]
            rows = [(i, label) for i, label in rows if label is not None]
            if rows:
                inputs = np.hstack([x, colours]) if field in colour_fields else x
                classes[field] = allowed_values(field)
                heads[field] = fit_head(
                    inputs[[i for i, _ in rows]], [label for _, label in rows], classes[field], steps
                )
        return cls(heads, classes, probe_embedding(model), colour_fields)

    def fits(self, model: TextEmbedder) -> bool:
        """Whether `model` embeds as the model the heads were fitted on (same probe embedding)."""
        embedded = probe_embedding(model)
        return embedded.shape == self.probe.shape and bool(torch.allclose(embedded, self.probe, atol=1e-4))

    def logits(
        self, embeddings: np.ndarray | torch.Tensor, colours: np.ndarray | torch.Tensor | None = None
    ) -> dict[str, np.ndarray]:
        """Per field, logits [N, C] over `classes[field]`; raises ValueError without the colour histograms
        [N, B] heads fitted with them need."""
        x = torch.as_tensor(np.asarray(embeddings, dtype=np.float32))
        with_colours = x
        if self.needs_colours:
            if colours is None:
                raise ValueError(
                    f"the {'/'.join(self.colour_fields)} heads read the photos' colour histograms too: pass "
                    "colours=fashionlens.model.colours.colour_features(images)"
                )
            with_colours = torch.cat([x, torch.as_tensor(np.asarray(colours, dtype=np.float32))], dim=1)
        with torch.no_grad():
            return {
                field: head((with_colours if field in self.colour_fields else x) * INPUT_SCALE).numpy()
                for field, head in self.heads.items()
            }

    def predict(
        self, embeddings: np.ndarray | torch.Tensor, colours: np.ndarray | torch.Tensor | None = None
    ) -> list[GarmentAttributes]:
        """One attributes record per image embedding row [N, D] (with its colour histogram row where the
        heads need one), consistent with the taxonomy."""
        logits = self.logits(embeddings, colours)
        return [
            self._tags({field: scores[n] for field, scores in logits.items()}) for n in range(len(embeddings))
        ]

    def _tags(self, scores: dict[str, np.ndarray]) -> GarmentAttributes:
        def ranked(field: str, category: str) -> list[tuple[str, float]]:
            """Allowed values with their logits, best first."""
            classes = self.classes[field]
            allowed = allowed_values(field, category)
            return sorted(
                ((value, float(scores[field][classes.index(value)])) for value in allowed),
                key=lambda pair: -pair[1],
            )

        def best(field: str, category: str) -> str:
            return ranked(field, category)[0][0]

        def colours(category: str) -> tuple[str, ...]:
            (first, top), *rest = ranked("color", category)
            # softmax ratio p2 / p1 = exp(logit2 - logit1)
            if rest and np.exp(rest[0][1] - top) >= SECOND_COLOUR_RATIO:
                return first, rest[0][0]
            return (first,)

        category = self.classes["category"][int(np.argmax(scores["category"]))]
        tags: dict[str, Any] = {}
        for field in self.heads:
            if field == "category" or (field in UPPER_BODY_FIELDS and category not in UPPER_BODY_CATEGORIES):
                continue
            tags[field] = colours(category) if field == "color" else best(field, category)
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
        metadata = {
            "classes": json.dumps(self.classes),
            "colour_fields": json.dumps(self.colour_fields),
            "histogram": HISTOGRAM_ID,
        }
        save_file(tensors, str(path), metadata=metadata)

    @classmethod
    def load(cls, path: Path) -> AttributeHeads:
        """Read heads written by `save`; raises ValueError for heads fitted on another histogram recipe."""
        with safe_open(str(path), "pt") as file:
            metadata = file.metadata()
            tensors = {name: file.get_tensor(name) for name in file.keys()}  # noqa: SIM118 (a safetensors handle, not a dict)
        classes = {field: tuple(values) for field, values in json.loads(metadata["classes"]).items()}
        colour_fields = tuple(json.loads(metadata.get("colour_fields", "[]")))
        if colour_fields and metadata.get("histogram") != HISTOGRAM_ID:
            raise ValueError(
                f"{path}: heads fitted on colour histograms {metadata.get('histogram')!r}, this version "
                f"makes {HISTOGRAM_ID!r}: refit them (benchmarks/autotag.py --fit-out)"
            )
        heads = {}
        for field, values in classes.items():
            weight = tensors[f"{field}.weight"]
            heads[field] = torch.nn.Linear(weight.shape[1], len(values)).requires_grad_(False)
            heads[field].load_state_dict({"weight": weight, "bias": tensors[f"{field}.bias"]})
        return cls(heads, classes, tensors["probe"], colour_fields)
