"""Prompts and structured-output schemas come from the taxonomy; answers are checked against them."""

from __future__ import annotations

import json

import pytest

from fashionlens.labelling import prompts
from fashionlens.labelling.schemas import (
    GARMENTS,
    AnswerError,
    attributes_schema,
    check_attributes,
    check_garments,
    parse_answers,
    response_format,
)
from fashionlens.taxonomy import CATEGORIES, POSITIONS, GarmentAttributes, allowed_values, fields_for

VALID_SKIRT = {
    "subcategory": "pleated skirt",
    "color": ["pink", "white"],
    "tone": "pastel/light",
    "total_length": "shin",
    "fabric": "silk/chiffon",
    "pattern": "solid",
    "zip_up": "none",
    "button": "none",
    "details": [],
}


@pytest.mark.parametrize("n_images", [1, 8])
@pytest.mark.parametrize("stage", [GARMENTS, *CATEGORIES])
def test_response_format_fixes_the_answer_count(stage: str, n_images: int) -> None:
    spec = response_format(stage, n_images)
    assert spec["type"] == "json_schema" and spec["json_schema"]["strict"] is True
    schema = spec["json_schema"]["schema"]
    answers = schema["properties"]["answers"]
    assert (answers["minItems"], answers["maxItems"]) == (n_images, n_images)
    assert schema["required"] == ["answers"] and schema["additionalProperties"] is False


@pytest.mark.parametrize("category", CATEGORIES)
def test_attribute_schema_enums_come_from_the_taxonomy(category: str) -> None:
    schema = attributes_schema(category)
    assert list(schema["properties"]) == list(fields_for(category)) == schema["required"]
    for name, prop in schema["properties"].items():
        enum = prop["items"]["enum"] if prop["type"] == "array" else prop["enum"]
        assert enum == list(allowed_values(name, category))
    described = attributes_schema(category, describe=True)
    assert (
        described["properties"]["description"] == {"type": "string"}
        and "description" in described["required"]
    )


@pytest.mark.parametrize("category", CATEGORIES)
def test_attribute_prompt_lists_exactly_the_category_fields_and_values(category: str) -> None:
    text = prompts.attributes_prompt(category, 3)
    listed = {
        line[2:].split(" (")[0]: line.split("): ")[1].split(", ")
        for line in text.splitlines()
        if line.startswith("- ")
    }
    assert listed == {name: list(allowed_values(name, category)) for name in fields_for(category)}
    assert "exactly 3 answers" in text and "description" not in text
    assert "- description:" in prompts.attributes_prompt(category, 3, describe=True)


def test_garments_prompt_names_every_category_subcategory_and_position() -> None:
    text = prompts.garments_prompt(8)
    assert all(f"- {c}: " in text for c in CATEGORIES)
    assert all(s in text for s in allowed_values("subcategory"))
    assert all(f"- {p}: " in text for p in POSITIONS)
    assert "exactly 8 answers" in text and "description" not in text
    assert "description" in prompts.garments_prompt(8, describe=True)


def test_messages_put_each_label_before_its_image_in_order() -> None:
    urls = ["data:image/jpeg;base64,AAA", "data:image/jpeg;base64,BBB"]
    messages = prompts.messages("top", urls, ["", "describe the top at position outer"], detail="high")
    assert messages[0]["role"] == "system"
    content = messages[1]["content"]
    assert content[0]["text"] == prompts.attributes_prompt("top", 2)
    assert [part.get("text") for part in content[1::2]] == [
        "Image 1",
        "Image 2: describe the top at position outer",
    ]
    assert [part["image_url"] for part in content[2::2]] == [{"url": u, "detail": "high"} for u in urls]


def test_parse_answers_needs_json_with_one_answer_per_image() -> None:
    assert parse_answers(json.dumps({"answers": [{}, {}]}), 2) == [{}, {}]
    with pytest.raises(AnswerError, match="malformed JSON"):
        parse_answers('{"answers": [', 2)
    with pytest.raises(AnswerError, match="1 answers for 2 images"):
        parse_answers(json.dumps({"answers": [{}]}), 2)
    with pytest.raises(AnswerError, match="no 'answers'"):
        parse_answers("[]", 2)
    with pytest.raises(AnswerError, match="malformed"):
        parse_answers(None, 1)


def test_check_garments_accepts_outfits_and_rejects_impossible_ones() -> None:
    outfit = {
        "garments": [{"category": "top", "position": "outer"}, {"category": "skirt", "position": "bottom"}]
    }
    assert check_garments(outfit) == ([("top", "outer"), ("skirt", "bottom")], None)
    assert check_garments({"garments": [], "description": "Shoes."}, describe=True) == ([], "Shoes.")
    bad = [
        {"garments": [{"category": "hat", "position": "top"}]},  # outside the taxonomy
        {"garments": [{"category": "top", "position": "top"}, {"category": "top", "position": "top"}]},
        {"garments": [{"category": "dress", "position": "bottom"}]},  # a dress is worn full
        {"garments": [{"category": "top"}]},  # missing position
        {"garments": [], "extra": 1},
        {"garments": []},  # description asked for below
    ]
    for answer in bad[:-1]:
        with pytest.raises(AnswerError):
            check_garments(answer)
    with pytest.raises(AnswerError, match="missing fields"):
        check_garments(bad[-1], describe=True)


def test_check_attributes_returns_validated_garment_or_names_the_problem() -> None:
    attributes, description = check_attributes(VALID_SKIRT, "skirt")
    assert attributes == GarmentAttributes.from_record({**VALID_SKIRT, "category": "skirt"})
    assert description is None
    cases = [
        ({**VALID_SKIRT, "subcategory": "t-shirt"}, "not one of the allowed"),  # a top's subcategory
        ({**VALID_SKIRT, "color": ["red", "red"]}, "distinct"),
        ({**VALID_SKIRT, "color": []}, "0 items"),
        ({**VALID_SKIRT, "sleeve_length": "long"}, "unexpected fields"),  # upper-body field on a skirt
        ({k: v for k, v in VALID_SKIRT.items() if k != "fabric"}, "missing fields"),
        ({**VALID_SKIRT, "details": "pocket"}, "expected array"),
    ]
    for answer, message in cases:
        with pytest.raises(AnswerError, match=message):
            check_attributes(answer, "skirt")
