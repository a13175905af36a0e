"""Turn one decoded RGB image into each member's input tensor."""

from __future__ import annotations

import numpy as np
from PIL import Image

from models.registry import Preprocessing

_FILTERS = {
    "bicubic": Image.Resampling.BICUBIC,
    "bilinear": Image.Resampling.BILINEAR,
    "lanczos": Image.Resampling.LANCZOS,
}


def resize_and_crop(image: Image.Image, spec: Preprocessing) -> Image.Image:
    """Resize the shorter side to ``spec.resize_shorter`` and keep the centre crop.

    Only the source region behind the crop is resampled, so a very thin image
    (10000 x 1, say) costs a crop's worth of pixels instead of a resized image
    millions of pixels long. Pillow's filter still reads source pixels just
    outside that region, so the result matches resizing the whole image first.
    """
    width, height = image.size
    factor = spec.resize_shorter / min(width, height)
    new_width = max(spec.crop, round(width * factor))
    new_height = max(spec.crop, round(height * factor))
    left = (new_width - spec.crop) // 2
    top = (new_height - spec.crop) // 2
    scale_x = width / new_width
    scale_y = height / new_height
    box = (
        left * scale_x,
        top * scale_y,
        (left + spec.crop) * scale_x,
        (top + spec.crop) * scale_y,
    )
    return image.resize((spec.crop, spec.crop), _FILTERS[spec.interpolation], box=box)


def to_tensor(image: Image.Image, spec: Preprocessing) -> np.ndarray:
    """Return the crop as a CHW float32 array scaled as ``(x - offset) / scale``."""
    pixels = np.asarray(image, dtype=np.float32)
    pixels = (pixels - spec.offset) / spec.scale
    return np.ascontiguousarray(pixels.transpose(2, 0, 1))


def preprocess(image: Image.Image, spec: Preprocessing) -> np.ndarray:
    """Return one member's CHW input for an RGB image."""
    return to_tensor(resize_and_crop(image, spec), spec)


def preprocess_for_members(
    image: Image.Image, specs: dict[str, Preprocessing]
) -> dict[str, np.ndarray]:
    """Return every member's input for one decoded image, keyed by member name."""
    return {name: preprocess(image, spec) for name, spec in specs.items()}
