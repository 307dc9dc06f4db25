from __future__ import annotations

import re
import statistics
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fashionlens.captions import (
    RENDERINGS,
    UNMARKED,
    NoGarmentError,
    caption_record,
    tag_phrase,
    template_caption,
)
from fashionlens.cli import app
from fashionlens.jsonl import read_jsonl, write_jsonl
from fashionlens.taxonomy import (
    ATTRIBUTE_FIELDS,
    CATEGORIES,
    LIST_FIELDS,
    GarmentAttributes,
    InvalidAttributeError,
    allowed_values,
    fields_for,
)

# Wording changes must be deliberate: update these strings on purpose, never to make a test pass.
GOLDEN = [
    (
        GarmentAttributes(
            category="top",
            subcategory="down jacket",
            color=("navy", "white"),
            tone="vivid",
            total_length="hip",
            sleeve_length="long",
            fabric="down",
            pattern="stripe",
            zip_up="full",
            button="half",
            neckline="turtle",
            shoulder="normal",
            details=("hood", "pocket"),
        ),
        "A hip-length vivid navy and white stripe long-sleeve down jacket with a turtle neckline, "
        "a full zip, a half button front, and hood and pocket details.",
    ),
    (
        GarmentAttributes(
            category="pants",
            subcategory="cargo pants",
            color=("khaki",),
            tone="normal",
            total_length="ankle",
            fabric="cotton woven/tweed",
            pattern="solid",
            zip_up="none",
            button="none",
            details=("pocket",),
        ),
        "A pair of ankle-length khaki solid cotton woven/tweed cargo pants with pocket details.",
    ),
    (
        GarmentAttributes(
            category="dress",
            subcategory="mini dress",
            color=("red", "black", "beige"),
            tone="pastel/light",
            total_length="thigh",
            sleeve_length="sleeveless",
            fabric="silk/chiffon",
            pattern="flower",
            zip_up="none",
            button="none",
            neckline="v-line",
            shoulder="off-shoulder",
            details=(),
        ),
        "A thigh-length pastel/light red, black and beige flower-print sleeveless silk/chiffon mini dress "
        "with a v-line neckline and an off-shoulder cut.",
    ),
]


def _has_word(text: str, value: str) -> bool:
    """`value` as a whole word or words (hyphens count as word boundaries: "short" in "short-sleeve")."""
    return re.search(rf"(?<![\w/]){re.escape(value)}(?![\w/])", text) is not None


def _given_values(attrs: GarmentAttributes) -> list[tuple[str, str]]:
    """(field, value) pairs a caption must show: everything set, except each field's unmarked default."""
    pairs = []
    for name in ATTRIBUTE_FIELDS:
        value = getattr(attrs, name)
        values = value if name in LIST_FIELDS else (value,) if value is not None else ()
        pairs += [(name, v) for v in values if v != UNMARKED.get(name)]
    return pairs


@pytest.mark.parametrize(("attrs", "expected"), GOLDEN)
def test_golden_captions(attrs: GarmentAttributes, expected: str) -> None:
    assert template_caption(attrs) == expected


def test_special_wording_tables_use_taxonomy_values() -> None:
    for name, value in UNMARKED.items():
        assert value in allowed_values(name)
    for (name, value), rendered in RENDERINGS.items():
        assert value in allowed_values(name)
        assert _has_word(rendered, value)


@pytest.mark.parametrize("category", CATEGORIES)
def test_every_value_of_every_field_is_captioned_and_told_apart(category: str) -> None:
    """Sweep each field over all its values on a fixed garment: each value shows up, and no two values give
    the same caption, so tags can be recovered from captions."""
    base = GarmentAttributes(category=category, subcategory=allowed_values("subcategory", category)[0])
    for name in fields_for(category):
        captions = set()
        for value in allowed_values(name, category):
            attrs = replace(base, **{name: (value,) if name in LIST_FIELDS else value})
            caption = template_caption(attrs)
            if value == UNMARKED.get(name):
                assert caption == template_caption(base), (name, value)  # said by saying nothing
            else:
                assert _has_word(caption, value), (name, value, caption)
            captions.add(caption)
        assert len(captions) == len(allowed_values(name, category)), name


def test_article_follows_sound() -> None:
    dress = GOLDEN[2][0]
    assert "with a v-line neckline and a one-shoulder cut." in template_caption(
        replace(dress, shoulder="one-shoulder")
    )
    assert (
        template_caption(GarmentAttributes(category="top", subcategory="anorak jacket"))
        == "An anorak jacket."
    )
    assert template_caption(replace(dress, total_length="ankle")).startswith("An ankle-length ")


def test_null_fields_are_skipped_and_no_filler() -> None:
    caption = template_caption(GarmentAttributes(category="skirt"))
    assert caption == "A skirt."
    full = template_caption(GOLDEN[1][0])
    for filler in ("none", "normal", "null", "None"):
        assert filler not in full.split()


def test_caption_record_output_fields() -> None:
    extra = {"split": "train", "description": "x"}
    record = {"id": "p1", "image": "images/p1.jpg", **extra, **GOLDEN[1][0].to_record()}
    assert caption_record(record) == {"id": "p1", "image": "images/p1.jpg", "caption": GOLDEN[1][1]}
    assert caption_record({**record, "position": "bottom"})["position"] == "bottom"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"color": ["teal"]}, "color"),
        ({"subcategory": "long dress"}, "subcategory"),  # a dress under category pants
        ({"neckline": "round"}, "neckline"),  # no neckline for pants
        ({"position": "hat"}, "position"),
        ({"id": None}, "id"),
    ],
)
def test_caption_record_rejects_invalid(change: dict, field: str) -> None:
    record = {"id": "p1", "image": "images/p1.jpg", **GOLDEN[1][0].to_record(), **change}
    with pytest.raises(InvalidAttributeError) as info:
        caption_record(record)
    assert info.value.field == field


def test_other_category_has_no_caption() -> None:
    with pytest.raises(NoGarmentError):
        caption_record({"id": "o", "image": "images/o.jpg", "category": "other", "description": "A cat."})


def test_shared_labels(clothing_dir: Path) -> None:
    records = list(read_jsonl(clothing_dir / "labels.jsonl"))
    captions = []
    for record in records:
        if record["category"] == "other":
            continue
        attrs = GarmentAttributes.from_record(record)
        caption = template_caption(attrs)
        assert caption == template_caption(GarmentAttributes.from_record(record))  # deterministic
        assert _has_word(caption, record["subcategory"] or record["category"]), caption
        for color in record["color"]:
            assert _has_word(caption, color), (color, caption)
        for name, value in _given_values(attrs):
            assert _has_word(caption, value), (name, value, caption)
        captions.append(caption)
    assert len(captions) == sum(r["category"] != "other" for r in records)
    words = [len(c.split()) for c in captions]
    assert 12 <= statistics.fmean(words) <= 22
    assert 12 <= statistics.median(words) <= 22


def test_cli_skips_invalid_and_other_records(tmp_path: Path) -> None:
    good = {"id": "g", "image": "images/g.jpg", **GOLDEN[0][0].to_record()}
    bad = {**good, "id": "b", "fabric": "plastic"}
    other = {"id": "o", "image": "images/o.jpg", "category": "other", "description": "A cat."}
    labels, out = tmp_path / "labels.jsonl", tmp_path / "out" / "captions.jsonl"
    write_jsonl(labels, [bad, good, other])
    result = CliRunner().invoke(app, ["captions", str(labels), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert list(read_jsonl(out)) == [{"id": "g", "image": "images/g.jpg", "caption": GOLDEN[0][1]}]
    assert "'b'" in result.stderr and "fabric" in result.stderr and "'plastic'" in result.stderr
    assert "wrote 1 captions" in result.stderr
    assert "1 invalid" in result.stderr and "1 category 'other'" in result.stderr


def test_cli_unreadable_input_exits_2(tmp_path: Path) -> None:
    labels = tmp_path / "labels.jsonl"
    labels.write_text("{not json\n", encoding="utf-8")
    out = str(tmp_path / "c.jsonl")
    result = CliRunner().invoke(app, ["captions", str(labels), "-o", out])
    assert result.exit_code == 2
    assert "labels.jsonl:1" in result.stderr
    missing = CliRunner().invoke(app, ["captions", str(tmp_path / "nope.jsonl"), "-o", out])
    assert missing.exit_code == 2
    assert "Traceback" not in result.output + missing.output


def test_tag_phrase_names_up_to_two_main_colours_and_kind_only() -> None:
    attrs = GarmentAttributes(
        "dress", subcategory="long dress", color=("navy", "white", "red"), fabric="cotton", pattern="stripe"
    )
    assert tag_phrase(attrs) == "a navy and white long dress"
    assert tag_phrase(GarmentAttributes("top", subcategory="shirt", color=("red",))) == "a red shirt"
    assert tag_phrase(GarmentAttributes("pants", subcategory="cargo pants")) == "a pair of cargo pants"
    assert tag_phrase(GarmentAttributes("other")) == "a garment"
