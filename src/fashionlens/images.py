"""The one place images are opened: real photos arrive rotated, in odd modes, truncated or hostile.

`load_image` returns a fully decoded 8-bit RGB image or raises `ImageLoadError` with a one-line reason, so
batch jobs (`load_images`) can record a bad file and go on instead of dying mid-run.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO, TypeVar

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError
from tqdm import tqdm

ImageSource = str | Path | bytes | BinaryIO
S = TypeVar("S", bound=ImageSource)

#: Largest accepted image, in pixels (width x height), checked from the header before decoding. Above it a
#: file is refused as a decompression bomb. Pillow's own limit (Image.MAX_IMAGE_PIXELS, ~89 M) still applies
#: on top, as an error rather than Pillow's default warning.
MAX_PIXELS = 64_000_000
#: Transparent pixels are composited onto this colour (product photos are shot on white).
BACKGROUND = (255, 255, 255)
_SIXTEEN_BIT_MODES = frozenset({"I", "I;16", "I;16L", "I;16B", "I;16N"})


class ImageLoadError(Exception):
    """An image that could not be loaded; `source` names the file, `reason` says why in one line."""

    def __init__(self, source: str, reason: str) -> None:
        self.source = source
        self.reason = " ".join(reason.split())  # one line, whatever a decoder put in its message
        super().__init__(f"{source}: {self.reason}")


def describe(source: ImageSource) -> str:
    """A short printable name for a source (the path, a stream's name, or the byte count)."""
    if isinstance(source, str | Path):
        return str(source)
    if isinstance(source, bytes | bytearray | memoryview):
        return f"<{len(source)} bytes>"
    return str(getattr(source, "name", "<stream>"))


def _read_bytes(source: ImageSource) -> bytes:
    name = describe(source)
    if isinstance(source, bytes | bytearray | memoryview):
        return bytes(source)
    try:
        if isinstance(source, str | Path):
            return Path(source).read_bytes()
        return source.read()
    except FileNotFoundError:
        raise ImageLoadError(name, "file not found") from None
    except OSError as error:
        raise ImageLoadError(name, f"cannot read file ({error.strerror or error})") from None


def load_image(source: ImageSource) -> Image.Image:
    """Open, fully decode and normalise one image to 8-bit RGB, upright as its EXIF orientation says.

    Raises ImageLoadError for a missing, empty, unrecognised, oversized, truncated or corrupt file.
    """
    name = describe(source)
    data = _read_bytes(source)
    if not data:
        raise ImageLoadError(name, "empty file (0 bytes)")
    with warnings.catch_warnings():
        # Pillow only warns between 1x and 2x its pixel limit; a bomb must be an error every time.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data))
        except UnidentifiedImageError:
            raise ImageLoadError(name, "not an image (unrecognised format)") from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
            raise ImageLoadError(name, f"too large (possible decompression bomb): {error}") from None
        except Exception as error:  # a damaged header can raise anything from the format plugin
            raise _decode_error(name, error) from None
    width, height = image.size
    if width * height > MAX_PIXELS:
        pixels = f"{width}x{height} = {width * height} pixels, limit {MAX_PIXELS}"
        raise ImageLoadError(name, f"too large (possible decompression bomb): {pixels}")
    try:
        # Decode now, so a truncated or corrupt file fails here and not later inside a model or a worker.
        image.load()
        image = ImageOps.exif_transpose(image)
        return to_rgb(image)
    except Exception as error:  # decoders raise OSError, ValueError, SyntaxError, struct.error, ...
        raise _decode_error(name, error) from None


def _decode_error(name: str, error: Exception) -> ImageLoadError:
    message = str(error) or type(error).__name__
    reason = "truncated file" if "truncated" in message.lower() else "corrupt image data"
    return ImageLoadError(name, f"{reason} ({message})")


def to_rgb(image: Image.Image) -> Image.Image:
    """8-bit RGB from any Pillow mode: alpha and palette transparency composited on white, 16-bit scaled."""
    if image.mode in _SIXTEEN_BIT_MODES:
        # convert("L") would clip every value above 255 to white; rescale the 16-bit range instead.
        samples = np.asarray(image, dtype=np.float32)
        image = Image.fromarray((np.clip(samples, 0, 65535) / 257.0).round().astype(np.uint8), mode="L")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (*BACKGROUND, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image if image.mode == "RGB" else image.convert("RGB")


def crop_box(image: Image.Image, box: tuple[float, float, float, float]) -> Image.Image:
    """Crop to a (x0, y0, x1, y1) pixel box, rounded outwards and clamped to the image.

    Raises ValueError for an inverted or empty box, or one that lies entirely outside the image.
    """
    x0, y0, x1, y1 = box
    if not (x1 > x0 and y1 > y0):
        raise ValueError(f"empty or inverted box {tuple(box)}: need x0 < x1 and y0 < y1")
    width, height = image.size
    left, top = max(0, math.floor(x0)), max(0, math.floor(y0))
    right, bottom = min(width, math.ceil(x1)), min(height, math.ceil(y1))
    if right <= left or bottom <= top:
        raise ValueError(f"box {tuple(box)} lies outside the {width}x{height} image")
    return image.crop((left, top, right, bottom))


def load_images(
    sources: Iterable[S], progress: bool = False
) -> tuple[list[tuple[S, Image.Image]], list[tuple[S, ImageLoadError]]]:
    """Load many images; a bad one is recorded and skipped, never fatal.

    Returns the (source, image) pairs that loaded and the (source, error) pairs that did not, in input order.
    """
    loaded: list[tuple[S, Image.Image]] = []
    failed: list[tuple[S, ImageLoadError]] = []
    for source in tqdm(sources, desc="loading images", unit="img", disable=not progress):
        try:
            loaded.append((source, load_image(source)))
        except ImageLoadError as error:
            failed.append((source, error))
    return loaded, failed


def content_hash(source: str | os.PathLike[str] | bytes) -> str:
    """SHA-256 hex digest of a file's bytes: a cache and index key that survives renames and moves."""
    if isinstance(source, bytes | bytearray | memoryview):
        return hashlib.sha256(source).hexdigest()
    digest = hashlib.sha256()
    with open(source, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
