"""Prompts of the two labelling stages (thesis 3.3, Figures 3.3-3.5), all allowed values from the taxonomy.

Stage 1 asks which garments each photo shows; stage 2 asks one category's attributes, listing only that
category's fields and subcategories, so the model never sees a choice that cannot apply.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fashionlens.captions import PAIR_CATEGORY
from fashionlens.labelling.schemas import GARMENTS, POSITION_CATEGORIES
from fashionlens.taxonomy import CATEGORIES, MAX_COLORS, allowed_values, fields_for

SYSTEM = (
    "You are a fashion cataloguer. You label clothing photos with a fixed taxonomy, choosing only from the "
    "allowed values you are given, and you answer in JSON."
)
#: What each attribute field means, said once in the prompt next to its allowed values.
FIELD_HINTS: dict[str, str] = {
    "subcategory": "the garment type",
    "color": f"1 to {MAX_COLORS} main colours, dominant first",
    "tone": "the colour tone",
    "total_length": "where the garment ends on the body",
    "sleeve_length": "length of the sleeves",
    "fabric": "the main fabric, judged from its texture",
    "pattern": "the surface pattern",
    "zip_up": "how far a zip opens the front",
    "button": "how far buttons open the front",
    "neckline": "shape of the neckline",
    "shoulder": "cut of the shoulders",
    "details": "every detail present, an empty list when there is none",
}
POSITION_HINTS: dict[str, str] = {
    "outer": "an outer layer (jacket, coat, blazer, cardigan, vest) worn over another top",
    "top": "the top worn under any outer layer, or on its own",
    "bottom": "pants or a skirt",
    "full": "a dress or jumpsuit covering both top and bottom",
}


def _ending(n_images: int) -> str:
    return (
        f'Answer with a JSON object {{"answers": [...]}} holding exactly {n_images} answers, one per image, '
        "in the order of the images."
    )


def garments_prompt(n_images: int, describe: bool = False) -> str:
    """Stage 1: which garments of the four categories each photo shows, and where they are worn."""
    categories = "\n".join(f"- {c}: {', '.join(allowed_values('subcategory', c))}" for c in CATEGORIES)
    positions = "\n".join(
        f"- {p}: {hint} (category {' or '.join(POSITION_CATEGORIES[p])})"
        for p, hint in POSITION_HINTS.items()
    )
    lines = [
        f"For each of the {n_images} images, list the garments it shows from these categories:",
        categories,
        "Give each garment the position it has, or would have, when worn:",
        positions,
        "A photo of a single garment (flat, hanging or on a model) lists that garment once. A photo of a "
        "person wearing an outfit lists each visible garment, at most one per position. Shoes, bags, hats, "
        "accessories and garments outside these categories are not listed: a photo with none of them gets an "
        "empty list.",
    ]
    if describe:
        lines.append(
            "Also give a description: when the list is empty, one sentence saying what the photo shows; "
            "otherwise an empty string."
        )
    return "\n".join([*lines, _ending(n_images)])


def attributes_prompt(category: str, n_images: int, describe: bool = False) -> str:
    """Stage 2: the attributes of one `category`, each field with its meaning and allowed values."""
    fields = "\n".join(
        f"- {name} ({FIELD_HINTS[name]}): {', '.join(allowed_values(name, category))}"
        for name in fields_for(category)
    )
    noun = f"pair of {category}" if category == PAIR_CATEGORY else category
    lines = [
        f"Each of the {n_images} images shows a {noun}; where a photo shows several garments, the text "
        "before it says which one to describe.",
        "For each image give the garment's attributes, choosing only from these allowed values:",
        fields,
    ]
    if describe:
        lines.append("- description: one natural sentence describing the garment, about 16 words.")
    return "\n".join([*lines, _ending(n_images)])


def garment_label(category: str, position: str) -> str:
    """The text before a stage-2 image whose photo shows several garments: which one to describe."""
    return f"describe the {category} at position {position} ({POSITION_HINTS[position]})"


def messages(
    stage: str, image_urls: Sequence[str], labels: Sequence[str], detail: str = "low", describe: bool = False
) -> list[dict[str, Any]]:
    """Chat messages of one request: the stage's prompt, then each image after its label ("Image 2: ...")."""
    n = len(image_urls)
    prompt = garments_prompt(n, describe) if stage == GARMENTS else attributes_prompt(stage, n, describe)
    content: list[dict[str, Any]] = [{"type": "text", "text": prompt}]
    for index, (url, label) in enumerate(zip(image_urls, labels, strict=True), start=1):
        content.append({"type": "text", "text": f"Image {index}{': ' + label if label else ''}"})
        content.append({"type": "image_url", "image_url": {"url": url, "detail": detail}})
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": content}]
