"""Reads and writes of annotations, their events, and samples of failures.

An annotation is one annotator's category for one failure (job, image). The
``annotations`` table keeps the current row per (job, image, annotator), and
every change to it appends a row to ``annotation_events`` with the version it
produced, in the same transaction, so the full history is kept.

Concurrent writes to the same row are serialized by the database: SQLite takes
its write lock at ``BEGIN IMMEDIATE``, and PostgreSQL locks the row through
``SELECT ... FOR UPDATE`` or through the ``ON CONFLICT DO UPDATE`` of the
upsert. The version bump reads the locked row, so no two writes get the same
version.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from services.errors import ConflictError, NotFoundError
from services.storage.engine import writer
from services.storage.repositories import Page
from services.storage.sql import as_utc, dialect_insert, utc_now
from services.storage.tables import (
    annotation_events,
    annotations,
    images,
    predictions,
    sample_items,
    samples,
)

logger = logging.getLogger(__name__)

MAX_PER_PAGE = 500


@dataclass(frozen=True)
class AnnotationEvent:
    """One change to an annotation and the version it produced."""

    version: int
    # created, changed or retracted.
    action: str
    category: str
    note: str | None
    recorded_at: datetime


@dataclass(frozen=True)
class Annotation:
    """An annotator's current category for one failure of a job."""

    id: int
    job_id: int
    image_id: str
    annotator: str
    category: str
    note: str | None
    version: int
    created_at: datetime
    updated_at: datetime
    retracted_at: datetime | None
    # The events in version order, or None when they were not loaded.
    events: tuple[AnnotationEvent, ...] | None = None

    @property
    def is_retracted(self) -> bool:
        """True when the annotator withdrew the annotation."""
        return self.retracted_at is not None


@dataclass(frozen=True)
class RecordOutcome:
    """The annotation after a POST and the event that the POST appended."""

    annotation: Annotation
    # created for a first or revived annotation, changed for one that was current.
    action: str


@dataclass(frozen=True)
class SampleItem:
    """An image of a sample and its 0-based position in the review order."""

    position: int
    image_id: str


@dataclass(frozen=True)
class Sample:
    """A seeded random sample of a job's failures."""

    id: int
    job_id: int
    size: int
    seed: int
    created_by: str | None
    created_at: datetime
    items: tuple[SampleItem, ...]


@dataclass(frozen=True)
class CurrentLabel:
    """A current (not retracted) annotation reduced to what statistics need."""

    image_id: str
    annotator: str
    category: str


@dataclass(frozen=True)
class ClassFailureCount:
    """Images of one ground-truth class in a job and how many are failures."""

    ground_truth: int
    images: int
    failures: int


def _failure_flag(criterion: str) -> sa.ColumnElement[Any]:
    if criterion == "top1":
        return predictions.c.is_top1_failure
    if criterion == "top5":
        return predictions.c.is_top5_failure
    raise ValueError(f"unknown criterion {criterion!r}; use top1 or top5")


def _annotation_from_row(
    row: sa.Row[Any], events: Sequence[AnnotationEvent] | None = None
) -> Annotation:
    return Annotation(
        id=row.id,
        job_id=row.job_id,
        image_id=row.image_id,
        annotator=row.annotator,
        category=row.category,
        note=row.note,
        version=row.version,
        created_at=as_utc(row.created_at),  # type: ignore[arg-type]
        updated_at=as_utc(row.updated_at),  # type: ignore[arg-type]
        retracted_at=as_utc(row.retracted_at),
        events=None if events is None else tuple(events),
    )


def _not_found(annotation_id: int) -> NotFoundError:
    return NotFoundError(
        f"annotation {annotation_id} not found; list annotations at /v1/annotations"
    )


class AnnotationRepository:
    """Transactions over annotations, annotation events and samples."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._writer = writer(engine)

    # Failures

    def failure_image_ids(self, job_id: int, criterion: str) -> list[str]:
        """Return the image ids of a job's failures under ``criterion``, sorted."""
        flag = _failure_flag(criterion)
        with self.engine.connect() as connection:
            rows = connection.execute(
                sa.select(predictions.c.image_id)
                .where(predictions.c.job_id == job_id, flag == sa.true())
                .order_by(predictions.c.image_id)
            )
            return list(rows.scalars())

    def is_failure(self, job_id: int, image_id: str, criterion: str) -> bool:
        """Return whether ``image_id`` is a failure of the job under ``criterion``."""
        flag = _failure_flag(criterion)
        with self.engine.connect() as connection:
            found = connection.execute(
                sa.select(predictions.c.id).where(
                    predictions.c.job_id == job_id,
                    predictions.c.image_id == image_id,
                    flag == sa.true(),
                )
            ).first()
        return found is not None

    def confusion_rows(self, job_id: int, criterion: str) -> list[tuple[int, int, int]]:
        """Count a job's failures per (ground truth, predicted class) pair.

        Returns (ground_truth, predicted_class, count) rows, most frequent first,
        then by ground truth and predicted class.
        """
        flag = _failure_flag(criterion)
        count = sa.func.count().label("count")
        statement = (
            sa.select(images.c.ground_truth, predictions.c.predicted_class, count)
            .select_from(
                predictions.join(images, predictions.c.image_id == images.c.id)
            )
            .where(predictions.c.job_id == job_id, flag == sa.true())
            .group_by(images.c.ground_truth, predictions.c.predicted_class)
            .order_by(
                count.desc(), images.c.ground_truth, predictions.c.predicted_class
            )
        )
        with self.engine.connect() as connection:
            return [
                (int(gt), int(predicted), int(n))
                for gt, predicted, n in connection.execute(statement)
            ]

    def class_failure_counts(
        self, job_id: int, criterion: str
    ) -> list[ClassFailureCount]:
        """Count a job's predicted images and failures per ground-truth class.

        Images without a ground truth are left out, because they are never
        failures. Rows are ordered by class index.
        """
        flag = _failure_flag(criterion)
        failures = sa.func.sum(sa.case((flag == sa.true(), 1), else_=0))
        statement = (
            sa.select(images.c.ground_truth, sa.func.count(), failures)
            .select_from(
                predictions.join(images, predictions.c.image_id == images.c.id)
            )
            .where(predictions.c.job_id == job_id, images.c.ground_truth.is_not(None))
            .group_by(images.c.ground_truth)
            .order_by(images.c.ground_truth)
        )
        with self.engine.connect() as connection:
            return [
                ClassFailureCount(int(gt), int(total), int(failed or 0))
                for gt, total, failed in connection.execute(statement)
            ]

    # Annotations

    def record_annotation(
        self,
        *,
        job_id: int,
        image_id: str,
        annotator: str,
        category: str,
        note: str | None,
    ) -> RecordOutcome:
        """Insert or change the caller's annotation of a failure, with its event.

        A first annotation gets version 1 and a ``created`` event. A POST on a
        current annotation bumps its version with a ``changed`` event, and one on
        a retracted annotation revives it with a new version and a ``created``
        event. Both statements run in one transaction.
        """
        now = utc_now()
        key = (
            annotations.c.job_id == job_id,
            annotations.c.image_id == image_id,
            annotations.c.annotator == annotator,
        )
        with self._writer.begin() as connection:
            previous = connection.execute(
                sa.select(annotations.c.retracted_at).where(*key).with_for_update()
            ).first()

            statement = dialect_insert(connection, annotations).values(
                job_id=job_id,
                image_id=image_id,
                annotator=annotator,
                category=category,
                note=note,
                version=1,
                created_at=now,
                updated_at=now,
                retracted_at=None,
            )
            statement = statement.on_conflict_do_update(
                index_elements=[
                    annotations.c.job_id,
                    annotations.c.image_id,
                    annotations.c.annotator,
                ],
                set_={
                    "category": statement.excluded.category,
                    "note": statement.excluded.note,
                    "version": annotations.c.version + 1,
                    "updated_at": statement.excluded.updated_at,
                    "retracted_at": None,
                },
            ).returning(*annotations.c)
            row = connection.execute(statement).one()

            revived = previous is not None and previous.retracted_at is not None
            action = "created" if row.version == 1 or revived else "changed"
            self._append_event(connection, row.id, row.version, action, category, note)
        logger.info(
            "Annotation %d (job %d, %s, %s) %s as %s, version %d",
            row.id,
            job_id,
            image_id,
            annotator,
            action,
            category,
            row.version,
        )
        return RecordOutcome(_annotation_from_row(row), action)

    def update_annotation(
        self,
        annotation_id: int,
        *,
        category: str | None = None,
        note: str | None = None,
        set_note: bool = False,
    ) -> Annotation:
        """Change the category and/or the note of a current annotation.

        ``category`` None keeps the category; the note is replaced only when
        ``set_note`` is true, so a note can be cleared with None. Raises
        NotFoundError for an unknown id and ConflictError for a retracted one.
        """
        now = utc_now()
        with self._writer.begin() as connection:
            current = self._locked(connection, annotation_id)
            if current.retracted_at is not None:
                raise ConflictError(
                    f"annotation {annotation_id} is retracted; POST /v1/annotations "
                    "to record the failure's category again"
                )
            new_category = category if category is not None else current.category
            new_note = note if set_note else current.note
            row = connection.execute(
                sa.update(annotations)
                .where(annotations.c.id == annotation_id)
                .values(
                    category=new_category,
                    note=new_note,
                    version=annotations.c.version + 1,
                    updated_at=now,
                )
                .returning(*annotations.c)
            ).one()
            self._append_event(
                connection, row.id, row.version, "changed", new_category, new_note
            )
        logger.info(
            "Annotation %d changed to %s, version %d",
            annotation_id,
            new_category,
            row.version,
        )
        return _annotation_from_row(row)

    def retract_annotation(self, annotation_id: int) -> tuple[Annotation, bool]:
        """Retract an annotation and append a ``retracted`` event.

        Returns the annotation and whether this call retracted it. Retracting an
        annotation that is already retracted changes nothing. Raises
        NotFoundError for an unknown id.
        """
        now = utc_now()
        with self._writer.begin() as connection:
            current = self._locked(connection, annotation_id)
            if current.retracted_at is not None:
                return _annotation_from_row(current), False
            row = connection.execute(
                sa.update(annotations)
                .where(annotations.c.id == annotation_id)
                .values(
                    version=annotations.c.version + 1,
                    updated_at=now,
                    retracted_at=now,
                )
                .returning(*annotations.c)
            ).one()
            self._append_event(
                connection, row.id, row.version, "retracted", row.category, row.note
            )
        logger.info("Annotation %d retracted, version %d", annotation_id, row.version)
        return _annotation_from_row(row), True

    def get_annotation(
        self, annotation_id: int, *, with_events: bool = False
    ) -> Annotation:
        """Return an annotation. Raises NotFoundError for an unknown id."""
        with self.engine.connect() as connection:
            row = connection.execute(
                sa.select(annotations).where(annotations.c.id == annotation_id)
            ).one_or_none()
            if row is None:
                raise _not_found(annotation_id)
            events = None
            if with_events:
                events = self._events(connection, [annotation_id])[annotation_id]
        return _annotation_from_row(row, events)

    def list_annotations(
        self,
        *,
        job_id: int | None = None,
        sample_id: int | None = None,
        annotator: str | None = None,
        category: str | None = None,
        include_retracted: bool = False,
        with_events: bool = False,
        page: int = 1,
        per_page: int = 50,
    ) -> Page[Annotation]:
        """Return one page of annotations that match every filter given, by id.

        ``sample_id`` keeps the annotations of the sample's job on the sample's
        images. Retracted annotations are left out unless ``include_retracted``.
        """
        conditions: list[sa.ColumnElement[bool]] = []
        if job_id is not None:
            conditions.append(annotations.c.job_id == job_id)
        if sample_id is not None:
            conditions.append(
                annotations.c.job_id
                == sa.select(samples.c.job_id)
                .where(samples.c.id == sample_id)
                .scalar_subquery()
            )
            conditions.append(
                annotations.c.image_id.in_(
                    sa.select(sample_items.c.image_id).where(
                        sample_items.c.sample_id == sample_id
                    )
                )
            )
        if annotator is not None:
            conditions.append(annotations.c.annotator == annotator)
        if category is not None:
            conditions.append(annotations.c.category == category)
        if not include_retracted:
            conditions.append(annotations.c.retracted_at.is_(None))
        with self.engine.connect() as connection:
            total = connection.execute(
                sa.select(sa.func.count()).select_from(annotations).where(*conditions)
            ).scalar_one()
            rows = connection.execute(
                sa.select(annotations)
                .where(*conditions)
                .order_by(annotations.c.id)
                .limit(per_page)
                .offset((page - 1) * per_page)
            ).all()
            events: dict[int, list[AnnotationEvent]] = {}
            if with_events and rows:
                events = self._events(connection, [row.id for row in rows])
        items = [
            _annotation_from_row(row, events.get(row.id) if with_events else None)
            for row in rows
        ]
        return Page(items, page, per_page, total)

    def current_labels(
        self,
        job_id: int,
        *,
        annotator: str | None = None,
        image_ids: Iterable[str] | None = None,
    ) -> list[CurrentLabel]:
        """Return the current annotations of a job, by image and annotator.

        ``image_ids`` restricts them to those images, such as a sample's.
        """
        conditions = [
            annotations.c.job_id == job_id,
            annotations.c.retracted_at.is_(None),
        ]
        if annotator is not None:
            conditions.append(annotations.c.annotator == annotator)
        selected = None if image_ids is None else set(image_ids)
        with self.engine.connect() as connection:
            rows = connection.execute(
                sa.select(
                    annotations.c.image_id,
                    annotations.c.annotator,
                    annotations.c.category,
                )
                .where(*conditions)
                .order_by(annotations.c.image_id, annotations.c.annotator)
            ).all()
        # NOTE: the image filter runs here, not in SQL, because a sample can hold
        # more ids than SQLite accepts as parameters of one statement.
        return [
            CurrentLabel(row.image_id, row.annotator, row.category)
            for row in rows
            if selected is None or row.image_id in selected
        ]

    def current_annotations_by_image(
        self, job_id: int, annotator: str, image_ids: Iterable[str]
    ) -> dict[str, Annotation]:
        """Return the annotator's current annotation per image of ``image_ids``."""
        selected = set(image_ids)
        with self.engine.connect() as connection:
            rows = connection.execute(
                sa.select(annotations).where(
                    annotations.c.job_id == job_id,
                    annotations.c.annotator == annotator,
                    annotations.c.retracted_at.is_(None),
                )
            ).all()
        return {
            row.image_id: _annotation_from_row(row)
            for row in rows
            if row.image_id in selected
        }

    @staticmethod
    def _locked(connection: Connection, annotation_id: int) -> sa.Row[Any]:
        row = connection.execute(
            sa.select(annotations)
            .where(annotations.c.id == annotation_id)
            .with_for_update()
        ).one_or_none()
        if row is None:
            raise _not_found(annotation_id)
        return row

    @staticmethod
    def _append_event(
        connection: Connection,
        annotation_id: int,
        version: int,
        action: str,
        category: str,
        note: str | None,
    ) -> None:
        connection.execute(
            sa.insert(annotation_events).values(
                annotation_id=annotation_id,
                version=version,
                action=action,
                category=category,
                note=note,
                recorded_at=utc_now(),
            )
        )

    @staticmethod
    def _events(
        connection: Connection, annotation_ids: Sequence[int]
    ) -> dict[int, list[AnnotationEvent]]:
        found: dict[int, list[AnnotationEvent]] = {i: [] for i in annotation_ids}
        rows = connection.execute(
            sa.select(annotation_events)
            .where(annotation_events.c.annotation_id.in_(list(annotation_ids)))
            .order_by(annotation_events.c.annotation_id, annotation_events.c.version)
        )
        for row in rows:
            found[row.annotation_id].append(
                AnnotationEvent(
                    version=row.version,
                    action=row.action,
                    category=row.category,
                    note=row.note,
                    recorded_at=as_utc(row.recorded_at),  # type: ignore[arg-type]
                )
            )
        return found

    # Samples

    def create_sample(
        self,
        *,
        job_id: int,
        seed: int,
        image_ids: Sequence[str],
        created_by: str | None,
    ) -> Sample:
        """Insert a sample and its items, in the order of ``image_ids``."""
        now = utc_now()
        with self._writer.begin() as connection:
            row = connection.execute(
                sa.insert(samples)
                .values(
                    job_id=job_id,
                    size=len(image_ids),
                    seed=seed,
                    created_by=created_by,
                    created_at=now,
                )
                .returning(*samples.c)
            ).one()
            if image_ids:
                connection.execute(
                    sa.insert(sample_items),
                    [
                        {"sample_id": row.id, "position": i, "image_id": image_id}
                        for i, image_id in enumerate(image_ids)
                    ],
                )
        logger.info(
            "Created sample %d of job %d: %d failures, seed %d",
            row.id,
            job_id,
            len(image_ids),
            seed,
        )
        items = tuple(SampleItem(i, image_id) for i, image_id in enumerate(image_ids))
        return self._sample_from_row(row, items)

    def get_sample(self, sample_id: int) -> Sample:
        """Return a sample with its items by position. Raises NotFoundError."""
        with self.engine.connect() as connection:
            row = connection.execute(
                sa.select(samples).where(samples.c.id == sample_id)
            ).one_or_none()
            if row is None:
                raise NotFoundError(
                    f"sample {sample_id} not found; create one with "
                    "POST /v1/jobs/<id>/samples"
                )
            items = connection.execute(
                sa.select(sample_items.c.position, sample_items.c.image_id)
                .where(sample_items.c.sample_id == sample_id)
                .order_by(sample_items.c.position)
            ).all()
        return self._sample_from_row(
            row, tuple(SampleItem(item.position, item.image_id) for item in items)
        )

    @staticmethod
    def _sample_from_row(row: sa.Row[Any], items: tuple[SampleItem, ...]) -> Sample:
        return Sample(
            id=row.id,
            job_id=row.job_id,
            size=row.size,
            seed=row.seed,
            created_by=row.created_by,
            created_at=as_utc(row.created_at),  # type: ignore[arg-type]
            items=items,
        )
