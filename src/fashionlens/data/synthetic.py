"""Procedurally drawn garments whose attributes are known exactly: a catalogue that needs no download.

Each `Item` is one product: taxonomy attributes (`GarmentAttributes`), a title and a price.
`render_shop` draws it flat on a plain light background, the way shops photograph products;
`render_consumer` draws the same garment as a person's photo would show it (clutter, scale, rotation,
perspective, lighting, noise, something in front of it). Shop and consumer images share the item id, so a
catalogue of any size is an instance-level consumer-to-shop retrieval benchmark, and every image carries its
true attributes for tagging tests.

Everything is seeded: the same seed gives byte-identical images. Appearance that the taxonomy does not
describe (proportions, stripe width, the word printed...) is seeded by the item id, so two items with equal
attributes still look different, as two products do. Only Pillow and numpy are used, and shapes are drawn at
the target size, so rendering runs at hundreds of images per second on one core.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFont
from tqdm import tqdm

from fashionlens.captions import template_caption
from fashionlens.jsonl import JsonlWriter
from fashionlens.taxonomy import GarmentAttributes, allowed_values, category_of

RGB = tuple[int, int, int]
Point = tuple[float, float]

#: A representative RGB for every taxonomy colour name.
COLOR_RGB: dict[str, RGB] = {
    "red": (196, 30, 42),
    "orange": (238, 122, 28),
    "blue": (38, 92, 196),
    "navy": (26, 36, 82),
    "pink": (240, 138, 178),
    "brown": (106, 66, 38),
    "black": (24, 24, 26),
    "white": (246, 246, 244),
    "burgundy": (112, 20, 40),
    "purple": (118, 58, 158),
    "coral": (248, 112, 92),
    "mint": (150, 224, 190),
    "gray": (128, 128, 130),
    "green": (38, 138, 58),
    "khaki": (172, 156, 106),
    "yellow": (244, 206, 38),
    "beige": (224, 204, 168),
}
#: Tones drawn, and the colours each may modify without changing the colour's name (a light red reads as
#: pink, so red has no pastel; black has no vivid). "metallic/shiny" is not drawn.
TONE_COLORS: dict[str, frozenset[str]] = {
    "normal": frozenset(COLOR_RGB),
    "vivid": frozenset({"red", "orange", "blue", "pink", "purple", "coral", "green", "yellow"}),
    "pastel/light": frozenset({"orange", "blue", "pink", "purple", "mint", "gray", "green", "yellow"}),
}
#: Patterns drawn, each by one texture function below.
PATTERNS: tuple[str, ...] = ("solid", "stripe", "dot", "check", "flower", "lettering")
_PATTERN_TITLES = {
    "stripe": "striped",
    "dot": "polka-dot",
    "check": "checked",
    "flower": "floral",
    "lettering": "slogan",
}
_PRINT_WORDS = ("LOVE", "PARIS", "NYC", "HELLO", "SUMMER", "WILD", "DREAM", "TOKYO", "SURF", "1984", "BRAND")


def _check_palette(colors: Sequence[str]) -> None:
    """Fail loudly when the taxonomy's colours and the RGB table drift apart."""
    missing = sorted(set(colors) - set(COLOR_RGB))
    unknown = sorted(set(COLOR_RGB) - set(colors))
    if missing or unknown:
        raise RuntimeError(
            "synthetic COLOR_RGB out of sync with the taxonomy: "
            f"no RGB for {missing}, not in the taxonomy {unknown}"
        )


_check_palette(allowed_values("color"))


@dataclass(frozen=True)
class GarmentSpec:
    """What one subcategory may look like: the values its attributes are drawn from.

    `outer` garments are cut wider and get lapels and hip pockets; `ribbed` ones knitted hem and cuff bands.
    """

    lengths: tuple[str, ...]
    price: float
    sleeves: tuple[str | None, ...] = (None,)
    necklines: tuple[str | None, ...] = (None,)
    closures: tuple[tuple[str, str], ...] = (("none", "none"),)  # (zip_up, button)
    details: tuple[tuple[str, ...], ...] = ((),)
    outer: bool = False
    ribbed: bool = False


#: The subcategories drawn, with value ranges taken from what the real labelled photos show.
GARMENTS: dict[str, GarmentSpec] = {
    "t-shirt": GarmentSpec(
        lengths=("hip",), price=19, sleeves=("short", "long"), necklines=("round", "v-line")
    ),
    "shirt": GarmentSpec(
        lengths=("hip",),
        price=39,
        sleeves=("short", "long"),
        necklines=("v-line",),
        closures=(("none", "full"),),
        details=(("collar",), ("collar", "pocket")),
    ),
    "sleeveless": GarmentSpec(
        lengths=("hip",), price=19, sleeves=("sleeveless",), necklines=("round", "square", "v-line")
    ),
    "sweater": GarmentSpec(
        lengths=("hip",),
        price=49,
        sleeves=("long",),
        necklines=("round", "turtle", "v-line", "boat"),
        ribbed=True,
    ),
    "cardigan": GarmentSpec(
        lengths=("hip", "thigh"),
        price=45,
        sleeves=("long",),
        necklines=("v-line",),
        closures=(("none", "full"), ("full", "none")),
        details=((), ("pocket",)),
        outer=True,
        ribbed=True,
    ),
    "jacket": GarmentSpec(
        lengths=("waist", "hip"),
        price=79,
        sleeves=("long",),
        necklines=("v-line",),
        closures=(("full", "none"), ("none", "full")),
        details=(("collar",), ("collar", "pocket")),
        outer=True,
    ),
    "coat": GarmentSpec(
        lengths=("thigh", "knee"),
        price=129,
        sleeves=("long",),
        necklines=("v-line",),
        closures=(("none", "full"),),
        details=(("collar",), ("collar", "pocket")),
        outer=True,
    ),
    "mini dress": GarmentSpec(
        lengths=("thigh",),
        price=59,
        sleeves=("sleeveless", "short", "long"),
        necklines=("round", "v-line", "square"),
    ),
    "long dress": GarmentSpec(
        lengths=("knee", "shin", "ankle", "floor"),
        price=79,
        sleeves=("sleeveless", "short", "long"),
        necklines=("round", "v-line", "square"),
    ),
    "straight pants": GarmentSpec(
        lengths=("ankle", "shin"),
        price=49,
        details=(("pocket",), (), ("waist banding",), ("pocket", "waist banding")),
    ),
    "shorts": GarmentSpec(
        lengths=("thigh", "knee"),
        price=29,
        details=(("waist banding",), ("pocket",), ("pocket", "waist banding")),
    ),
    "mini skirt": GarmentSpec(lengths=("thigh",), price=35, details=((), ("pocket",))),
    "long skirt": GarmentSpec(
        lengths=("knee", "shin", "ankle", "floor"), price=45, details=((), ("waist banding",))
    ),
}
#: Where a garment of each total_length ends, in body units below the shoulder line (shoulder half-width
#: ~0.2). Every silhouette is drawn in these units, then scaled to fit the canvas.
_BODY_Y: dict[str, float] = {
    "belly": 0.36,
    "waist": 0.45,
    "hip": 0.6,
    "thigh": 0.8,
    "knee": 0.98,
    "shin": 1.18,
    "ankle": 1.36,
    "floor": 1.45,
}
_WAIST = _BODY_Y["waist"]


@dataclass(frozen=True)
class Item:
    """One catalogue product. Its images are drawn from these fields alone: it can be re-rendered anywhere."""

    item_id: str
    attributes: GarmentAttributes
    title: str
    price: float

    @property
    def url(self) -> str:
        return f"https://shop.example/items/{self.item_id}"


# ----------------------------------------------------------------------------------------------- items


def _choice(rng: np.random.Generator, options: Sequence[Any]) -> Any:
    return options[int(rng.integers(len(options)))]


def _luma(rgb: Sequence[float]) -> float:
    return 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]


def _contrasting(rng: np.random.Generator, base: str) -> str:
    """A second colour different enough in lightness from `base` for a print on it to show."""
    far = [c for c, rgb in COLOR_RGB.items() if abs(_luma(rgb) - _luma(COLOR_RGB[base])) > 50]
    return _choice(rng, far)


def _title(a: GarmentAttributes, spec: GarmentSpec) -> str:
    """A shop title like "Light pink and navy striped short-sleeve t-shirt"."""
    words = [] if a.tone == "normal" else [a.tone.split("/")[-1]]  # "pastel/light" reads "light"
    words.append(" and ".join(a.color))
    if a.pattern in _PATTERN_TITLES:
        words.append(_PATTERN_TITLES[a.pattern])
    if len(spec.sleeves) > 1:
        words.append("sleeveless" if a.sleeve_length == "sleeveless" else f"{a.sleeve_length}-sleeve")
    words.append(a.subcategory)
    text = " ".join(words)
    return text[0].upper() + text[1:]


def make_item(item_id: str, rng: np.random.Generator, subcategory: str | None = None) -> Item:
    """Draw one item's attributes from `GARMENTS` (a random subcategory unless given)."""
    subcategory = subcategory or _choice(rng, list(GARMENTS))
    spec = GARMENTS[subcategory]
    pattern = _choice(rng, PATTERNS)
    base = _choice(rng, list(COLOR_RGB))
    colors = (base,) if pattern == "solid" else (base, _contrasting(rng, base))
    tones = [t for t, allowed in TONE_COLORS.items() if all(c in allowed for c in colors)]
    tone = "normal" if rng.random() < 0.6 else _choice(rng, tones)
    zip_up, button = _choice(rng, spec.closures)
    category = category_of(subcategory)
    upper = spec.sleeves != (None,)
    attributes = GarmentAttributes(
        category=category,
        subcategory=subcategory,
        color=colors,
        tone=tone,
        total_length=_choice(rng, spec.lengths),
        sleeve_length=_choice(rng, spec.sleeves),
        pattern=pattern,
        zip_up=zip_up,
        button=button,
        neckline=_choice(rng, spec.necklines),
        shoulder="normal" if upper else None,
        details=_choice(rng, spec.details),
    )
    price = round(spec.price * rng.uniform(0.7, 1.6)) - 0.01
    return Item(item_id, attributes, _title(attributes, spec), price)


def _stream(seed: int, index: int, stream: int, k: int = 0) -> np.random.Generator:
    """Independent generators per (item, purpose), so any one image can be re-made without the others."""
    return np.random.default_rng([seed, index, stream, k])


def iter_items(n: int, seed: int = 0) -> Iterator[Item]:
    """`n` items; subcategories cycle so every kind appears once `n >= len(GARMENTS)`. A longer run with the
    same seed starts with the same items."""
    kinds = list(GARMENTS)
    for index in range(n):
        yield make_item(f"syn-{seed}-{index:06d}", _stream(seed, index, 0), kinds[index % len(kinds)])


# ----------------------------------------------------------------------------------------------- shapes


@dataclass
class _Drawing:
    """A garment as flat shapes in body units: x right of the centre line, y down from the shoulder line."""

    parts: list[tuple[list[Point], int]] = field(default_factory=list)  # polygon, shade (255 = fully lit)
    lines: list[list[Point]] = field(default_factory=list)  # seams, folds, pocket edges
    zips: list[list[Point]] = field(default_factory=list)
    buttons: list[Point] = field(default_factory=list)
    chest: Point = (0.0, 0.28)  # where a printed word goes

    def symmetric(self, left: list[Point], shade: int) -> None:
        """Add a shape drawn on the left of the centre line and its mirror image."""
        self.parts.append((left, shade))
        self.parts.append((_mirror(left), shade))


def _mirror(points: Sequence[Point]) -> list[Point]:
    return [(-x, y) for x, y in reversed(points)]


def _arc(half_width: float, depth: float, y: float = 0.0, n: int = 9) -> list[Point]:
    """Points along a half-ellipse dipping `depth` below `y`, from +half_width to -half_width."""
    t = np.linspace(0.0, math.pi, n)
    return [(float(half_width * math.cos(a)), float(y + depth * math.sin(a))) for a in t]


def _hem(half_width: float, y: float, sag: float) -> list[Point]:
    """A hem from left to right, curving `sag` lower in the middle (a flared skirt seen from the front)."""
    return [
        (float(x), float(y + sag * (1 - (x / half_width) ** 2)))
        for x in np.linspace(-half_width, half_width, 9)
    ]


def _closure(d: _Drawing, a: GarmentAttributes, top: float, hem: float) -> None:
    """Centre-front zip or button placket, from the neckline to the hem (full) or the chest (half)."""
    for kind, value in (("zip", a.zip_up), ("button", a.button)):
        if value in (None, "none"):
            continue
        end = hem - 0.01 if value == "full" else min(hem - 0.01, top + 0.2)
        if kind == "zip":
            d.zips.append([(0.0, top), (0.0, end)])
        else:
            d.lines.append([(0.0, top), (0.0, end)])
            count = max(2, round((end - top) / 0.09))
            d.buttons.extend((0.0, float(y)) for y in np.linspace(top + 0.03, end - 0.03, count))


def _upper_body(a: GarmentAttributes, spec: GarmentSpec, rnd: np.random.Generator) -> _Drawing:
    """Tops and dresses: body, sleeves, neckline, collar or lapels, closure, pockets, ribbing."""
    d = _Drawing()
    dress = a.category == "dress"
    # Half-widths of the neck opening, the shoulders and the chest; armpit height; hem height.
    nw = 0.13 if a.neckline == "boat" else 0.075 + rnd.uniform(-0.005, 0.01)
    sw = 0.21 + rnd.uniform(-0.01, 0.015) + (0.02 if spec.outer else 0.0)
    cw = sw - 0.025
    ya, hem_y = 0.21, _BODY_Y[a.total_length]
    collar = "collar" in a.details
    depth = {
        "round": 0.075,
        "v-line": 0.24 if spec.outer else (0.07 if collar else 0.16),
        "square": 0.1,
        "boat": 0.03,
        "turtle": 0.03,
    }[a.neckline]
    shoulder, armpit = (-sw, 0.035), (-cw, ya)
    left = [(-nw, 0.0)]
    if a.sleeve_length == "sleeveless":
        left += [(-(nw + 0.06), 0.012), (-cw + 0.03, ya - 0.08), armpit]
    else:
        long = a.sleeve_length == "long"
        angle = math.radians(rnd.uniform(56, 68) if long else rnd.uniform(28, 38))
        length = 0.55 if long else 0.15 + rnd.uniform(0, 0.03)
        cuff = 0.085 if long else 0.8 * math.dist(shoulder, armpit)
        dx, dy = -math.cos(angle), math.sin(angle)  # along the sleeve, outwards and down
        nx, ny = math.sin(angle), math.cos(angle)  # across it, towards the body
        out = (shoulder[0] + dx * length, shoulder[1] + dy * length)
        inner = (out[0] + nx * cuff, out[1] + ny * cuff)
        d.symmetric([shoulder, out, inner, armpit], 232)
        if spec.ribbed and long:
            band = [
                out,
                inner,
                (inner[0] - dx * 0.05, inner[1] - dy * 0.05),
                (out[0] - dx * 0.05, out[1] - dy * 0.05),
            ]
            d.symmetric(band, 215)
        left += [shoulder, armpit]
    if dress:
        waist = cw - 0.04
        hem = waist + (hem_y - _WAIST) * rnd.uniform(0.25, 0.4)
        left.append((-waist, _WAIST))
        d.lines.append([(-waist, _WAIST), (waist, _WAIST)])
        hem_points = _hem(hem, hem_y, 0.04)
    else:
        hem = cw + rnd.uniform(0.0, 0.015) + (hem_y - ya) * (0.06 if spec.outer else 0.0)
        hem_points = [(-hem, hem_y), (hem, hem_y)]
    if a.neckline == "v-line":
        front = [(0.0, depth)]
    elif a.neckline == "square":
        front = [(nw, depth), (-nw, depth)]
    else:
        front = _arc(nw, depth)[1:-1]
    # The inside of the back shows through the front neckline.
    d.parts.append(([(-nw, 0.0), *_arc(nw, 0.02)[::-1][1:-1], (nw, 0.0), *front], 150))
    d.parts.append((left + hem_points + _mirror(left) + front, 255))
    if spec.ribbed:
        d.parts.append(([(-hem, hem_y - 0.045), (hem, hem_y - 0.045), (hem, hem_y), (-hem, hem_y)], 215))
    if a.neckline == "turtle":
        d.parts.append(([(-nw - 0.005, -0.07), (nw + 0.005, -0.07), (nw, 0.035), (-nw, 0.035)], 238))
        d.lines.extend([(x, -0.06), (x, 0.025)] for x in np.linspace(-nw + 0.02, nw - 0.02, 5))
    if collar and spec.outer:  # notched lapels down to the bottom of the V
        d.symmetric(
            [
                (-nw - 0.01, -0.03),
                (-nw - 0.065, 0.07),
                (-nw - 0.035, 0.1),
                (-0.015, depth),
                (-nw + 0.01, 0.0),
            ],
            242,
        )
    elif collar:  # shirt collar: a stand behind the neck and two pointed flaps
        d.parts.append(([(-nw - 0.012, -0.035), (nw + 0.012, -0.035), (nw, 0.0), (-nw, 0.0)], 200))
        d.symmetric([(-nw - 0.015, -0.03), (-nw - 0.03, 0.035), (-0.035, 0.1), (-0.004, 0.02)], 244)
    _closure(d, a, depth, hem_y)
    if "pocket" in a.details:
        if spec.outer:
            y = min(hem_y - 0.16, 0.66)
            for x0 in (-0.17, 0.06):
                d.lines.append([(x0, y), (x0 + 0.11, y), (x0 + 0.11, y + 0.1), (x0, y + 0.1), (x0, y)])
        else:
            d.lines.append([(0.05, 0.14), (0.13, 0.14), (0.13, 0.24), (0.05, 0.24), (0.05, 0.14)])
    d.chest = (0.0, max(0.28, depth + 0.09))
    return d


def _waistband(d: _Drawing, a: GarmentAttributes, half_width: float) -> float:
    """Waistband of pants and skirts; elastic ("waist banding") is taller and gathered. Returns its bottom."""
    banded = "waist banding" in a.details
    bottom = _WAIST + (0.07 if banded else 0.045)
    d.parts.append(
        (
            [
                (-half_width, _WAIST),
                (half_width, _WAIST),
                (half_width + 0.004, bottom),
                (-half_width - 0.004, bottom),
            ],
            220,
        )
    )
    if banded:
        d.lines.extend(
            [(x, _WAIST + 0.012), (x, bottom - 0.012)]
            for x in np.arange(-half_width + 0.02, half_width, 0.025)
        )
    if "pocket" in a.details:  # slanted side pockets
        pocket = [(-half_width + 0.05, bottom), (-half_width - 0.015, bottom + 0.1)]
        d.lines += [pocket, _mirror(pocket)]
    return bottom


def _pants(a: GarmentAttributes, spec: GarmentSpec, rnd: np.random.Generator) -> _Drawing:
    d = _Drawing()
    hem_y = _BODY_Y[a.total_length]
    shorts = hem_y <= _BODY_Y["knee"]
    ww = 0.165 + rnd.uniform(-0.01, 0.01)
    hip = ww + 0.025
    outer = hip + (0.025 if shorts else rnd.uniform(-0.01, 0.01))
    leg = 0.17 if shorts else rnd.uniform(0.13, 0.155)
    crotch = _WAIST + 0.24
    left = [(-ww, _WAIST), (-hip, _WAIST + 0.15), (-outer, hem_y), (-outer + leg, hem_y)]
    d.parts.append(([*left, (0.0, crotch), *_mirror(left)], 255))
    top = _waistband(d, a, ww)
    d.lines.append([(0.0, top), (0.0, crotch - 0.06)])
    d.lines.append([(0.03, top), (0.03, crotch - 0.1), (0.0, crotch - 0.06)])
    for side in (-1, 1):
        d.lines.append([(side * (outer - 0.005), hem_y - 0.03), (side * (outer - leg + 0.005), hem_y - 0.03)])
        if not shorts:  # pressed crease down the middle of each leg
            d.lines.append([(side * hip / 2, crotch), (side * (outer - leg / 2), hem_y - 0.03)])
    d.chest = (0.0, _WAIST + 0.2)
    return d


def _skirt(a: GarmentAttributes, spec: GarmentSpec, rnd: np.random.Generator) -> _Drawing:
    d = _Drawing()
    hem_y = _BODY_Y[a.total_length]
    ww = 0.15 + rnd.uniform(-0.01, 0.01)
    hem = ww + 0.07 + (hem_y - _WAIST) * rnd.uniform(0.15, 0.3)
    d.parts.append(([(-ww, _WAIST), *_hem(hem, hem_y, 0.03), (ww, _WAIST)], 255))
    top = _waistband(d, a, ww)
    folds = 2 if hem_y - _WAIST < 0.4 else 4
    for k in np.linspace(-0.6, 0.6, folds):
        d.lines.append([(k * ww, top + 0.05), (k * hem * 0.9, hem_y + 0.02)])
    d.chest = (0.0, (top + hem_y) / 2)
    return d


_SHAPES = {"top": _upper_body, "dress": _upper_body, "pants": _pants, "skirt": _skirt}


# ---------------------------------------------------------------------------------------------- drawing


def _item_rng(item: Item, purpose: str) -> np.random.Generator:
    """A generator for an item's look beyond its attributes, seeded by its id (stable across runs)."""
    digest = hashlib.blake2b(f"{item.item_id}/{purpose}".encode(), digest_size=8).digest()
    return np.random.default_rng(int.from_bytes(digest, "little"))


def _toned(rgb: RGB, tone: str | None) -> np.ndarray:
    c = np.array(rgb, dtype=np.float32)
    if tone == "vivid":
        c = c.mean() + (c - c.mean()) * 1.35
    elif tone == "pastel/light":
        c = c * 0.45 + 255 * 0.55
    return np.clip(c, 0, 255)


@cache
def _font(px: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=max(6, px))


def _texture(
    a: GarmentAttributes, palette: np.ndarray, size: int, unit: float, chest: Point, rnd: np.random.Generator
) -> Image.Image:
    """The fabric print over the whole canvas (the silhouette cuts it out later). `palette` rows: base colour,
    second colour; `unit` is pixels per body unit so prints scale with the garment.

    Prints are built from 1-D row/column profiles broadcast to 2-D: float modulo over a full image is slow."""
    base, second = (tuple(int(v) for v in row) for row in palette)
    if a.pattern in ("solid", "lettering"):
        image = Image.new("RGB", (size, size), base)
        if a.pattern == "lettering":
            _lettering(image, a, second, unit, chest, rnd)
        return image
    axis = np.arange(size, dtype=np.float32)
    if a.pattern == "stripe":
        period = unit * rnd.uniform(0.05, 0.09)
        band = (axis + rnd.uniform(0, period)) % period < period * rnd.uniform(0.3, 0.55)
        index = np.broadcast_to(band[:, None] if rnd.random() < 0.6 else band[None, :], (size, size))
        colors = palette
    elif a.pattern == "check":  # gingham: where a light and a dark band cross, the colours mix
        period = unit * rnd.uniform(0.07, 0.12)
        band = (axis % period < period / 2).astype(np.uint8)
        index = band[:, None] + band[None, :]
        colors = np.stack([palette[0], (palette[0] + palette[1]) / 2, palette[1]])
    elif a.pattern == "dot":  # staggered rows of dots
        period = unit * rnd.uniform(0.06, 0.1)
        dy = axis % period - period / 2
        dx_even, dx_odd = dy, (axis + period / 2) % period - period / 2
        odd_row = (axis // period % 2 == 1)[:, None]
        dx = np.where(odd_row, dx_odd[None, :], dx_even[None, :])
        index = dx * dx + (dy * dy)[:, None] < (period * rnd.uniform(0.22, 0.32)) ** 2
        colors = palette
    else:  # flower: one five-petal blob per cell of a jittered grid
        period = unit * rnd.uniform(0.16, 0.24)
        cells = int(size // period) + 1
        jitter = (rnd.uniform(-0.2, 0.2, (2, cells, cells)) * period).astype(np.float32)
        turn = rnd.uniform(0, 2 * math.pi, (cells, cells)).astype(np.float32)
        cell, local = (axis // period).astype(np.intp), axis % period - period / 2
        row, col = cell[:, None], cell[None, :]
        dy = local[:, None] - jitter[0, row, col]
        dx = local[None, :] - jitter[1, row, col]
        r2 = (dx * dx + dy * dy) / (period * 0.4) ** 2
        petals = 0.55 + 0.45 * np.abs(np.cos(2.5 * (np.arctan2(dy, dx) + turn[row, col])))
        index = (r2 < petals * petals).astype(np.uint8) + (r2 < 0.0625)
        colors = np.stack([palette[0], palette[1], palette[1] * 0.55])
    image = Image.fromarray(np.ascontiguousarray(index, dtype=np.uint8))
    image.putpalette(np.asarray(colors, dtype=np.uint8).tobytes())  # palette lookup in C, not numpy indexing
    return image.convert("RGB")


def _lettering(
    image: Image.Image, a: GarmentAttributes, color: RGB, unit: float, chest: Point, rnd: np.random.Generator
) -> None:
    """A slogan on the chest of tops and dresses; a repeated word all over pants and skirts."""
    draw = ImageDraw.Draw(image)
    word = _choice(rnd, _PRINT_WORDS)
    if a.category in ("top", "dress"):
        px = int(unit * 0.12)
        while px > 6 and _font(px).getlength(word) > unit * 0.3:
            px -= 1
        draw.text(chest, word, fill=color, font=_font(px), anchor="mm")
        return
    font = _font(int(unit * 0.06))
    step = unit * 0.1
    line = "  ".join([word] * (2 + int(image.width // font.getlength(word + "  "))))
    for i, y in enumerate(np.arange(-step / 2, image.height, step)):
        draw.text((-(i % 2) * step, float(y)), line, fill=color, font=font)


def _outline_color(base: np.ndarray) -> RGB:
    """Seams and edges: darker than the fabric, or lighter on very dark fabric."""
    c = base + 70 if _luma(base) < 60 else base * 0.55
    return tuple(int(v) for v in np.clip(c, 0, 255))


@lru_cache(maxsize=4)
def _garment_layer(item: Item, size: int) -> tuple[Image.Image, Image.Image]:
    """The garment drawn centred on a `size` canvas: (RGB image, L mask of the garment).

    Cached so an item's shop and consumer images draw it once; callers must not modify the images."""
    a = item.attributes
    rnd = _item_rng(item, "garment")
    drawing = _SHAPES[a.category](a, GARMENTS[a.subcategory], rnd)
    points = np.array([p for poly, _ in drawing.parts for p in poly])
    low, high = points.min(axis=0), points.max(axis=0)
    unit = 0.86 * size / float((high - low).max())  # pixels per body unit
    centre = (low + high) / 2

    def px(poly: Sequence[Point]) -> list[Point]:
        return [((x - centre[0]) * unit + size / 2, (y - centre[1]) * unit + size / 2) for x, y in poly]

    jitter = rnd.integers(-8, 9, (len(a.color), 3))
    palette = np.clip(np.stack([_toned(COLOR_RGB[c], a.tone) for c in a.color]) + jitter, 0, 255)
    if len(palette) == 1:
        palette = np.concatenate([palette, palette])
    texture = _texture(a, palette, size, unit, px([drawing.chest])[0], rnd)
    width = max(1, round(size / 160))
    shade, mask = Image.new("L", (size, size), 0), Image.new("L", (size, size), 0)
    shade_draw, mask_draw = ImageDraw.Draw(shade), ImageDraw.Draw(mask)
    for poly, level in drawing.parts:
        shade_draw.polygon(px(poly), fill=level)
        mask_draw.polygon(px(poly), fill=255, outline=255, width=width)
    layer = ImageChops.multiply(texture, Image.merge("RGB", (shade, shade, shade)))
    draw = ImageDraw.Draw(layer)
    ink = _outline_color(palette[0])
    for poly, _ in drawing.parts:
        draw.polygon(px(poly), outline=ink, width=width)
    for line in drawing.lines:
        draw.line(px(line), fill=ink, width=width)
    for line in drawing.zips:
        draw.line(px(line), fill=(176, 176, 182), width=max(2, round(unit * 0.012)))
        (x, y), r = px(line[:1])[0], unit * 0.014
        draw.rectangle((x - r, y, x + r, y + 2.5 * r), fill=(150, 150, 156))
    r = unit * 0.012
    for x, y in px(drawing.buttons):
        draw.ellipse((x - r, y - r, x + r, y + r), fill=(236, 232, 222), outline=ink)
    return layer, mask


def render_shop(item: Item, size: int = 224) -> Image.Image:
    """The product photo: the garment upright and centred on a plain light background."""
    layer, mask = _garment_layer(item, size)
    tint = _item_rng(item, "background").integers(228, 250)
    image = Image.new("RGB", (size, size), (int(tint), int(tint), int(tint) - 3))
    image.paste(layer, mask=mask)
    return image


# -------------------------------------------------------------------------------------- consumer photos


def _random_color(rng: np.random.Generator) -> RGB:
    return tuple(int(v) for v in rng.integers(0, 256, 3))


def _gradient(rng: np.random.Generator, size: int, low: int, high: int, mode: str = "RGB") -> Image.Image:
    """A smooth random field: four random corner values, bilinearly stretched over the canvas."""
    bands = 3 if mode == "RGB" else 1
    corners = rng.integers(low, high, (2, 2, bands), dtype=np.uint8)
    return Image.fromarray(corners.squeeze(-1) if bands == 1 else corners).resize(
        (size, size), Image.BILINEAR
    )


def _polygon(rng: np.random.Generator, centre: np.ndarray, radius: float) -> list[Point]:
    """A random star-shaped polygon around `centre`."""
    n = int(rng.integers(3, 8))
    angles = np.sort(rng.uniform(0, 2 * math.pi, n))
    radii = radius * rng.uniform(0.5, 1.0, n)
    return [
        (float(centre[0] + r * math.cos(t)), float(centre[1] + r * math.sin(t)))
        for t, r in zip(angles, radii, strict=True)
    ]


def _shape(draw: ImageDraw.ImageDraw, rng: np.random.Generator, centre: np.ndarray, radius: float) -> None:
    """One random rectangle, ellipse, polygon or thick line."""
    kind, color = int(rng.integers(4)), _random_color(rng)
    (x, y), (w, h) = centre, radius * rng.uniform(0.4, 1.0, 2)
    if kind == 0:
        draw.rectangle((x - w, y - h, x + w, y + h), fill=color)
    elif kind == 1:
        draw.ellipse((x - w, y - h, x + w, y + h), fill=color)
    elif kind == 2:
        draw.polygon(_polygon(rng, centre, radius), fill=color)
    else:
        draw.line([(x - w, y - h), (x + w, y + h)], fill=color, width=max(2, int(radius * 0.3)))


def _perspective_coeffs(dst: np.ndarray, src: np.ndarray) -> tuple[float, ...]:
    """Coefficients for `Image.transform(PERSPECTIVE)`: the homography from output quad `dst` to `src`."""
    rows = []
    for (x, y), (u, v) in zip(dst, src, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
    return tuple(float(c) for c in np.linalg.solve(np.array(rows), src.reshape(8)))


def render_consumer(item: Item, rng: np.random.Generator | int, size: int = 224) -> Image.Image:
    """A photo of the item as a person might take it: cluttered background; the garment scaled, rotated and
    seen in perspective; partly hidden by something in front; uneven, tinted lighting; sensor noise."""
    layer, mask = _garment_layer(item, size)
    box = mask.getbbox()
    layer = layer.crop(box).convert("RGBA")
    layer.putalpha(mask.crop(box))
    return _consumer_scene(layer, box, rng, size)


def consumer_view(photo: Image.Image, rng: np.random.Generator | int, size: int = 224) -> Image.Image:
    """A "consumer copy" of any photo with the same transform as `render_consumer`: a random 75-90 % crop,
    then new background, scale, rotation, perspective, occlusion, colour cast and noise. It makes the
    consumer-to-shop proxy queries from real catalogue photos."""
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    width, height = photo.size
    fraction = rng.uniform(0.75, 0.9)
    w, h = max(1, int(width * fraction)), max(1, int(height * fraction))
    x0, y0 = int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1))
    layer = photo.convert("RGB").crop((x0, y0, x0 + w, y0 + h)).resize((size, size), Image.BILINEAR)
    return _consumer_scene(layer.convert("RGBA"), (0, 0, size, size), rng, size)


def _consumer_scene(
    layer: Image.Image, box: tuple[int, int, int, int], rng: np.random.Generator | int, size: int
) -> Image.Image:
    """Paste an RGBA `layer` (occupying `box` of a size×size canvas) into a cluttered, badly lit photo."""
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    image = _gradient(rng, size, 0, 256)
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(3, 9))):
        _shape(draw, rng, rng.uniform(0, size, 2), size * rng.uniform(0.08, 0.35))
    x0, y0, x1, y1 = box
    # Where the garment's box corners land: scaled, rotated about the canvas centre, shifted, each corner
    # nudged for perspective. Warping only the box, into only its bounding rectangle, keeps this cheap.
    scale, angle = rng.uniform(0.6, 0.95), math.radians(rng.uniform(-25, 25))
    centre = size / 2 + rng.uniform(-0.1, 0.1, 2) * size
    src = np.array([(x0, y0), (x1, y0), (x1, y1), (x0, y1)], dtype=np.float64)
    rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    dst = centre + (src - size / 2) * scale @ rotation.T + rng.uniform(-0.08, 0.08, (4, 2)) * size * scale
    low = np.clip(np.floor(dst.min(axis=0)), 0, size).astype(int)
    high = np.clip(np.ceil(dst.max(axis=0)), 0, size).astype(int)
    box = (int(high[0] - low[0]), int(high[1] - low[1]))
    warped = layer.transform(
        box, Image.PERSPECTIVE, _perspective_coeffs(dst - low, src - (x0, y0)), Image.BILINEAR
    )
    image.paste(warped, (int(low[0]), int(low[1])), warped)

    # Occluder: a shape centred off the garment's middle, covering part of it.
    direction = rng.uniform(0, 2 * math.pi)
    offset = size * scale * rng.uniform(0.2, 0.4) * np.array([math.cos(direction), math.sin(direction)])
    _shape(draw, rng, centre + offset, size * scale * rng.uniform(0.12, 0.22))

    gains = rng.uniform(0.85, 1.12, 3) * rng.uniform(0.75, 1.15)  # colour cast and exposure
    levels = (np.arange(256, dtype=np.float32) / 255) ** rng.uniform(0.8, 1.25)
    lut = np.clip(255 * levels[None, :] * gains[:, None], 0, 255).astype(np.uint8)
    image = image.point(lut.reshape(-1).tolist())
    light = _gradient(rng, size, 165, 256, mode="L")
    image = ImageChops.multiply(image, Image.merge("RGB", (light, light, light)))
    amplitude = int(rng.integers(2, 13))
    pixels = np.asarray(image).astype(np.int16)
    pixels += rng.integers(-amplitude, amplitude + 1, pixels.shape, dtype=np.int16)  # sensor noise
    return Image.fromarray(np.clip(pixels, 0, 255, out=pixels).astype(np.uint8))


# ------------------------------------------------------------------------------------------- catalogue


def catalogue_record(item: Item, image: str, image_id: str, role: str) -> dict[str, Any]:
    """One manifest line: ids, shop fields, template caption and the taxonomy fields as in labels.jsonl."""
    return {
        "id": image_id,
        "image": image,
        "item_id": item.item_id,
        "role": role,
        "source": "synthetic",
        "title": item.title,
        "url": item.url,
        "price": item.price,
        "caption": template_caption(item.attributes),
        **item.attributes.to_record(),
    }


def generate_catalogue(
    n_items: int,
    out_dir: str | Path,
    seed: int = 0,
    consumer_per_item: int = 1,
    size: int = 224,
    progress: bool = False,
) -> Path:
    """Write `n_items` shop images (`shop/<item>.jpg`), `consumer_per_item` consumer photos of each
    (`consumer/<item>-<k>.jpg`) and the manifest `catalogue.jsonl` (image paths relative to `out_dir`).
    Files of the same names are replaced. Returns the manifest path."""
    out = Path(out_dir)
    for role in ("shop", "consumer"):
        (out / role).mkdir(parents=True, exist_ok=True)
    manifest = out / "catalogue.jsonl"
    bar = tqdm(total=n_items * (1 + consumer_per_item), unit="img", desc="synth", disable=not progress)
    with JsonlWriter(manifest) as writer, bar:
        for index, item in enumerate(iter_items(n_items, seed)):
            views = [("shop", f"{item.item_id}-shop", f"shop/{item.item_id}.jpg", render_shop(item, size))]
            for k in range(consumer_per_item):
                image = render_consumer(item, _stream(seed, index, 1, k), size)
                views.append(("consumer", f"{item.item_id}-c{k}", f"consumer/{item.item_id}-{k}.jpg", image))
            for role, image_id, relative, image in views:
                image.save(out / relative, quality=90)
                writer.write(catalogue_record(item, relative, image_id, role))
            bar.update(len(views))
    return manifest
