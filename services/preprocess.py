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
    """Resize the shorter side to ``spec.resize_shorter`` and keep the centre crop."""
    width, height = image.size
    factor = spec.resize_shorter / min(width, height)
    new_width = max(spec.crop, round(width * factor))
    new_height = max(spec.crop, round(height * factor))
    resized = image.resize((new_width, new_height), _FILTERS[spec.interpolation])
    left = (new_width - spec.crop) // 2
    top = (new_height - spec.crop) // 2
    return resized.crop((left, top, left + spec.crop, top + spec.crop))


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
