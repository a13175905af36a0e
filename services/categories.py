"""The five failure categories of an ImageNet classifier.

The taxonomy and the reference counts come from Lee, Agarwal and Kim, "Why Do Deep
Neural Networks Still Not Recognize These Images? A Qualitative Analysis on Failure
Cases of ImageNet Classification". One observer sorted 400 failures of their ensemble,
drawn at random from its ImageNet validation set failures, into these categories.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from services.errors import InvalidFieldError

# Number of failures that Lee, Agarwal and Kim's observer categorized.
PAPER_TOTAL = 400

_ID_PATTERN = re.compile(r"[0-9]+")


@dataclass(frozen=True)
class Category:
    """A failure category with its fixed id, key and reference count."""

    id: int
    key: str
    title: str
    definition: str
    # True when the ensemble's predicted class is in fact a correct label for the
    # image, so the failure is one of evaluation or labelling, not of the model.
    prediction_correct: bool
    # Failures in this category among the PAPER_TOTAL of Lee, Agarwal and Kim.
    paper_count: int

    @property
    def paper_rate(self) -> float:
        """Fraction of Lee, Agarwal and Kim's failures in this category."""
        return self.paper_count / PAPER_TOTAL


CATEGORIES: tuple[Category, ...] = (
    Category(
        id=1,
        key="similar_labels",
        title="Similar labels",
        definition=(
            "The ground truth and the predicted class name nearly the same thing, "
            "such as monitor and desktop computer. The prediction is acceptable, so "
            "the case is an error of the evaluation rather than of the classifier."
        ),
        prediction_correct=True,
        paper_count=61,
    ),
    Category(
        id=2,
        key="not_salient_gt",
        title="Not salient GT",
        definition=(
            "The ground-truth object is in the image but is not its salient object. "
            "The predicted object is in the image too and is often the more "
            "prominent one, so the prediction cannot be called wrong."
        ),
        prediction_correct=True,
        paper_count=87,
    ),
    Category(
        id=3,
        key="challenging_image",
        title="Challenging images",
        definition=(
            "The object is hard to recognize even for a person who lacks the "
            "context of the photograph, such as a bandage that looks like bacon."
        ),
        prediction_correct=False,
        paper_count=43,
    ),
    Category(
        id=4,
        key="incorrect_gt",
        title="Incorrect GT",
        definition=(
            "The ground-truth label is wrong, such as a flute labelled as an oboe or "
            "a spider labelled as a tick, and the predicted class is right."
        ),
        prediction_correct=True,
        paper_count=79,
    ),
    Category(
        id=5,
        key="incorrect_pc",
        title="Incorrect PC",
        definition=(
            "The predicted class is wrong. Such images often lie outside the usual "
            "imaging conditions, for example with unusual illumination or motion "
            "blur."
        ),
        prediction_correct=False,
        paper_count=130,
    ),
)

CATEGORY_KEYS: tuple[str, ...] = tuple(category.key for category in CATEGORIES)

_BY_KEY: dict[str, Category] = {category.key: category for category in CATEGORIES}
_BY_ID: dict[int, Category] = {category.id: category for category in CATEGORIES}


def _invalid_category(value: object) -> InvalidFieldError:
    keys = ", ".join(CATEGORY_KEYS)
    return InvalidFieldError(
        "category",
        f"Invalid category {value!r}: use one of {keys}, "
        f"or an id from 1 to {len(CATEGORIES)}.",
    )


def category_by_key(key: str) -> Category:
    """Return the category with this key, or raise InvalidFieldError."""
    try:
        return _BY_KEY[key]
    except KeyError:
        raise _invalid_category(key) from None


def category_by_id(category_id: int) -> Category:
    """Return the category with this id, or raise InvalidFieldError."""
    try:
        return _BY_ID[category_id]
    except KeyError:
        raise _invalid_category(category_id) from None


def parse_category(value: object) -> Category:
    """Resolve a key, an id or a string of decimal digits to its category.

    Surrounding whitespace in a string is ignored. A bool is rejected even though
    Python treats it as an int. Raise InvalidFieldError on the ``category`` field for
    anything else, with a message that lists the valid keys.
    """
    if isinstance(value, Category):
        return value
    if isinstance(value, bool):
        raise _invalid_category(value)
    if isinstance(value, int):
        return category_by_id(value)
    if isinstance(value, str):
        text = value.strip()
        if _ID_PATTERN.fullmatch(text):
            if int(text) in _BY_ID:
                return _BY_ID[int(text)]
            raise _invalid_category(value)
        if text in _BY_KEY:
            return _BY_KEY[text]
    raise _invalid_category(value)
