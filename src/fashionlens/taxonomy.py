"""The garment taxonomy of the thesis (Tables 3.1 and 3.2) and a validated attributes record.

`taxonomy.json` beside this file is the single source: prompts, JSON schemas, template captions,
search filters and web forms are all generated from it, never hand-copied.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from functools import cache
from importlib import resources
from typing import Any

#: Garment categories the model tags; "other" marks a photo with none of them.
CATEGORIES: tuple[str, ...] = ("top", "dress", "pants", "skirt")
OTHER = "other"
#: Single-valued attribute fields, in caption/prompt order.
SINGLE_FIELDS: tuple[str, ...] = (
    "subcategory",
    "tone",
    "total_length",
    "sleeve_length",
    "fabric",
    "pattern",
    "zip_up",
    "button",
    "neckline",
    "shoulder",
)
#: Multi-valued attribute fields: up to MAX_COLORS main colours (dominant first) and boolean details present.
LIST_FIELDS: tuple[str, ...] = ("color", "details")
ATTRIBUTE_FIELDS: tuple[str, ...] = ("subcategory", "color", *SINGLE_FIELDS[1:], "details")
#: Fields that only make sense for garments covering the upper body.
UPPER_BODY_FIELDS: frozenset[str] = frozenset({"sleeve_length", "neckline", "shoulder"})
UPPER_BODY_CATEGORIES: frozenset[str] = frozenset({"top", "dress"})
#: Where a garment sits in a photo of a worn outfit.
POSITIONS: tuple[str, ...] = ("outer", "top", "bottom", "full")
MAX_COLORS = 3


@cache
def vocabulary() -> dict[str, Any]:
    """The raw taxonomy data (allowed values per field; subcategories per category)."""
    text = resources.files("fashionlens").joinpath("taxonomy.json").read_text(encoding="utf-8")
    return json.loads(text)


def fields_for(category: str) -> tuple[str, ...]:
    """Attribute fields asked for (and captioned) for one category."""
    _check("category", category, CATEGORIES)
    if category in UPPER_BODY_CATEGORIES:
        return ATTRIBUTE_FIELDS
    return tuple(f for f in ATTRIBUTE_FIELDS if f not in UPPER_BODY_FIELDS)


def allowed_values(name: str, category: str | None = None) -> tuple[str, ...]:
    """Allowed values of one field; subcategories are narrowed to `category` when given."""
    vocab = vocabulary()
    if name == "category":
        return CATEGORIES
    if name == "subcategory":
        by_category = vocab["subcategory"]
        if category is not None:
            _check("category", category, CATEGORIES)
            return tuple(by_category[category])
        return tuple(v for c in CATEGORIES for v in by_category[c])
    if name not in vocab:
        raise KeyError(f"unknown attribute field {name!r}; known: {', '.join(ATTRIBUTE_FIELDS)}")
    return tuple(vocab[name])


def category_of(subcategory: str) -> str:
    """The category a subcategory belongs to (the hierarchy of Table 3.2)."""
    for category in CATEGORIES:
        if subcategory in vocabulary()["subcategory"][category]:
            return category
    raise InvalidAttributeError("subcategory", subcategory, allowed_values("subcategory"))


class InvalidAttributeError(ValueError):
    """A value outside the taxonomy; names the field, the bad value and what is allowed."""

    def __init__(self, field_name: str, value: Any, allowed: tuple[str, ...] | str) -> None:
        self.field = field_name
        self.value = value
        self.allowed = allowed
        allowed_text = allowed if isinstance(allowed, str) else ", ".join(allowed)
        super().__init__(f"invalid {field_name}: {value!r} (allowed: {allowed_text})")


def _check(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise InvalidAttributeError(name, value, allowed)


@dataclass(frozen=True)
class GarmentAttributes:
    """One garment's taxonomy attributes. Construction validates every value.

    `None` means unknown (skipped in captions); list fields are tuples, possibly empty.
    """

    category: str
    subcategory: str | None = None
    color: tuple[str, ...] = ()
    tone: str | None = None
    total_length: str | None = None
    sleeve_length: str | None = None
    fabric: str | None = None
    pattern: str | None = None
    zip_up: str | None = None
    button: str | None = None
    neckline: str | None = None
    shoulder: str | None = None
    details: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        # Lists from JSON become tuples so records stay hashable and immutable.
        for name in LIST_FIELDS:
            value = getattr(self, name)
            if value is None:
                object.__setattr__(self, name, ())
            elif isinstance(value, list):
                object.__setattr__(self, name, tuple(value))
        self._validate()

    def _validate(self) -> None:
        if self.category == OTHER:
            present = [n for n in ATTRIBUTE_FIELDS if getattr(self, n)]
            if present:
                raise InvalidAttributeError(
                    present[0], getattr(self, present[0]), "nothing: category is 'other'"
                )
            return
        _check("category", self.category, (*CATEGORIES, OTHER))
        for name in SINGLE_FIELDS:
            value = getattr(self, name)
            if value is None:
                continue
            if name in UPPER_BODY_FIELDS and self.category not in UPPER_BODY_CATEGORIES:
                raise InvalidAttributeError(name, value, f"null for {self.category}")
            _check(name, value, allowed_values(name, self.category))
        for name in LIST_FIELDS:
            values = getattr(self, name)
            if not isinstance(values, tuple):
                raise InvalidAttributeError(name, values, "a list of values")
            allowed = allowed_values(name)
            for value in values:
                _check(name, value, allowed)
            if len(set(values)) != len(values):
                raise InvalidAttributeError(name, list(values), "distinct values")
        if len(self.color) > MAX_COLORS:
            raise InvalidAttributeError("color", list(self.color), f"at most {MAX_COLORS} colours")

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> GarmentAttributes:
        """Build from a labels.jsonl-style record, ignoring non-attribute keys (id, image, description...)."""
        if "category" not in record:
            raise InvalidAttributeError("category", None, (*CATEGORIES, OTHER))
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in record.items() if k in names})

    def to_record(self) -> dict[str, Any]:
        """Plain JSON-ready dict, list fields as lists, upper-body fields null where they don't apply."""
        record = asdict(self)
        for name in LIST_FIELDS:
            record[name] = list(record[name])
        return record


def json_schema(category: str) -> dict[str, Any]:
    """JSON schema of one garment's attributes for `category`: enums, all fields required, nulls allowed
    only where a value may be genuinely absent (colour list may be empty only for `details`)."""
    properties: dict[str, Any] = {}
    for name in fields_for(category):
        values = list(allowed_values(name, category))
        if name == "color":
            properties[name] = {
                "type": "array",
                "items": {"type": "string", "enum": values},
                "minItems": 1,
                "maxItems": MAX_COLORS,
            }
        elif name == "details":
            properties[name] = {"type": "array", "items": {"type": "string", "enum": values}}
        else:
            properties[name] = {"type": "string", "enum": values}
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }
