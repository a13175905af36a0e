"""Sharpness, brightness and contrast of decoded images."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageEnhance, ImageFilter

from services import image_quality

# A sharp, well-exposed photo of the sample set, 333 x 500 pixels.
SHARP_SAMPLE = "n01494475_hammerhead.JPEG"


@pytest.fixture(scope="module")
def sharp_image() -> Image.Image:
    root = os.environ.get("FAILCAT_TEST_DATA")
    if not root:
        pytest.skip("FAILCAT_TEST_DATA is not set; point it at the test data folder")
    path = Path(root) / "imagenet-samples" / SHARP_SAMPLE
    if not path.is_file():
        pytest.fail(f"FAILCAT_TEST_DATA is set but {path} is missing")
    with Image.open(path) as image:
        return image.convert("RGB")


def test_working_size_landscape() -> None:
    assert image_quality.working_size(500, 375) == (341, 256)


def test_working_size_upscales_thumbnail() -> None:
    assert image_quality.working_size(224, 224) == (256, 256)


def test_working_size_caps_longer_side() -> None:
    assert image_quality.working_size(100, 10_000) == (41, 4096)


def test_working_size_keeps_laplacian_neighbourhood() -> None:
    assert image_quality.working_size(1, 100_000) == (3, 4096)


def test_working_size_empty_image() -> None:
    with pytest.raises(ValueError, match="empty"):
        image_quality.working_size(0, 10)


def test_laplacian_variance_impulse() -> None:
    luma = np.zeros((5, 5))
    luma[2, 2] = 1.0
    # Interior 3 x 3 response: -4 at the centre, 1 at its four neighbours.
    assert image_quality.laplacian_variance(luma) == pytest.approx(20 / 9)


def test_laplacian_variance_linear_ramp_is_zero() -> None:
    ramp = np.add.outer(np.arange(10.0), 2.0 * np.arange(12.0))
    assert image_quality.laplacian_variance(ramp) == pytest.approx(0.0)


def test_laplacian_variance_too_small() -> None:
    with pytest.raises(ValueError, match="too small"):
        image_quality.laplacian_variance(np.zeros((2, 5)))


def test_uniform_image_statistics() -> None:
    quality = image_quality.measure_image_quality(
        Image.new("RGB", (300, 200), (90, 90, 90))
    )
    assert quality.sharpness == pytest.approx(0.0)
    assert quality.brightness == pytest.approx(90.0)
    assert quality.contrast == pytest.approx(0.0)


def test_half_black_half_white_statistics() -> None:
    pixels = np.zeros((256, 256, 3), dtype=np.uint8)
    pixels[:, 128:] = 255
    quality = image_quality.measure_image_quality(Image.fromarray(pixels))
    assert quality.brightness == pytest.approx(127.5)
    assert quality.contrast == pytest.approx(127.5)


def test_size_is_original_size() -> None:
    quality = image_quality.measure_image_quality(Image.new("RGB", (640, 480)))
    assert quality.width == 640
    assert quality.height == 480


def test_grayscale_input_matches_rgb(sharp_image: Image.Image) -> None:
    from_rgb = image_quality.measure_image_quality(sharp_image)
    from_gray = image_quality.measure_image_quality(sharp_image.convert("L"))
    assert from_gray.sharpness == pytest.approx(from_rgb.sharpness)


def test_blurred_copy_is_much_less_sharp(sharp_image: Image.Image) -> None:
    sharp = image_quality.measure_image_quality(sharp_image)
    blurred = image_quality.measure_image_quality(
        sharp_image.filter(ImageFilter.GaussianBlur(radius=4))
    )
    assert blurred.sharpness < sharp.sharpness / 10


def test_sharpness_comparable_across_resolutions(sharp_image: Image.Image) -> None:
    original = image_quality.measure_image_quality(sharp_image)
    doubled = image_quality.measure_image_quality(
        sharp_image.resize(
            (sharp_image.width * 2, sharp_image.height * 2),
            Image.Resampling.BICUBIC,
        )
    )
    ratio = doubled.sharpness / original.sharpness
    assert 0.5 < ratio < 2.0, f"sharpness ratio {ratio:.2f} between 2x and 1x sizes"


def test_darkened_copy_is_dark(sharp_image: Image.Image) -> None:
    dark = ImageEnhance.Brightness(sharp_image).enhance(0.1)
    quality = image_quality.measure_image_quality(dark)
    assert quality.brightness < 30.0
