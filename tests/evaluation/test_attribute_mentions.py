"""Does a generated caption name the garment's category and a main colour?"""

from __future__ import annotations

import pytest

from fashionlens.evaluation.captions import attribute_mentions, caption_attribute_accuracy
from fashionlens.taxonomy import GarmentAttributes

TOP = GarmentAttributes(category="top", subcategory="t-shirt", color=("navy", "white"))
PANTS = GarmentAttributes(category="pants", subcategory="straight pants", color=("blue",))
DRESS = GarmentAttributes(category="dress", subcategory="shirt dress", color=("gray",))
SKIRT = GarmentAttributes(category="skirt", subcategory="pleated skirt", color=("beige",))


@pytest.mark.parametrize(
    ("caption", "attrs", "category", "color"),
    [
        ("A navy and white striped T-Shirt.", TOP, True, True),
        ("a white tshirt", TOP, True, True),  # spelling variants of a subcategory
        ("Two navy blue tees on a bed", TOP, True, True),  # synonym, plural
        ("A red sweater", TOP, True, False),  # any subcategory of the category counts
        ("A white dress", TOP, False, True),
        ("A sleeveless navy dress", TOP, False, True),  # "sleeveless" is no garment noun
        ("A blue shirt dress", TOP, False, False),  # longest phrase wins: a dress, not a shirt
        ("Light-wash BLUE jeans with pockets.", PANTS, True, True),
        ("navy trousers", PANTS, True, False),  # navy blue is navy, not blue
        ("A pair of shorts in sky blue", PANTS, True, True),
        ("A short blue top", PANTS, False, True),  # "short" is not "shorts"
        ("A grey shirt dress", DRESS, True, True),  # British spelling of gray
        ("A grey jumpsuit", DRESS, True, True),
        ("A cream pleated midi skirt", SKIRT, True, True),
        ("A tan kilt", SKIRT, True, True),
        ("A skirting board in sandstone", SKIRT, False, False),  # whole words only
    ],
)
def test_attribute_mentions(caption: str, attrs: GarmentAttributes, category: bool, color: bool) -> None:
    mentions = attribute_mentions(caption, attrs)
    assert (mentions["category"], mentions["color"]) == (category, color)


def test_mentions_report_what_was_named() -> None:
    mentions = attribute_mentions("A white t-shirt tucked into olive cargo pants", PANTS)
    assert mentions["named_categories"] == ["pants", "top"]
    assert mentions["named_colors"] == ["green", "khaki", "white"]
    assert mentions["category"] and not mentions["color"]


def test_caption_attribute_accuracy() -> None:
    predictions = {
        "1": "a navy t-shirt",
        "2": "a blue skirt",
        "3": "red jeans",
        "4": "a photo",
        "5": "a photo",
    }
    attrs = {
        "1": TOP,  # category and colour right
        "2": PANTS,  # colour only
        "3": PANTS,  # category only
        "4": SKIRT,  # neither
        "5": GarmentAttributes(category="other"),  # not scored
        "6": DRESS,  # not predicted: ignored
    }
    assert caption_attribute_accuracy(predictions, attrs) == {
        "category": 0.5,
        "color": 0.5,
        "n": 4,
        "n_color": 4,
    }


def test_caption_attribute_accuracy_needs_attributes_for_every_prediction() -> None:
    with pytest.raises(ValueError, match="no attributes for ids 1: 'x'"):
        caption_attribute_accuracy({"x": "a dress"}, {"1": DRESS})
