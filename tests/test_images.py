"""Image loading on a corpus of real-world problem files, all generated here at test time."""

from __future__ import annotations

import hashlib
import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fashionlens import images
from fashionlens.images import ImageLoadError, content_hash, crop_box, load_image, load_images, to_rgb

RED, BLUE = (255, 0, 0), (0, 0, 255)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_claiming(width: int, height: int) -> bytes:
    """A valid-looking PNG header that claims `width` x `height` pixels but holds almost no data."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(bytes(64)))
        + _png_chunk(b"IEND", b"")
    )


def noise(width: int = 64, height: int = 48, seed: int = 0) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8))


def encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def halves(width: int, height: int, left: tuple[int, int, int], right: tuple[int, int, int]) -> Image.Image:
    image = Image.new("RGB", (width, height), left)
    image.paste(right, (width // 2, 0, width, height))
    return image


def exif_rotated() -> bytes:
    """40x20 stored pixels, red left and blue right, EXIF orientation 6 (to be shown turned 90° clockwise)."""
    exif = Image.Exif()
    exif[0x0112] = 6
    return encode(halves(40, 20, RED, BLUE), "JPEG", quality=95, exif=exif)


def palette_with_transparency() -> bytes:
    image = Image.new("P", (8, 8), 0)
    image.putpalette([*RED, *BLUE] + [0] * 762)
    image.paste(1, (0, 0, 4, 8))  # left half index 1 (blue), right half index 0 (red, transparent)
    return encode(image, "PNG", transparency=0)


def sixteen_bit() -> bytes:
    values = np.array([[0, 257 * 128, 65535, 30000]], dtype=np.uint16)
    return encode(Image.fromarray(values), "PNG")


def truncated_jpeg() -> bytes:
    data = encode(noise(), "JPEG", quality=90)
    return data[: len(data) // 2]


def corrupt_png() -> bytes:
    data = bytearray(encode(noise(), "PNG"))
    start = data.index(b"IDAT") + 40
    data[start : start + 40] = bytes(40)  # zero a run of the compressed pixel stream
    return bytes(data)


GOOD = {
    "rgb.jpg": lambda: encode(noise(), "JPEG"),
    "cmyk.jpg": lambda: encode(Image.new("CMYK", (16, 16), (255, 0, 0, 0)), "JPEG", quality=95),
    "gray16.png": sixteen_bit,
    "exif-rotated.jpg": exif_rotated,
    "palette-transparent.png": palette_with_transparency,
    "rgba.png": lambda: encode(Image.new("RGBA", (8, 8), (*RED, 0)), "PNG"),
    "gray.png": lambda: encode(Image.new("L", (8, 8), 77), "PNG"),
}
BAD = {
    "zero-byte.jpg": (lambda: b"", "empty file"),
    "not-an-image.jpg": (lambda: b"this is a text file, not a photo\n", "not an image"),
    "truncated.jpg": (truncated_jpeg, "truncated"),
    "corrupt.png": (corrupt_png, "corrupt"),
    "bomb.png": (lambda: png_claiming(30_000, 30_000), "too large"),
}


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    for name, make in GOOD.items():
        (tmp_path / name).write_bytes(make())
    for name, (make, _) in BAD.items():
        (tmp_path / name).write_bytes(make())
    return tmp_path


@pytest.mark.parametrize("name", sorted(GOOD))
def test_good_files_load_as_8bit_rgb(corpus: Path, name: str) -> None:
    image = load_image(corpus / name)
    assert image.mode == "RGB"
    assert np.asarray(image).dtype == np.uint8


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_files_raise_a_one_line_reason(corpus: Path, name: str) -> None:
    with pytest.raises(ImageLoadError) as caught:
        load_image(corpus / name)
    error = caught.value
    assert BAD[name][1] in error.reason
    assert error.source == str(corpus / name)
    assert str(error).startswith(f"{corpus / name}: ") and "\n" not in str(error)


def test_missing_file() -> None:
    with pytest.raises(ImageLoadError, match="file not found"):
        load_image("/nonexistent/photo.jpg")


def test_exif_orientation_is_applied(corpus: Path) -> None:
    raw = Image.open(corpus / "exif-rotated.jpg")
    assert raw.size == (40, 20)
    image = np.asarray(load_image(corpus / "exif-rotated.jpg"), dtype=int)
    assert image.shape == (40, 20, 3)  # now portrait: 20 wide, 40 high
    # Rotated clockwise, the stored left (red) half becomes the top and the right (blue) half the bottom.
    assert np.abs(image[5, 10] - RED).max() < 40
    assert np.abs(image[35, 10] - BLUE).max() < 40


def test_cmyk_becomes_rgb(corpus: Path) -> None:
    pixel = np.asarray(load_image(corpus / "cmyk.jpg"), dtype=int)[8, 8]
    assert np.abs(pixel - (0, 255, 255)).max() < 10  # pure cyan


def test_sixteen_bit_is_rescaled_not_clipped(corpus: Path) -> None:
    assert Image.open(corpus / "gray16.png").mode.startswith("I")
    row = np.asarray(load_image(corpus / "gray16.png"))[0, :, 0]
    assert row.tolist() == [0, 128, 255, round(30000 / 257)]


def test_32bit_integer_mode_is_rescaled() -> None:
    image = Image.fromarray(np.array([[0, 65535, 1000]], dtype=np.int32))
    assert image.mode == "I"
    assert np.asarray(to_rgb(image))[0, :, 1].tolist() == [0, 255, 4]


def test_transparency_is_composited_on_white(corpus: Path) -> None:
    palette = np.asarray(load_image(corpus / "palette-transparent.png"))
    assert palette[4, 1].tolist() == list(BLUE)  # opaque palette entry keeps its colour
    assert palette[4, 6].tolist() == [255, 255, 255]  # transparent red index becomes background
    assert np.asarray(load_image(corpus / "rgba.png"))[0, 0].tolist() == [255, 255, 255]
    half = to_rgb(Image.new("LA", (2, 2), (0, 128)))
    assert np.asarray(half)[0, 0].tolist() == [127, 127, 127]


def test_grayscale_becomes_three_equal_channels(corpus: Path) -> None:
    assert np.asarray(load_image(corpus / "gray.png"))[0, 0].tolist() == [77, 77, 77]


@pytest.mark.parametrize("size", [(20_000, 20_000), (10_000, 10_000), (9_000, 8_000)])
def test_decompression_bomb_is_an_error_at_every_size_above_the_limit(size: tuple[int, int]) -> None:
    # 400 M pixels: Pillow's own error; 100 M: Pillow only warns; 72 M: below Pillow's limit, above ours.
    with pytest.raises(ImageLoadError, match="too large"):
        load_image(png_claiming(*size))


def test_pillow_limit_stays_an_error_when_ours_is_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    # Between 1x and 2x its limit Pillow only warns; that warning must still refuse the file.
    monkeypatch.setattr(images, "MAX_PIXELS", 10**9)
    with pytest.raises(ImageLoadError, match=r"too large .*exceeds limit"):
        load_image(png_claiming(10_000, 10_000))


def test_limit_is_checked_before_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    data = encode(noise(16, 16), "PNG")
    assert load_image(data).size == (16, 16)
    monkeypatch.setattr(images, "MAX_PIXELS", 255)
    with pytest.raises(ImageLoadError, match="16x16 = 256 pixels, limit 255"):
        load_image(data)


def test_bytes_and_stream_sources(corpus: Path) -> None:
    expected = np.asarray(load_image(corpus / "rgb.jpg"))
    data = (corpus / "rgb.jpg").read_bytes()
    assert np.array_equal(np.asarray(load_image(data)), expected)
    with (corpus / "rgb.jpg").open("rb") as stream:
        assert np.array_equal(np.asarray(load_image(stream)), expected)
    with pytest.raises(ImageLoadError) as caught:
        load_image(b"")
    assert caught.value.source == "<0 bytes>"


def test_batch_returns_the_good_and_records_every_bad(corpus: Path) -> None:
    sources = [corpus / name for name in sorted([*GOOD, *BAD])]
    loaded, failed = load_images(sources)
    assert [path.name for path, _ in loaded] == sorted(GOOD)
    assert [path.name for path, _ in failed] == sorted(BAD)
    assert all(image.mode == "RGB" for _, image in loaded)
    assert all(isinstance(error, ImageLoadError) and error.source == str(path) for path, error in failed)


def test_crop_box_rounds_outwards_and_clamps() -> None:
    image = noise(64, 48)
    assert crop_box(image, (10.2, 5.7, 20.1, 15.0)).size == (11, 10)  # x 10..21, y 5..15
    assert crop_box(image, (-5, -5, 100, 100)).size == (64, 48)
    inside = np.asarray(crop_box(image, (4, 3, 8, 9)))
    assert np.array_equal(inside, np.asarray(image)[3:9, 4:8])


@pytest.mark.parametrize(
    ("box", "message"),
    [
        ((10, 10, 10, 20), "empty or inverted"),
        ((20, 10, 10, 20), "empty or inverted"),
        ((70, 0, 80, 10), "outside"),
    ],
)
def test_crop_box_rejects_bad_boxes(box: tuple[float, float, float, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        crop_box(noise(64, 48), box)


def test_content_hash(corpus: Path) -> None:
    data = (corpus / "rgb.jpg").read_bytes()
    assert content_hash(corpus / "rgb.jpg") == hashlib.sha256(data).hexdigest() == content_hash(data)
    assert content_hash(str(corpus / "rgb.jpg")) == content_hash(data)
    assert content_hash(corpus / "gray.png") != content_hash(data)
