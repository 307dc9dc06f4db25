"""Attribute heads: one softmax layer per taxonomy field on what the model reads of a photo for tagging, its
garment view (`fashionlens.model.garment_view`), and for colour and tone also its colour histogram
(`fashionlens.model.colours`).

They are part of a model (`FashionBlip2.attribute_heads`, saved beside its weights as `HEADS_FILE`): they
auto-tag catalogue photos for search filters, and their tags guide the caption (`generation.tags_prompt`).
Fitted on the labelled train product photos of ../shared/data/clothing (`benchmarks/autotag.py --fit-out`),
they beat the zero-shot phrases of `fashionlens.search.autotag` on every field, and heads on the joint
embedding on category (dev: 0.893 -> 0.941), subcategory (0.532 -> 0.598) and tone; colour is a point lower.

Prediction follows the taxonomy's hierarchy: the category head picks the category, the subcategory head picks
among that category's subcategories, and the upper-body fields are only predicted for tops and dresses.
Colour is the top-1 colour (the head learns the dominant labelled colour), and the runner-up as well where it
is at least `SECOND_COLOUR_RATIO` times as likely: 40 % of the labelled garments have several main colours (a
navy and white striped shirt). Details are multi-valued and have no head: they stay empty.

Inputs are named (`RECIPES`): each head reads the concatenation of the inputs in `reads[field]`, and the file
records which, with each input's recipe and the image encoder the views came from (`encoder`), so
that heads fitted on another recipe or encoder are refused rather than fed features they never saw. The
file holds `{field}.weight` [C, D] and `{field}.bias` [C] per field and that metadata.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from fashionlens.model.colours import HISTOGRAM_ID
from fashionlens.model.garment_view import VIEW_ID
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
#: What a model computes of a photo for its heads (`FashionBlip2.tag_inputs`), and each one's recipe.
RECIPES: dict[str, str] = {"view": VIEW_ID, "histogram": HISTOGRAM_ID}
#: Fields whose heads also read the colour histogram (where one is given to `fit`).
COLOUR_FIELDS: tuple[str, ...] = ("color", "tone")
#: A second colour is named where its probability is at least this share of the first's. Chosen on the dev
#: photos (benchmarks/autotag.py) so that two colours are named for fewer photos (30 %) than the labels list
#: two or more for (40 %).
SECOND_COLOUR_RATIO = 0.5
#: Inputs are unit vectors: scaling lets a weight-decayed layer reach confident logits.
INPUT_SCALE = 10.0
#: Adam's L2 penalty: chosen on the dev photos and on contributor-grouped cross-validation on train.
WEIGHT_DECAY = 0.01

Inputs = Mapping[str, np.ndarray | torch.Tensor]


def _label(attributes: GarmentAttributes, field: str) -> str | None:
    if field == "color":
        return attributes.color[0] if attributes.color else None
    return getattr(attributes, field)


def _recipe(name: str) -> str:
    """An input's recipe; an input a model does not compute (a benchmark's "embedding") is its own."""
    return RECIPES.get(name, name)


def default_reads(inputs: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """Of the inputs given, every field reads all but the colour histogram, which colour and tone read too."""
    return {
        field: tuple(name for name in inputs if name != "histogram" or field in COLOUR_FIELDS)
        for field in HEAD_FIELDS
    }


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
    """Predicts `GarmentAttributes` from named per-photo inputs ({"view": [N, F], "histogram": [N, B]}) with
    per-field linear heads, each reading the inputs `reads[field]`."""

    def __init__(
        self,
        heads: dict[str, torch.nn.Linear],
        classes: dict[str, tuple[str, ...]],
        reads: dict[str, tuple[str, ...]],
        encoder: str,
    ) -> None:
        missing = {"category", "subcategory"} - set(heads)
        if missing or set(heads) != set(classes) or set(heads) != set(reads):
            raise ValueError(
                "heads need category and subcategory, and one class list and inputs each; "
                f"got {sorted(heads)}"
            )
        self.heads = heads
        self.classes = classes
        self.reads = reads
        self.encoder = encoder

    @property
    def inputs(self) -> tuple[str, ...]:
        """The names of the inputs `predict` needs, sorted."""
        return tuple(sorted({name for names in self.reads.values() for name in names}))

    @classmethod
    def fit(
        cls,
        inputs: Inputs,
        attributes: Sequence[GarmentAttributes],
        encoder: str,
        reads: Mapping[str, tuple[str, ...]] | None = None,
        steps: int = 300,
    ) -> AttributeHeads:
        """Fit on per-photo inputs (arrays [N, D] by name; `reads` says which each field reads, by default
        `default_reads`) of photos the image encoder named `encoder` saw: every field of `HEAD_FIELDS` on the
        rows whose label is known (upper-body fields: tops and dresses only); a field no row labels gets no
        head."""
        reads = dict(reads or default_reads(list(inputs)))
        unknown = {name for names in reads.values() for name in names} - set(inputs)
        if unknown or not all(reads.get(field) for field in HEAD_FIELDS):
            raise ValueError(f"every field must read given inputs; reads {reads}, inputs {sorted(inputs)}")
        heads, classes = {}, {}
        for field in HEAD_FIELDS:
            rows = [(i, _label(a, field)) for i, a in enumerate(attributes) if a.category in CATEGORIES]
            rows = [(i, label) for i, label in rows if label is not None]
            if rows:
                x = np.hstack([np.asarray(inputs[name], dtype=np.float32) for name in reads[field]])
                classes[field] = allowed_values(field)
                heads[field] = fit_head(
                    x[[i for i, _ in rows]], [label for _, label in rows], classes[field], steps
                )
        return cls(heads, classes, {field: reads[field] for field in heads}, encoder)

    def fits(self, encoder: str) -> bool:
        """Whether views from the image encoder named `encoder` (`FashionBlip2.encoder_id`) are what the heads
        were fitted on."""
        return "view" not in self.inputs or encoder == self.encoder

    def logits(self, inputs: Inputs) -> dict[str, np.ndarray]:
        """Per field, logits [N, C] over `classes[field]`; raises ValueError where an input the heads read is
        missing."""
        missing = [name for name in self.inputs if name not in inputs]
        if missing:
            raise ValueError(
                f"the attribute heads read {', '.join(self.inputs)} of each photo; missing "
                f"{', '.join(missing)}: pass inputs=model.tag_inputs(images)"
            )
        tensors = {name: torch.as_tensor(np.asarray(inputs[name], dtype=np.float32)) for name in self.inputs}
        with torch.no_grad():
            return {
                field: head(
                    torch.cat([tensors[name] for name in self.reads[field]], dim=1) * INPUT_SCALE
                ).numpy()
                for field, head in self.heads.items()
            }

    def predict(self, inputs: Inputs) -> list[GarmentAttributes]:
        """One attributes record per photo (row of the inputs), consistent with the taxonomy."""
        logits = self.logits(inputs)
        rows = len(next(iter(logits.values())))
        return [self._tags({field: scores[n] for field, scores in logits.items()}) for n in range(rows)]

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
        """Write the heads, what each reads and the inputs' recipes (see the module docstring)."""
        tensors = {
            f"{field}.{name}": p.detach().contiguous()
            for field, h in self.heads.items()
            for name, p in h.named_parameters()
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        metadata = {
            "classes": json.dumps(self.classes),
            "reads": json.dumps(self.reads),
            "recipes": json.dumps({name: _recipe(name) for name in self.inputs}),
            "encoder": self.encoder,
        }
        save_file(tensors, str(path), metadata=metadata)

    @classmethod
    def load(cls, path: Path) -> AttributeHeads:
        """Read heads written by `save`; raises ValueError for heads fitted on inputs of another recipe (or
        written by a version before named inputs)."""
        with safe_open(str(path), "pt") as file:
            metadata = file.metadata()
            tensors = {name: file.get_tensor(name) for name in file.keys()}  # noqa: SIM118 (a safetensors handle, not a dict)
        if "reads" not in metadata:
            raise ValueError(
                f"{path}: heads of an older version: refit them (benchmarks/autotag.py --fit-out)"
            )
        recipes = json.loads(metadata["recipes"])
        stale = {name: recipe for name, recipe in recipes.items() if recipe != _recipe(name)}
        if stale:
            made = {name: _recipe(name) for name in stale}
            raise ValueError(
                f"{path}: heads fitted on {stale}, this version makes {made}: refit them "
                "(benchmarks/autotag.py --fit-out)"
            )
        classes = {field: tuple(values) for field, values in json.loads(metadata["classes"]).items()}
        reads = {field: tuple(names) for field, names in json.loads(metadata["reads"]).items()}
        heads = {}
        for field, values in classes.items():
            weight = tensors[f"{field}.weight"]
            heads[field] = torch.nn.Linear(weight.shape[1], len(values)).requires_grad_(False)
            heads[field].load_state_dict({"weight": weight, "bias": tensors[f"{field}.bias"]})
        return cls(heads, classes, reads, metadata["encoder"])
