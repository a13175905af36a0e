"""Image decoding with size limits, EXIF orientation and conversion to RGB."""

from __future__ import annotations

import io
import logging

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from services.errors import (
    CorruptImageError,
    ImageTooLargeError,
    MissingImageError,
    UnsupportedImageError,
)

logger = logging.getLogger(__name__)

# NOTE: open_image compares the header's size with FAILCAT_MAX_PIXELS before any
# pixel is decoded, so Pillow's own bomb check (which would name no size) is off.
Image.MAX_IMAGE_PIXELS = None

# Formats an upload may be in. MPO is the multi-picture JPEG many cameras write.
DECODABLE_FORMATS = frozenset({"JPEG", "MPO", "PNG", "GIF", "BMP", "TIFF", "WEBP"})

# The shorter side a decoded JPEG keeps at least. JPEG draft mode may decode at
# 1/2, 1/4 or 1/8 scale, and twice the largest member resize (292 px) keeps the
# bicubic downscale that follows working from more pixels than it outputs.
DRAFT_MIN_SHORTER_SIDE = 584


def open_image(data: bytes, max_pixels: int) -> Image.Image:
    """Identify ``data`` and check its size from the header, without decoding.

    Raises MissingImageError for no bytes, UnsupportedImageError for bytes that
    are not a decodable format, and ImageTooLargeError when the header declares
    more than ``max_pixels`` pixels.
    """
    if not data:
        raise MissingImageError("the image is empty; send the bytes of a JPEG or PNG")
    try:
        image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise UnsupportedImageError(
            "the bytes are not an image format failcat decodes; "
            f"send one of {', '.join(sorted(DECODABLE_FORMATS))}"
        ) from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise CorruptImageError(f"the image header is corrupt: {exc}") from None
    if image.format not in DECODABLE_FORMATS:
        raise UnsupportedImageError(
            f"image format {image.format} is not supported; "
            f"send one of {', '.join(sorted(DECODABLE_FORMATS))}"
        )
    width, height = image.size
    if width * height > max_pixels:
        raise ImageTooLargeError(
            f"the image is {width}x{height} = {width * height} pixels, over the "
            f"limit of {max_pixels} (FAILCAT_MAX_PIXELS); send a smaller image"
        )
    return image


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert any decoded mode to RGB.

    Transparent images are composited on white, because the colour under fully
    transparent pixels is arbitrary. 16-bit and 32-bit grayscale are scaled to
    8 bits instead of clipped.
    """
    if image.mode == "RGB":
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") or values.max() > 255 else 255.0
        gray = np.clip(values / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(gray, mode="L").convert("RGB")
    if image.mode == "F":
        values = np.asarray(image, dtype=np.float64)
        gray = np.clip(values * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(gray, mode="L").convert("RGB")
    has_alpha = image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        image.mode == "P" and "transparency" in image.info
    )
    if has_alpha:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def decode_image(data: bytes, max_pixels: int) -> Image.Image:
    """Decode ``data`` into an upright RGB image.

    EXIF orientation is applied; grayscale, palette, RGBA and CMYK become RGB.
    A file that starts decoding but is truncated or corrupt raises
    CorruptImageError.
    """
    image = open_image(data, max_pixels)
    if image.format in ("JPEG", "MPO"):
        width, height = image.size
        shorter = min(width, height)
        if shorter > DRAFT_MIN_SHORTER_SIDE:
            scale = DRAFT_MIN_SHORTER_SIDE / shorter
            image.draft("RGB", (int(width * scale) + 1, int(height * scale) + 1))
    try:
        image.load()
        image = ImageOps.exif_transpose(image)
        return to_rgb(image)
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise CorruptImageError(
            f"the image is truncated or corrupt ({exc}); send the complete file"
        ) from None


def image_size(data: bytes, max_pixels: int) -> tuple[int, int]:
    """Return the (width, height) an image's header declares."""
    return open_image(data, max_pixels).size
