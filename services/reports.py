"""The example sheet: failures of a job drawn per suggested category.

The sheet follows Figure 1 of Lee, Agarwal and Kim, "Why Do Deep Neural
Networks Still Not Recognize These Images? A Qualitative Analysis on Failure
Cases of ImageNet Classification": one row per category, labelled with its
title, and up to ``per_category`` failures in it, each with its ground truth in
red and the predicted class in blue below it. A row shows the failures whose
suggestion has the category, the most confident first.

The sheet is made of dataset images, so write it only where those images may
go, never into the repository.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont, ImageOps

from services import datasets, labels
from services.categories import CATEGORIES
from services.config import Settings
from services.errors import ConflictError, FailcatError, InvalidFieldError
from services.imaging import decode_image
from services.storage.repositories import Repository
from services.storage.suggestion_repository import SuggestionRepository

logger = logging.getLogger(__name__)

MIN_PER_CATEGORY = 1
MAX_PER_CATEGORY = 20

PADDING = 12
LABEL_WIDTH = 220
THUMBNAIL_SIZE = 160
CAPTION_HEIGHT = 44
LABEL_FONT_SIZE = 18
CAPTION_FONT_SIZE = 13

BACKGROUND = (255, 255, 255)
LABEL_COLOR = (0, 0, 0)
GROUND_TRUTH_COLOR = (200, 0, 0)
PREDICTION_COLOR = (0, 0, 200)
PLACEHOLDER_COLOR = (210, 210, 210)
ROW_RULE_COLOR = (190, 190, 190)

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class Example:
    """One failure to draw: its image file and the names of its two classes."""

    image_id: str
    # None when the file could not be found; a placeholder is drawn instead.
    path: Path | None
    ground_truth_name: str
    predicted_name: str
    confidence: float


@dataclass(frozen=True)
class RowLayout:
    """Positions of one category's row, label and example cells on the sheet.

    Boxes are (left, top, right, bottom) in pixels, right and bottom exclusive.
    """

    category: str
    label: str
    box: Box
    label_box: Box
    # One box per example drawn: the thumbnail cell and, below it, the caption.
    cells: tuple[Box, ...]
    image_ids: tuple[str, ...]


@dataclass(frozen=True)
class SheetLayout:
    """The size of a sheet and its rows, in category id order."""

    width: int
    height: int
    rows: tuple[RowLayout, ...]


def check_per_category(per_category: int) -> None:
    """Raise InvalidFieldError unless ``per_category`` is within 1 to 20."""
    if not MIN_PER_CATEGORY <= per_category <= MAX_PER_CATEGORY:
        raise InvalidFieldError(
            "per_category",
            f"per_category must be between {MIN_PER_CATEGORY} and "
            f"{MAX_PER_CATEGORY}, got {per_category}.",
        )


def category_label(category_id: int, title: str) -> str:
    """Return the row label of a category, such as ``1. Similar labels``."""
    return f"{category_id}. {title}"


def _fit(
    draw: ImageDraw.ImageDraw, text: str, font: ImageFont.FreeTypeFont, width: int
) -> str:
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "...", font=font) > width:
        text = text[:-1]
    return text + "..."


def _thumbnail(path: Path | None, max_pixels: int) -> Image.Image | None:
    if path is None:
        return None
    try:
        image = decode_image(path.read_bytes(), max_pixels)
    except (FailcatError, OSError) as exc:
        logger.warning("example image %s could not be drawn: %s", path, exc)
        return None
    return ImageOps.contain(image, (THUMBNAIL_SIZE, THUMBNAIL_SIZE))


def sheet_layout(
    examples: Mapping[str, Sequence[Example]], per_category: int
) -> SheetLayout:
    """Place the rows, labels and cells of a sheet without drawing anything."""
    check_per_category(per_category)
    cell_width = THUMBNAIL_SIZE + PADDING
    row_height = PADDING + THUMBNAIL_SIZE + CAPTION_HEIGHT
    width = LABEL_WIDTH + per_category * cell_width + PADDING
    rows = []
    for index, category in enumerate(CATEGORIES):
        top = PADDING + index * row_height
        bottom = top + row_height
        drawn = list(examples.get(category.key, ()))[:per_category]
        cells = tuple(
            (
                LABEL_WIDTH + i * cell_width,
                top + PADDING,
                LABEL_WIDTH + i * cell_width + THUMBNAIL_SIZE,
                bottom,
            )
            for i in range(len(drawn))
        )
        rows.append(
            RowLayout(
                category=category.key,
                label=category_label(category.id, category.title),
                box=(0, top, width, bottom),
                label_box=(PADDING, top + PADDING, LABEL_WIDTH - PADDING, bottom),
                cells=cells,
                image_ids=tuple(example.image_id for example in drawn),
            )
        )
    height = PADDING + len(CATEGORIES) * row_height + PADDING
    return SheetLayout(width=width, height=height, rows=tuple(rows))


def render_example_sheet(
    examples: Mapping[str, Sequence[Example]],
    per_category: int,
    max_pixels: int = 40_000_000,
) -> tuple[Image.Image, SheetLayout]:
    """Draw the example sheet and return it with its layout.

    ``examples`` maps category keys to failures, best first. Only the first
    ``per_category`` of each are drawn, and a category without failures gets
    a row with its label only.
    """
    layout = sheet_layout(examples, per_category)
    sheet = Image.new("RGB", (layout.width, layout.height), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    label_font = ImageFont.load_default(size=LABEL_FONT_SIZE)
    caption_font = ImageFont.load_default(size=CAPTION_FONT_SIZE)
    for row in layout.rows:
        left, top, right, bottom = row.box
        if top > PADDING:
            draw.line([(left, top), (right, top)], fill=ROW_RULE_COLOR)
        label_left, label_top, label_right, label_bottom = row.label_box
        label_y = label_top + THUMBNAIL_SIZE // 2 - LABEL_FONT_SIZE // 2
        draw.text(
            (label_left, label_y),
            _fit(draw, row.label, label_font, label_right - label_left),
            fill=LABEL_COLOR,
            font=label_font,
        )
        drawn = list(examples.get(row.category, ()))[: len(row.cells)]
        for cell, example in zip(row.cells, drawn, strict=True):
            _draw_example(sheet, draw, cell, example, caption_font, max_pixels)
    return sheet, layout


def _draw_example(
    sheet: Image.Image,
    draw: ImageDraw.ImageDraw,
    cell: Box,
    example: Example,
    font: ImageFont.FreeTypeFont,
    max_pixels: int,
) -> None:
    left, top, right, _ = cell
    thumbnail = _thumbnail(example.path, max_pixels)
    if thumbnail is None:
        draw.rectangle(
            [left, top, left + THUMBNAIL_SIZE - 1, top + THUMBNAIL_SIZE - 1],
            fill=PLACEHOLDER_COLOR,
        )
    else:
        offset_x = left + (THUMBNAIL_SIZE - thumbnail.width) // 2
        offset_y = top + (THUMBNAIL_SIZE - thumbnail.height) // 2
        sheet.paste(thumbnail, (offset_x, offset_y))
    caption_top = top + THUMBNAIL_SIZE + 4
    width = right - left
    draw.text(
        (left, caption_top),
        _fit(draw, example.ground_truth_name, font, width),
        fill=GROUND_TRUTH_COLOR,
        font=font,
    )
    draw.text(
        (left, caption_top + CAPTION_FONT_SIZE + 5),
        _fit(draw, example.predicted_name, font, width),
        fill=PREDICTION_COLOR,
        font=font,
    )


def collect_examples(
    suggestion_repository: SuggestionRepository,
    settings: Settings,
    job_id: int,
    per_category: int,
) -> dict[str, list[Example]]:
    """Pick up to ``per_category`` failures per suggested category, best first.

    Failures are ordered by the suggestion's confidence, highest first, then
    by image id.
    """
    check_per_category(per_category)
    chosen = {
        category.key: suggestion_repository.list_suggestions(job_id, category.key)[
            :per_category
        ]
        for category in CATEGORIES
    }
    image_ids = [s.image_id for picked in chosen.values() for s in picked]
    failures = suggestion_repository.failures_by_image_id(job_id, image_ids)
    examples: dict[str, list[Example]] = {}
    for key, picked in chosen.items():
        examples[key] = []
        for suggestion in picked:
            failure = failures.get(suggestion.image_id)
            if failure is None:
                continue
            try:
                path: Path | None = datasets.ref_for_image_id(
                    settings, suggestion.image_id
                ).path
            except FailcatError:
                path = None
            examples[key].append(
                Example(
                    image_id=suggestion.image_id,
                    path=path,
                    ground_truth_name=labels.class_name(failure.ground_truth),
                    predicted_name=labels.class_name(failure.predicted_class),
                    confidence=suggestion.confidence,
                )
            )
    return examples


def example_sheet_png(
    repository: Repository,
    suggestion_repository: SuggestionRepository,
    settings: Settings,
    job_id: int,
    per_category: int,
) -> bytes:
    """Render a job's example sheet as PNG bytes.

    Raises InvalidFieldError for ``per_category`` outside 1 to 20,
    NotFoundError for an unknown job, and ConflictError while the job's
    analysis is not done.
    """
    check_per_category(per_category)
    job = repository.get_job(job_id)
    if job.analysis_state != "done":
        raise ConflictError(
            f"job {job_id} has analysis state {job.analysis_state!r}; wait until "
            "its analysis_state is 'done', then request the example sheet again."
        )
    examples = collect_examples(suggestion_repository, settings, job_id, per_category)
    sheet, _ = render_example_sheet(examples, per_category, settings.max_pixels)
    buffer = io.BytesIO()
    sheet.save(buffer, format="PNG")
    return buffer.getvalue()
