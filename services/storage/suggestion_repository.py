"""Reads and writes of category suggestions, and the failure rows they start from.

A suggestion belongs to a failure, a (job, image) pair, and there is at most
one per pair. Inserts use ``ON CONFLICT DO NOTHING`` on ``(job_id, image_id)``,
so an analysis chunk that runs twice keeps the first suggestion and changes
nothing.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from services.errors import InvalidFieldError, NotFoundError
from services.storage.engine import writer
from services.storage.repositories import (
    MAX_PER_PAGE,
    Failure,
    Page,
    failure_from_row,
)
from services.storage.sql import insert_new_rows
from services.storage.tables import (
    CATEGORY_KEYS,
    annotations,
    images,
    jobs,
    predictions,
    suggestions,
)

logger = logging.getLogger(__name__)

# Bound on the ids in one IN clause, well below SQLite's parameter limit.
_IN_BATCH = 500


@dataclass(frozen=True)
class SuggestionRow:
    """A suggested category of one failure, with the evidence behind it.

    ``decided_by`` contains [name, value] pairs, and ``evidence`` maps each
    evidence field to its value, both as plain JSON values.
    """

    image_id: str
    category: str
    confidence: float
    decided_by: list[list[Any]]
    evidence: dict[str, Any]


@dataclass(frozen=True)
class StoredSuggestion:
    """A suggestion as stored for a job."""

    job_id: int
    image_id: str
    category: str
    confidence: float
    decided_by: list[list[Any]]
    evidence: dict[str, Any]
    created_at: datetime


def _batches(items: Sequence[str]) -> Iterable[Sequence[str]]:
    for begin in range(0, len(items), _IN_BATCH):
        yield items[begin : begin + _IN_BATCH]


def _check_category(field: str, category: str) -> None:
    if category not in CATEGORY_KEYS:
        raise InvalidFieldError(
            field,
            f"{field} {category!r} is not a category key; use one of "
            f"{', '.join(CATEGORY_KEYS)}.",
        )


def _stored(row: sa.Row[Any]) -> StoredSuggestion:
    created_at = row.created_at
    if created_at.tzinfo is None:
        # SQLite stores timestamps without an offset; every one written here is UTC.
        created_at = created_at.replace(tzinfo=UTC)
    return StoredSuggestion(
        job_id=row.job_id,
        image_id=row.image_id,
        category=row.category,
        confidence=row.confidence,
        decided_by=[list(item) for item in row.decided_by],
        evidence=dict(row.evidence),
        created_at=created_at,
    )


def _failure_columns() -> list[Any]:
    return [
        predictions,
        images.c.dataset,
        images.c.key,
        images.c.ground_truth,
        images.c.real_labels,
        images.c.width,
        images.c.height,
    ]


class SuggestionRepository:
    """Transactions over the suggestions of jobs, one per method call."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._writer = writer(engine)

    # Failures, as analysis reads them

    def _criterion(self, connection: Connection, job_id: int) -> str:
        criterion = connection.execute(
            sa.select(jobs.c.criterion).where(jobs.c.id == job_id)
        ).scalar_one_or_none()
        if criterion is None:
            raise NotFoundError(f"job {job_id} not found; list jobs at /v1/jobs.")
        return str(criterion)

    @staticmethod
    def _failure_condition(job_id: int, criterion: str) -> Any:
        flag = (
            predictions.c.is_top1_failure
            if criterion == "top1"
            else predictions.c.is_top5_failure
        )
        return sa.and_(predictions.c.job_id == job_id, flag == sa.true())

    def failure_image_ids(self, job_id: int) -> list[str]:
        """Return the image ids of a job's failures under its criterion, sorted."""
        with self.engine.connect() as connection:
            condition = self._failure_condition(
                job_id, self._criterion(connection, job_id)
            )
            rows = connection.execute(
                sa.select(predictions.c.image_id)
                .where(condition)
                .order_by(predictions.c.image_id)
            )
            return list(rows.scalars())

    def unsuggested_image_ids(self, job_id: int) -> list[str]:
        """Return the image ids of a job's failures that have no suggestion yet."""
        with self.engine.connect() as connection:
            condition = self._failure_condition(
                job_id, self._criterion(connection, job_id)
            )
            suggested = sa.select(suggestions.c.image_id).where(
                suggestions.c.job_id == job_id
            )
            rows = connection.execute(
                sa.select(predictions.c.image_id)
                .where(condition, predictions.c.image_id.not_in(suggested))
                .order_by(predictions.c.image_id)
            )
            return list(rows.scalars())

    def failures_by_image_id(
        self, job_id: int, image_ids: Sequence[str]
    ) -> dict[str, Failure]:
        """Return the failures of a job among ``image_ids``, by image id.

        Ids that are not failures of the job under its criterion are left out.
        """
        found: dict[str, Failure] = {}
        joined = predictions.join(images, predictions.c.image_id == images.c.id)
        with self.engine.connect() as connection:
            condition = self._failure_condition(
                job_id, self._criterion(connection, job_id)
            )
            for part in _batches(list(dict.fromkeys(image_ids))):
                rows = connection.execute(
                    sa.select(*_failure_columns())
                    .select_from(joined)
                    .where(condition, predictions.c.image_id.in_(part))
                )
                found.update({row.image_id: failure_from_row(row) for row in rows})
        return found

    def list_failures_suggested(
        self,
        job_id: int,
        category: str,
        *,
        page: int = 1,
        per_page: int = 50,
        ground_truth: int | None = None,
        predicted_class: int | None = None,
    ) -> Page[Failure]:
        """Return one page of a job's failures whose suggestion is ``category``.

        The failures follow the job's criterion and are ordered by image id,
        as ``Repository.list_failures`` orders them. Raises InvalidFieldError
        (field ``suggested``) for an unknown category key.
        """
        _check_category("suggested", category)
        if page < 1:
            raise InvalidFieldError("page", f"page must be at least 1, got {page}.")
        if not 1 <= per_page <= MAX_PER_PAGE:
            raise InvalidFieldError(
                "per_page",
                f"per_page must be between 1 and {MAX_PER_PAGE}, got {per_page}.",
            )
        joined = predictions.join(images, predictions.c.image_id == images.c.id).join(
            suggestions,
            sa.and_(
                suggestions.c.job_id == predictions.c.job_id,
                suggestions.c.image_id == predictions.c.image_id,
            ),
        )
        with self.engine.connect() as connection:
            conditions = [
                self._failure_condition(job_id, self._criterion(connection, job_id)),
                suggestions.c.category == category,
            ]
            if ground_truth is not None:
                conditions.append(images.c.ground_truth == ground_truth)
            if predicted_class is not None:
                conditions.append(predictions.c.predicted_class == predicted_class)
            total = connection.execute(
                sa.select(sa.func.count()).select_from(joined).where(*conditions)
            ).scalar_one()
            rows = connection.execute(
                sa.select(*_failure_columns())
                .select_from(joined)
                .where(*conditions)
                .order_by(predictions.c.image_id)
                .limit(per_page)
                .offset((page - 1) * per_page)
            ).all()
        return Page([failure_from_row(row) for row in rows], page, per_page, total)

    # Suggestions

    def upsert_suggestions(self, job_id: int, rows: Iterable[SuggestionRow]) -> int:
        """Insert suggestions for a job's failures, keeping any already stored.

        The images must be stored. Returns how many suggestions were inserted.
        Raises ValueError for an unknown category key.
        """
        now = datetime.now(UTC)
        values = []
        for row in rows:
            if row.category not in CATEGORY_KEYS:
                raise ValueError(
                    f"suggestion for {row.image_id!r} has the unknown category "
                    f"{row.category!r}; use one of {', '.join(CATEGORY_KEYS)}"
                )
            values.append(
                {
                    "job_id": job_id,
                    "image_id": row.image_id,
                    "category": row.category,
                    "confidence": float(row.confidence),
                    "decided_by": row.decided_by,
                    "evidence": row.evidence,
                    "created_at": now,
                }
            )
        if not values:
            return 0
        with self._writer.begin() as connection:
            inserted = insert_new_rows(
                connection,
                suggestions,
                [suggestions.c.job_id, suggestions.c.image_id],
                values,
            )
        skipped = len(values) - inserted
        if skipped:
            logger.info("Job %d: kept %d suggestions already recorded", job_id, skipped)
        return inserted

    def list_suggestions(
        self, job_id: int, category: str | None = None
    ) -> list[StoredSuggestion]:
        """Return a job's suggestions, highest confidence first, then by image id."""
        statement = sa.select(suggestions).where(suggestions.c.job_id == job_id)
        if category is not None:
            _check_category("category", category)
            statement = statement.where(suggestions.c.category == category)
        statement = statement.order_by(
            suggestions.c.confidence.desc(), suggestions.c.image_id
        )
        with self.engine.connect() as connection:
            return [_stored(row) for row in connection.execute(statement)]

    def suggestions_by_image_id(
        self, job_id: int, image_ids: Sequence[str] | None = None
    ) -> dict[str, StoredSuggestion]:
        """Map image ids to a job's suggestions, for all failures or ``image_ids``."""
        if image_ids is None:
            return {s.image_id: s for s in self.list_suggestions(job_id)}
        found: dict[str, StoredSuggestion] = {}
        with self.engine.connect() as connection:
            for part in _batches(list(dict.fromkeys(image_ids))):
                rows = connection.execute(
                    sa.select(suggestions).where(
                        suggestions.c.job_id == job_id,
                        suggestions.c.image_id.in_(part),
                    )
                )
                found.update({row.image_id: _stored(row) for row in rows})
        return found

    def count_suggestions(self, job_id: int) -> int:
        """Return how many failures of a job have a suggestion."""
        with self.engine.connect() as connection:
            return int(
                connection.execute(
                    sa.select(sa.func.count())
                    .select_from(suggestions)
                    .where(suggestions.c.job_id == job_id)
                ).scalar_one()
            )

    def category_counts(self, job_id: int) -> dict[str, int]:
        """Count a job's suggestions per category key, with 0 for unused ones."""
        with self.engine.connect() as connection:
            rows = connection.execute(
                sa.select(suggestions.c.category, sa.func.count())
                .where(suggestions.c.job_id == job_id)
                .group_by(suggestions.c.category)
            ).all()
        counts = Counter({key: 0 for key in CATEGORY_KEYS})
        counts.update({category: int(count) for category, count in rows})
        return dict(counts)

    def suggested_categories(self, job_id: int) -> dict[str, str]:
        """Map each suggested image id of a job to its category key."""
        with self.engine.connect() as connection:
            rows = connection.execute(
                sa.select(suggestions.c.image_id, suggestions.c.category).where(
                    suggestions.c.job_id == job_id
                )
            )
            return {image_id: category for image_id, category in rows}

    def annotated_categories(self, job_id: int) -> dict[str, dict[str, str]]:
        """Map image ids of a job to {annotator: category} of current annotations.

        Retracted annotations are left out. Reports compare suggestions with
        these labels.
        """
        with self.engine.connect() as connection:
            rows = connection.execute(
                sa.select(
                    annotations.c.image_id,
                    annotations.c.annotator,
                    annotations.c.category,
                ).where(
                    annotations.c.job_id == job_id,
                    annotations.c.retracted_at.is_(None),
                )
            )
            result: dict[str, dict[str, str]] = {}
            for image_id, annotator, category in rows:
                result.setdefault(image_id, {})[annotator] = category
        return result
