"""The example sheet drawn from real validation images, checked through its layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from services import reports
from services.categories import CATEGORIES
from services.errors import InvalidFieldError

# Validation images of the test data folder, drawn here as stand-ins for
# failures. The sheet does not check what the images show.
FILES = [
    "ILSVRC2012_val_00000001.JPEG",
    "ILSVRC2012_val_00000022.JPEG",
    "ILSVRC2012_val_00000140.JPEG",
    "ILSVRC2012_val_00000204.JPEG",
]


@pytest.fixture(scope="module")
def examples(test_data_dir: Path) -> dict[str, list[reports.Example]]:
    folder = test_data_dir / "imagenet-val"

    def example(name: str, confidence: float) -> reports.Example:
        return reports.Example(
            image_id=f"imagenet-val:{name.removesuffix('.JPEG')}",
            path=folder / name,
            ground_truth_name="flute",
            predicted_name="dalmatian",
            confidence=confidence,
        )

    return {
        "similar_labels": [example(name, 0.9) for name in FILES],
        "not_salient_gt": [example(FILES[0], 0.8)],
        # No challenging_image failures: the row has a label and no cells.
        "incorrect_gt": [example(FILES[1], 0.9), example(FILES[2], 0.5)],
        "incorrect_pc": [
            reports.Example("imagenet-val:gone", None, "tench", "goldfish", 0.7)
        ],
    }


@pytest.fixture(scope="module")
def sheet(examples) -> tuple[Image.Image, reports.SheetLayout]:
    return reports.render_example_sheet(examples, per_category=3)


def _pixels(image: Image.Image, box: reports.Box) -> np.ndarray:
    return np.asarray(image.crop(box).convert("RGB"), dtype=np.int32)


def test_sheet_size_matches_layout(sheet) -> None:
    image, layout = sheet
    assert image.size == (layout.width, layout.height)
    assert (
        layout.width
        == reports.LABEL_WIDTH
        + 3 * (reports.THUMBNAIL_SIZE + reports.PADDING)
        + reports.PADDING
    )


def test_one_row_per_category_in_order(sheet) -> None:
    _, layout = sheet
    assert [row.category for row in layout.rows] == [c.key for c in CATEGORIES]
    assert layout.rows[0].label == "1. Similar labels"
    assert layout.rows[4].label == "5. Incorrect PC"


def test_rows_do_not_overlap(sheet) -> None:
    _, layout = sheet
    for upper, lower in zip(layout.rows, layout.rows[1:], strict=False):
        assert upper.box[3] <= lower.box[1]


def test_cells_capped_per_category(sheet) -> None:
    _, layout = sheet
    cells = {row.category: len(row.cells) for row in layout.rows}
    assert cells == {
        "similar_labels": 3,
        "not_salient_gt": 1,
        "challenging_image": 0,
        "incorrect_gt": 2,
        "incorrect_pc": 1,
    }


def test_first_examples_are_drawn(sheet, examples) -> None:
    _, layout = sheet
    row = layout.rows[0]
    expected = tuple(e.image_id for e in examples["similar_labels"][:3])
    assert row.image_ids == expected


def test_every_row_label_is_drawn(sheet) -> None:
    image, layout = sheet
    for row in layout.rows:
        pixels = _pixels(image, row.label_box)
        dark = (pixels.sum(axis=2) < 300).sum()
        assert dark > 20, f"no label text in the row of {row.category}"


def test_empty_row_has_no_image(sheet) -> None:
    image, layout = sheet
    row = layout.rows[2]
    left = reports.LABEL_WIDTH
    pixels = _pixels(image, (left, row.box[1] + 1, layout.width, row.box[3]))
    assert (pixels == 255).all()


def test_thumbnail_is_pasted(sheet) -> None:
    image, layout = sheet
    left, top, _, _ = layout.rows[0].cells[0]
    size = reports.THUMBNAIL_SIZE
    pixels = _pixels(image, (left, top, left + size, top + size))
    assert pixels.std() > 10


def test_ground_truth_red_prediction_blue(sheet) -> None:
    image, layout = sheet
    left, top, right, bottom = layout.rows[3].cells[0]
    caption = _pixels(image, (left, top + reports.THUMBNAIL_SIZE, right, bottom))
    red = (caption[..., 0] > 150) & (caption[..., 1] < 80) & (caption[..., 2] < 80)
    blue = (caption[..., 2] > 150) & (caption[..., 0] < 80) & (caption[..., 1] < 80)
    assert red.sum() > 10
    assert blue.sum() > 10
    red_rows = np.nonzero(red.any(axis=1))[0]
    blue_rows = np.nonzero(blue.any(axis=1))[0]
    assert red_rows.mean() < blue_rows.mean()


def test_missing_file_draws_placeholder(sheet) -> None:
    image, layout = sheet
    left, top, _, _ = layout.rows[4].cells[0]
    pixel = image.getpixel((left + 5, top + 5))
    assert pixel == reports.PLACEHOLDER_COLOR


@pytest.mark.parametrize("per_category", [0, 21])
def test_per_category_out_of_range(examples, per_category: int) -> None:
    with pytest.raises(InvalidFieldError) as raised:
        reports.render_example_sheet(examples, per_category)
    assert raised.value.field == "per_category"
