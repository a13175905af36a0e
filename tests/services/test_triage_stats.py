"""Distributions of suggested categories and their agreement with annotators."""

from __future__ import annotations

import pytest

from services import stats, triage_stats
from services.storage.repositories import ImageRow, Repository
from services.storage.suggestion_repository import SuggestionRepository, SuggestionRow

SUGGESTIONS = {
    "imagenet-val:a": "incorrect_gt",
    "imagenet-val:b": "incorrect_gt",
    "imagenet-val:c": "similar_labels",
    "imagenet-val:d": "incorrect_pc",
}
ANNOTATIONS = {
    "imagenet-val:a": {"alice": "incorrect_gt", "bob": "incorrect_pc"},
    "imagenet-val:b": {"alice": "incorrect_gt"},
    "imagenet-val:c": {"alice": "not_salient_gt", "bob": "similar_labels"},
    "imagenet-val:d": {"alice": "incorrect_pc"},
    # Annotated but never suggested, so no comparison counts it.
    "imagenet-val:e": {"alice": "incorrect_pc"},
}


def test_distribution_shape_matches_stats() -> None:
    labels = list(SUGGESTIONS.values())
    expected = stats.category_distribution(labels).as_dict()
    assert triage_stats.distribution_of(labels) == expected


def test_suggested_distribution_from_database(repository: Repository) -> None:
    repository.upsert_images(
        ImageRow(
            image_id=i,
            dataset="imagenet-val",
            key=i[13:],
            ground_truth=1,
            real_labels=[],
        )
        for i in SUGGESTIONS
    )
    job = repository.create_job(dataset="imagenet-val", start=1, stop=4)
    store = SuggestionRepository(repository.engine)
    store.upsert_suggestions(
        job.id,
        [
            SuggestionRow(image_id, category, 0.5, [["gt_rank", 2]], {"gt_rank": 2})
            for image_id, category in SUGGESTIONS.items()
        ],
    )
    distribution = triage_stats.suggested_distribution(store, job.id)
    expected = stats.category_distribution(SUGGESTIONS.values()).as_dict()
    assert distribution == expected
    assert distribution["total"] == 4


def test_compare_counts_shared_items() -> None:
    result = triage_stats.compare_with_annotators(SUGGESTIONS, ANNOTATIONS)
    assert sorted(result) == ["alice", "bob"]
    assert result["alice"]["items"] == 4
    assert result["bob"]["items"] == 2


def test_compare_kappa_matches_stats() -> None:
    result = triage_stats.compare_with_annotators(SUGGESTIONS, ANNOTATIONS)
    pairs = [
        ("incorrect_gt", "incorrect_gt"),
        ("incorrect_gt", "incorrect_gt"),
        ("not_salient_gt", "similar_labels"),
        ("incorrect_pc", "incorrect_pc"),
    ]
    assert result["alice"]["kappa"] == pytest.approx(stats.cohen_kappa(pairs))
    assert result["alice"]["observed_agreement"] == pytest.approx(0.75)


def test_compare_precision_and_recall() -> None:
    alice = triage_stats.compare_with_annotators(SUGGESTIONS, ANNOTATIONS)["alice"]
    assert alice["per_category"]["incorrect_gt"]["precision"] == 1.0
    assert alice["per_category"]["incorrect_gt"]["recall"] == 1.0
    assert alice["per_category"]["similar_labels"]["precision"] == 0.0
    assert alice["per_category"]["similar_labels"]["recall"] is None
    assert alice["per_category"]["not_salient_gt"]["recall"] == 0.0


def test_compare_confusion_matrix() -> None:
    bob = triage_stats.compare_with_annotators(SUGGESTIONS, ANNOTATIONS)["bob"]
    matrix = bob["confusion_matrix"]
    # Row: bob's category, column: suggestion, both in category id order.
    assert matrix[4][3] == 1
    assert matrix[0][0] == 1
    assert sum(map(sum, matrix)) == 2


def test_compare_without_annotations_is_empty() -> None:
    assert triage_stats.compare_with_annotators(SUGGESTIONS, {}) == {}
