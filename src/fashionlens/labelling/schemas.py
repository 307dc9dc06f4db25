"""Structured-output schemas of the two labelling stages, generated from the taxonomy, and their validator.

Every request carries `response_format={"type": "json_schema", ...}` with the answer list fixed to the
number of images in it, so a compliant server (OpenAI, vLLM, Ollama, llama.cpp) can only return parseable,
in-taxonomy JSON. Not every server enforces it, so each answer is checked again here against the same schema,
and then for what a schema cannot say (distinct positions, positions that fit the category, distinct colours).
"""

from __future__ import annotations

import json
from typing import Any

from fashionlens import taxonomy
from fashionlens.taxonomy import CATEGORIES, POSITIONS, GarmentAttributes, InvalidAttributeError

#: Name of stage 1 (which garments a photo shows); stage 2 is named by the category it asks about.
GARMENTS = "garments"
#: The categories a garment at each position of a worn outfit can have.
POSITION_CATEGORIES: dict[str, tuple[str, ...]] = {
    "outer": ("top",),
    "top": ("top",),
    "bottom": ("pants", "skirt"),
    "full": ("dress",),
}
_JSON_TYPES: dict[str, type] = {"object": dict, "array": list, "string": str}


class AnswerError(ValueError):
    """An answer the pipeline cannot use: malformed JSON, the wrong shape, or a value outside the taxonomy."""


def _object(properties: dict[str, Any]) -> dict[str, Any]:
    # Strict structured outputs need every property required and no others allowed.
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def garments_schema(describe: bool = False) -> dict[str, Any]:
    """Stage-1 answer for one photo: the garments it shows (none for an "other" photo), each with a position.

    With `describe`, a `description` sentence of the photo, kept only for photos with no garment.
    """
    garment = _object(
        {
            "category": {"type": "string", "enum": list(CATEGORIES)},
            "position": {"type": "string", "enum": list(POSITIONS)},
        }
    )
    properties: dict[str, Any] = {"garments": {"type": "array", "items": garment, "maxItems": len(POSITIONS)}}
    if describe:
        properties["description"] = {"type": "string"}
    return _object(properties)


def attributes_schema(category: str, describe: bool = False) -> dict[str, Any]:
    """Stage-2 answer for one garment of `category`: its taxonomy attributes, and a `description` if asked."""
    schema = taxonomy.json_schema(category)
    if describe:
        schema = _object({**schema["properties"], "description": {"type": "string"}})
    return schema


def item_schema(stage: str, describe: bool = False) -> dict[str, Any]:
    """The schema of one image's answer in `stage` (GARMENTS or a category)."""
    return garments_schema(describe) if stage == GARMENTS else attributes_schema(stage, describe)


def response_format(stage: str, n_images: int, describe: bool = False) -> dict[str, Any]:
    """The `response_format` of a request with `n_images` images: exactly one answer per image, in order."""
    answers = {
        "type": "array",
        "items": item_schema(stage, describe),
        "minItems": n_images,
        "maxItems": n_images,
    }
    name = stage if stage == GARMENTS else f"attributes_{stage}"
    return {
        "type": "json_schema",
        "json_schema": {"name": name, "strict": True, "schema": _object({"answers": answers})},
    }


def validate(value: Any, schema: dict[str, Any], where: str = "answer") -> None:
    """Check `value` against the JSON-schema subset generated here; raises AnswerError naming the bad spot."""
    if not isinstance(value, _JSON_TYPES[schema["type"]]):
        raise AnswerError(f"{where}: expected {schema['type']}, got {type(value).__name__}")
    if "enum" in schema and value not in schema["enum"]:
        raise AnswerError(f"{where}: {value!r} is not one of the allowed values")
    if isinstance(value, dict):
        missing = [key for key in schema.get("required", ()) if key not in value]
        extra = [key for key in value if key not in schema["properties"]]
        if missing or (extra and schema.get("additionalProperties") is False):
            raise AnswerError(f"{where}: missing fields {missing}, unexpected fields {extra}")
        for key, item in value.items():
            if key in schema["properties"]:
                validate(item, schema["properties"][key], f"{where}.{key}")
    if isinstance(value, list):
        low, high = schema.get("minItems", 0), schema.get("maxItems", len(value))
        if not low <= len(value) <= high:
            raise AnswerError(f"{where}: {len(value)} items, expected {low}..{high}")
        for index, item in enumerate(value):
            validate(item, schema["items"], f"{where}[{index}]")


def parse_answers(content: str | None, n_images: int) -> list[Any]:
    """The per-image answers of one reply, unchecked; raises AnswerError unless there are `n_images`."""
    try:
        reply = json.loads(content or "")
    except json.JSONDecodeError as error:
        raise AnswerError(f"malformed JSON ({error.msg} at char {error.pos})") from None
    answers = reply.get("answers") if isinstance(reply, dict) else None
    if not isinstance(answers, list):
        raise AnswerError("reply has no 'answers' list")
    if len(answers) != n_images:
        raise AnswerError(f"{len(answers)} answers for {n_images} images")
    return answers


def check_garments(answer: Any, describe: bool = False) -> tuple[list[tuple[str, str]], str | None]:
    """A valid stage-1 answer as ([(category, position), ...], description or None)."""
    validate(answer, garments_schema(describe))
    garments = [(g["category"], g["position"]) for g in answer["garments"]]
    positions = [position for _, position in garments]
    if len(set(positions)) != len(positions):
        raise AnswerError(f"positions repeat: {positions}")
    for category, position in garments:
        if category not in POSITION_CATEGORIES[position]:
            raise AnswerError(f"a {category} cannot be at position {position!r}")
    return garments, answer.get("description")


def check_attributes(
    answer: Any, category: str, describe: bool = False
) -> tuple[GarmentAttributes, str | None]:
    """A valid stage-2 answer as (GarmentAttributes, description or None)."""
    validate(answer, attributes_schema(category, describe))
    try:
        attributes = GarmentAttributes.from_record({**answer, "category": category})
    except InvalidAttributeError as error:
        raise AnswerError(str(error)) from None
    return attributes, answer.get("description")
