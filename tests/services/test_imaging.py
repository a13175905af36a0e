"""Decoding: orientation, colour modes, limits and corrupt files."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from services.errors import (
    CorruptImageError,
    ImageTooLargeError,
    MissingImageError,
    UnsupportedImageError,
)
from services.imaging import decode_image, open_image, to_rgb

LIMIT = 40_000_000


def _encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def test_exif_orientation_applied():
    upright = Image.new("RGB", (60, 40), (10, 200, 10))
    upright.paste((250, 0, 0), (0, 0, 10, 10))
    # Store the pixels rotated and let orientation 6 (rotate 90 CW on display)
    # bring them back.
    stored = upright.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    decoded = decode_image(_encode(stored, "PNG", exif=exif), LIMIT)
    assert decoded.size == (60, 40)
    assert np.asarray(decoded)[2, 2, 0] > 200


def test_grayscale_becomes_three_equal_channels():
    gray = Image.fromarray(np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) % 256)
    decoded = np.asarray(decode_image(_encode(gray.convert("L"), "PNG"), LIMIT))
    assert decoded.shape == (64, 64, 3)
    assert np.array_equal(decoded[..., 0], decoded[..., 1])
    assert np.array_equal(decoded[..., 1], decoded[..., 2])


def test_rgba_composited_on_white():
    rgba = Image.new("RGBA", (8, 8), (0, 0, 0, 0))
    decoded = decode_image(_encode(rgba, "PNG"), LIMIT)
    assert decoded.mode == "RGB"
    assert decoded.getpixel((0, 0)) == (255, 255, 255)


def test_palette_converted():
    palette = Image.new("RGB", (8, 8), (0, 0, 255)).convert("P")
    assert decode_image(_encode(palette, "PNG"), LIMIT).getpixel((1, 1)) == (0, 0, 255)


def test_sixteen_bit_gray_scaled():
    deep = Image.fromarray(np.full((4, 4), 65535, dtype=np.uint16))
    assert to_rgb(deep).getpixel((0, 0)) == (255, 255, 255)


def test_cmyk_jpeg_decoded():
    cmyk = Image.new("RGB", (32, 32), (255, 0, 0)).convert("CMYK")
    decoded = decode_image(_encode(cmyk, "JPEG", quality=95), LIMIT)
    red, green, blue = decoded.getpixel((16, 16))
    assert decoded.mode == "RGB"
    assert red > 200
    assert green < 60
    assert blue < 60


def test_empty_bytes():
    with pytest.raises(MissingImageError):
        decode_image(b"", LIMIT)


def test_html_unsupported():
    with pytest.raises(UnsupportedImageError):
        decode_image(b"<!doctype html><p>not an image</p>", LIMIT)


def test_pixel_limit_from_header():
    bomb = _encode(Image.new("1", (20000, 20000)), "PNG", optimize=True)
    image = None
    with pytest.raises(ImageTooLargeError) as error:
        image = open_image(bomb, LIMIT)
    assert image is None
    assert error.value.errors["image"]


def test_truncated_jpeg_corrupt():
    noise = np.random.default_rng(0).integers(0, 255, (300, 300, 3), dtype=np.uint8)
    data = _encode(Image.fromarray(noise), "JPEG", quality=90)
    with pytest.raises(CorruptImageError):
        decode_image(data[: int(len(data) * 0.6)], LIMIT)


def test_large_jpeg_decoded_with_draft():
    big = Image.new("RGB", (4000, 3000), (120, 60, 30))
    decoded = decode_image(_encode(big, "JPEG"), LIMIT)
    assert min(decoded.size) >= 584
    assert min(decoded.size) < 3000
