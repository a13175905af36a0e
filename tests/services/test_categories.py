"""Tests of the five failure categories and their parsing."""

from __future__ import annotations

import dataclasses

import pytest

from services.categories import (
    CATEGORIES,
    CATEGORY_KEYS,
    PAPER_TOTAL,
    Category,
    category_by_id,
    category_by_key,
    parse_category,
)
from services.errors import InvalidFieldError

# Ids, keys, prediction_correct and counts of Table 1 in Lee, Agarwal and Kim, "Why Do
# Deep Neural Networks Still Not Recognize These Images? A Qualitative Analysis on
# Failure Cases of ImageNet Classification".
EXPECTED = [
    (1, "similar_labels", True, 61),
    (2, "not_salient_gt", True, 87),
    (3, "challenging_image", False, 43),
    (4, "incorrect_gt", True, 79),
    (5, "incorrect_pc", False, 130),
]


def test_categories_ids_and_keys() -> None:
    assert [(c.id, c.key) for c in CATEGORIES] == [(i, k) for i, k, _, _ in EXPECTED]


def test_category_keys_in_id_order() -> None:
    assert CATEGORY_KEYS == tuple(key for _, key, _, _ in EXPECTED)


@pytest.mark.parametrize(("category_id", "key", "correct", "count"), EXPECTED)
def test_category_paper_facts(
    category_id: int, key: str, correct: bool, count: int
) -> None:
    category = category_by_id(category_id)
    assert category.key == key
    assert category.prediction_correct is correct
    assert category.paper_count == count


def test_paper_counts_sum_to_total() -> None:
    # 61 + 87 + 43 + 79 + 130 = 400
    assert sum(c.paper_count for c in CATEGORIES) == PAPER_TOTAL
    assert PAPER_TOTAL == 400


def test_paper_rates() -> None:
    # 61/400 = 0.1525, 87/400 = 0.2175, 43/400 = 0.1075, 79/400 = 0.1975,
    # 130/400 = 0.325
    rates = [c.paper_rate for c in CATEGORIES]
    assert rates == pytest.approx([0.1525, 0.2175, 0.1075, 0.1975, 0.325], abs=1e-15)


def test_categories_have_titles_and_definitions() -> None:
    for category in CATEGORIES:
        assert category.title.strip(), category.key
        assert len(category.definition) > 40, category.key
    assert len({c.definition for c in CATEGORIES}) == len(CATEGORIES)


def test_category_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        CATEGORIES[0].paper_count = 1  # type: ignore[misc]


def test_category_by_key_returns_category() -> None:
    assert category_by_key("incorrect_gt").id == 4


def test_category_by_key_unknown_raises() -> None:
    with pytest.raises(InvalidFieldError) as info:
        category_by_key("wrong_label")
    assert info.value.field == "category"


def test_category_by_id_unknown_raises() -> None:
    with pytest.raises(InvalidFieldError) as info:
        category_by_id(6)
    assert info.value.field == "category"


@pytest.mark.parametrize(
    ("value", "expected_key"),
    [
        ("similar_labels", "similar_labels"),
        (" not_salient_gt ", "not_salient_gt"),
        (3, "challenging_image"),
        ("4", "incorrect_gt"),
        (" 5\n", "incorrect_pc"),
        ("01", "similar_labels"),
    ],
)
def test_parse_category_accepts(value: object, expected_key: str) -> None:
    assert parse_category(value).key == expected_key


def test_parse_category_returns_category_unchanged() -> None:
    category = CATEGORIES[2]
    assert parse_category(category) is category


@pytest.mark.parametrize(
    "value",
    [
        "",
        "foo",
        "Similar_Labels",
        "0",
        "6",
        "-1",
        "+2",
        "2.0",
        "٣",
        0,
        6,
        -1,
        True,
        3.0,
        None,
        b"1",
    ],
)
def test_parse_category_rejects(value: object) -> None:
    with pytest.raises(InvalidFieldError) as info:
        parse_category(value)
    assert info.value.field == "category"
    assert info.value.status == 422


def test_parse_category_message_lists_keys() -> None:
    with pytest.raises(InvalidFieldError) as info:
        parse_category("foo")
    for key in CATEGORY_KEYS:
        assert key in info.value.message
    assert "'foo'" in info.value.message
    assert info.value.errors == {"category": [info.value.message]}


def test_category_constructs_with_fields() -> None:
    category = Category(9, "k", "T", "D", False, 40)
    # 40 / 400 = 0.1
    assert category.paper_rate == pytest.approx(0.1)
