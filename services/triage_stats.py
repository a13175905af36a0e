"""Statistics of suggested categories, alone and against annotators' labels.

Distributions have the shape of ``services.stats.category_distribution``, so
suggested and annotated categories can be shown in one table. Comparisons use
the same kappa, precision, recall and confusion matrix functions as
agreement between annotators.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from services import stats
from services.categories import CATEGORY_KEYS, parse_category
from services.storage.suggestion_repository import SuggestionRepository

logger = logging.getLogger(__name__)


def distribution_of(
    categories: Iterable[str], confidence: float = 0.95
) -> dict[str, Any]:
    """Return the distribution of category keys as ``CategoryDistribution.as_dict``."""
    return stats.category_distribution(categories, confidence).as_dict()


def suggested_distribution(
    suggestion_repository: SuggestionRepository,
    job_id: int,
    confidence: float = 0.95,
) -> dict[str, Any]:
    """Return the distribution of a job's suggested categories.

    The shape is that of ``services.stats.category_distribution(...).as_dict()``,
    with one count per suggested failure.
    """
    counts = suggestion_repository.category_counts(job_id)
    return stats.distribution_from_counts(counts, confidence).as_dict()


def compare_with_annotators(
    suggestions: Mapping[str, str],
    annotations: Mapping[str, Mapping[str, str]],
) -> dict[str, dict[str, Any]]:
    """Score suggested categories against each annotator's labels.

    ``suggestions`` maps image ids to a suggested category, and ``annotations``
    maps image ids to {annotator: category}. For each annotator, only failures
    that have both a suggestion and that annotator's label count. Returns per
    annotator: ``items``, Cohen's ``kappa`` (None when undefined),
    ``observed_agreement``, per-category ``precision``, ``recall``, ``f1`` and
    ``support`` with the annotator as reference, and ``confusion_matrix`` with
    rows for the annotator's category and columns for the suggestion, both in
    category id order.
    """
    pairs: dict[str, list[tuple[str, str]]] = {}
    for image_id, by_annotator in annotations.items():
        suggested = suggestions.get(image_id)
        if suggested is None:
            continue
        for annotator, category in by_annotator.items():
            pairs.setdefault(annotator, []).append((category, suggested))

    result: dict[str, dict[str, Any]] = {}
    for annotator in sorted(pairs):
        reference = [annotated for annotated, _ in pairs[annotator]]
        suggested = [suggestion for _, suggestion in pairs[annotator]]
        scores = stats.precision_recall(reference, suggested)
        agreeing = sum(
            1
            for annotated, suggestion in pairs[annotator]
            if parse_category(annotated).key == parse_category(suggestion).key
        )
        result[annotator] = {
            "items": len(reference),
            "kappa": stats.cohen_kappa(pairs[annotator]),
            "observed_agreement": agreeing / len(reference),
            "per_category": {
                key: {
                    "precision": scores[key].precision,
                    "recall": scores[key].recall,
                    "f1": scores[key].f1,
                    "support": scores[key].support,
                }
                for key in CATEGORY_KEYS
            },
            "confusion_matrix": stats.confusion_matrix(reference, suggested),
        }
    return result


def suggestion_section(
    suggestion_repository: SuggestionRepository,
    job_id: int,
    *,
    image_ids: Iterable[str] | None = None,
    annotator: str | None = None,
    compare: bool = False,
) -> dict[str, Any]:
    """Return the suggested distribution of a job or of some of its failures.

    With ``compare`` the section also scores the suggestions against each
    annotator's current labels in the same scope (one annotator when
    ``annotator`` is given).
    """
    suggested = suggestion_repository.suggested_categories(job_id)
    if image_ids is not None:
        wanted = set(image_ids)
        suggested = {k: v for k, v in suggested.items() if k in wanted}
    section: dict[str, Any] = {"distribution": distribution_of(suggested.values())}
    if compare:
        annotated = suggestion_repository.annotated_categories(job_id)
        if image_ids is not None:
            annotated = {k: v for k, v in annotated.items() if k in wanted}
        if annotator is not None:
            annotated = {
                k: {annotator: v[annotator]}
                for k, v in annotated.items()
                if annotator in v
            }
        section["compare"] = compare_with_annotators(suggested, annotated)
    return section
