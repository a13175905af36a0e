"""Image statistics that hint at hard imaging conditions: blur, exposure, contrast.

Every statistic is computed on the luma channel (ITU-R BT.601 weights, as Pillow's
``convert("L")``), after resampling the image so that its shorter side is
``WORKING_SHORTER_SIDE`` pixels. The variance of the Laplacian responds to
pixel-scale detail, which downscaling averages away and upscaling spreads out, so
the same photo gives values several times apart at two sizes. At one working
resolution the measure compares images by the detail they show relative to their
extent, whatever their pixel count, so one threshold fits a 224 x 224 thumbnail
and a 4000-pixel photo alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

WORKING_SHORTER_SIDE = 256
# NOTE: the cap keeps a panorama with an extreme aspect ratio from becoming a huge
# array. Such images end up with a shorter side under 256.
MAX_WORKING_LONGER_SIDE = 4096
# The 4-neighbour Laplacian needs a 3 x 3 neighbourhood.
MIN_WORKING_SIDE = 3


@dataclass(frozen=True)
class ImageQuality:
    """Statistics of one decoded image. Width and height are the original size."""

    # Variance of the 4-neighbour Laplacian of the luma at the working resolution.
    sharpness: float
    # Mean luma, 0 (black) to 255 (white).
    brightness: float
    # RMS contrast: the standard deviation of luma, 0 to 127.5.
    contrast: float
    width: int
    height: int


def working_size(width: int, height: int) -> tuple[int, int]:
    """Return the size at which the statistics of a ``width`` x ``height`` image
    are computed: shorter side 256, longer side at most 4096, each at least 3."""
    if width < 1 or height < 1:
        raise ValueError(f"image size {width}x{height} is empty; decode a real image")
    scale = min(
        WORKING_SHORTER_SIDE / min(width, height),
        MAX_WORKING_LONGER_SIDE / max(width, height),
    )
    return (
        max(MIN_WORKING_SIDE, round(width * scale)),
        max(MIN_WORKING_SIDE, round(height * scale)),
    )


def luma_at_working_size(image: Image.Image) -> np.ndarray:
    """Return the image's luma as float64 at the working size, values 0 to 255."""
    if image.mode != "RGB":
        image = image.convert("RGB")
    # Resampling in mode F keeps fractional values, so the later statistics do
    # not see rounding to 8 bits after the resize.
    luma = image.convert("L").convert("F")
    resized = luma.resize(working_size(*image.size), resample=Image.Resampling.BILINEAR)
    return np.asarray(resized, dtype=np.float64)


def laplacian_variance(luma: np.ndarray) -> float:
    """Return the variance of the 4-neighbour Laplacian over interior pixels.

    The kernel is [[0, 1, 0], [1, -4, 1], [0, 1, 0]], the one OpenCV's
    ``cv2.Laplacian`` uses with its default aperture, so values are on the same
    scale as the usual variance-of-Laplacian blur measure on 8-bit images.
    """
    if luma.ndim != 2 or min(luma.shape) < MIN_WORKING_SIDE:
        raise ValueError(
            f"luma of shape {luma.shape} is too small; the Laplacian needs a "
            "2-D array of at least 3 x 3"
        )
    laplacian = (
        luma[:-2, 1:-1]
        + luma[2:, 1:-1]
        + luma[1:-1, :-2]
        + luma[1:-1, 2:]
        - 4.0 * luma[1:-1, 1:-1]
    )
    return float(laplacian.var())


def measure_image_quality(image: Image.Image) -> ImageQuality:
    """Measure sharpness, brightness and contrast of a decoded image."""
    width, height = image.size
    luma = luma_at_working_size(image)
    return ImageQuality(
        sharpness=laplacian_variance(luma),
        brightness=float(luma.mean()),
        contrast=float(luma.std()),
        width=width,
        height=height,
    )
