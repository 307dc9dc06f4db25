"""Template captions: one compact, attribute-dense sentence per garment (the thesis's "generated" captions).

A noun phrase with the attributes as pre-modifiers, then a "with" list of construction details:

    A hip-length vivid red and white stripe short-sleeve cotton t-shirt with a round neckline.

Every taxonomy value given appears in the caption as a word (hyphen- or space-delimited; "a/b" values are
kept whole), so a caption can be traced back to its tags. Unknown (null) fields are skipped, and so are the
values of `UNMARKED` ("normal" tone, "none" zip...): saying them adds words, not information. The wording is
per field, not per value, so a value added to `taxonomy.json` is captioned without touching this module.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from fashionlens.taxonomy import OTHER, POSITIONS, GarmentAttributes, InvalidAttributeError

#: The default value of a field, left unsaid: a caption without "off-shoulder" means a normal shoulder.
UNMARKED: dict[str, str] = {"tone": "normal", "shoulder": "normal", "zip_up": "none", "button": "none"}
#: Values that read better with a word added; each still contains the taxonomy value as a whole word.
RENDERINGS: dict[tuple[str, str], str] = {
    ("subcategory", "sleeveless"): "sleeveless top",
    ("pattern", "dot"): "polka-dot",
    ("pattern", "flower"): "flower-print",
    ("pattern", "animal"): "animal-print",
    ("pattern", "other"): "other-pattern",
}
#: Category whose garments are plural nouns ("a pair of cargo pants").
PAIR_CATEGORY = "pants"


class NoGarmentError(ValueError):
    """The record is category "other": the photo shows no garment the taxonomy describes."""


def _join(words: Sequence[str]) -> str:
    """English list: "red", "red and white", "red, white and blue"."""
    if len(words) == 1:
        return words[0]
    # An Oxford comma keeps "..., and pocket and hood details" from reading as one list.
    last = ", and " if len(words) > 2 and " and " in words[-1] else " and "
    return ", ".join(words[:-1]) + last + words[-1]


def _article(word: str) -> str:
    """By sound: "an ankle-length...", "an off-shoulder cut", but "a one-shoulder cut"."""
    return "an" if word[0] in "aeiou" and not word.startswith("one") else "a"


def _with_article(phrase: str) -> str:
    return f"{_article(phrase)} {phrase}"


# Pre-modifiers of the garment noun, outermost first ("hip-length vivid red stripe short-sleeve cotton").
_HEAD_PHRASES: dict[str, Callable[[Any], str]] = {
    "total_length": lambda v: f"{v}-length",
    "tone": str,
    "color": _join,
    "pattern": str,
    "sleeve_length": lambda v: v if "sleeve" in v else f"{v}-sleeve",
    "fabric": str,
}
# Items of the "with ..." list after the noun.
_WITH_PHRASES: dict[str, Callable[[Any], str]] = {
    "neckline": lambda v: _with_article(f"{v} neckline"),
    "shoulder": lambda v: _with_article(f"{v} cut"),
    "zip_up": lambda v: f"a {v} zip",
    "button": lambda v: f"a {v} button front",
    "details": lambda v: f"{_join(v)} details",
}


def _render(name: str, value: Any) -> Any:
    if isinstance(value, tuple):
        return tuple(RENDERINGS.get((name, v), v) for v in value)
    return RENDERINGS.get((name, value), value)


def _phrases(attrs: GarmentAttributes, table: Mapping[str, Callable[[Any], str]]) -> list[str]:
    return [
        table[name](_render(name, value))
        for name in table
        if (value := getattr(attrs, name)) and value != UNMARKED.get(name)
    ]


def template_caption(attrs: GarmentAttributes) -> str:
    """The template caption of one garment; deterministic (same attributes, same string)."""
    if attrs.category == OTHER:
        raise NoGarmentError("category 'other' has no garment to caption")
    noun = _render("subcategory", attrs.subcategory) if attrs.subcategory else attrs.category
    # A modifier the noun already says is dropped ("down" fabric of a "down jacket").
    head = [p for p in _phrases(attrs, _HEAD_PHRASES) if p not in noun.split()]
    noun_phrase = " ".join([*head, noun])
    opening = "a pair of" if attrs.category == PAIR_CATEGORY else _article(noun_phrase)
    caption = f"{opening} {noun_phrase}"
    if items := _phrases(attrs, _WITH_PHRASES):
        caption += " with " + _join(items)
    return caption[0].upper() + caption[1:] + "."


def tag_phrase(attrs: GarmentAttributes) -> str:
    """The garment's main colours (up to two, as the attribute heads name them) and kind as a short noun
    phrase ("a navy and white long dress"): the tags a tagged caption prompt hands the LLM
    (`generation.tags_prompt`); "a garment" for category other."""
    if attrs.category == OTHER:
        return "a garment"
    core = GarmentAttributes(attrs.category, subcategory=attrs.subcategory, color=attrs.color[:2])
    return template_caption(core)[:-1].lower()


def caption_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """`{"id", "image", "position" (when present), "caption"}` for one labels.jsonl-style record.

    Raises InvalidAttributeError (field, value, allowed) for an invalid record and NoGarmentError for "other".
    """
    for key in ("id", "image"):
        if not isinstance(record.get(key), str) or not record[key]:
            raise InvalidAttributeError(key, record.get(key), "a non-empty string")
    out: dict[str, Any] = {"id": record["id"], "image": record["image"]}
    if record.get("position") is not None:
        if record["position"] not in POSITIONS:
            raise InvalidAttributeError("position", record["position"], POSITIONS)
        out["position"] = record["position"]
    out["caption"] = template_caption(GarmentAttributes.from_record(record))
    return out
