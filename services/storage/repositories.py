"""Reads and writes of jobs, images, predictions, image errors and chunk runs.

This module is the only code that opens database transactions. Every write
that a redelivered chunk repeats is idempotent: predictions and image errors
are inserted with ``ON CONFLICT DO NOTHING`` on ``(job_id, image_id)``, and a
chunk counts towards its job's progress only the first time it is marked done.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from services.errors import InvalidFieldError, NotFoundError
from services.storage.engine import writer
from services.storage.sql import as_utc, dialect_insert, insert_new_rows, utc_now
from services.storage.tables import (
    ANALYSIS_STATES,
    CRITERIA,
    JOB_STATES,
    TERMINAL_JOB_STATES,
    chunk_runs,
    image_errors,
    images,
    jobs,
    predictions,
)

logger = logging.getLogger(__name__)

MAX_PER_PAGE = 500
# Bound on the ids in one IN clause, well below SQLite's parameter limit.
_IN_BATCH = 500

T = TypeVar("T")


@dataclass(frozen=True)
class Job:
    """A job row."""

    id: int
    dataset: str
    start: int | None
    stop: int | None
    path: str | None
    criterion: str
    state: str
    analysis_state: str
    total: int
    missing: int
    chunks_total: int
    chunks_done: int
    error: str | None
    ensemble_id: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    metrics: dict[str, Any] | None


@dataclass(frozen=True)
class JobCounts:
    """Progress of a job; ``done`` includes the ``failed`` images."""

    total: int
    done: int
    failed: int
    missing: int


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list, with the number of items over all pages."""

    items: list[T]
    page: int
    per_page: int
    total: int


@dataclass(frozen=True)
class ImageRow:
    """An image as stored: its id, dataset, key, labels and pixel size."""

    image_id: str
    dataset: str
    key: str
    ground_truth: int | None
    real_labels: list[int] | None
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True)
class MemberPrediction:
    """The prediction of one ensemble member for an image."""

    top1: int
    top1_probability: float
    # Softmax probability of the ground truth; None without a ground truth.
    gt_probability: float | None
    # Softmax probability of the class the ensemble ranked first.
    ensemble_top1_probability: float


@dataclass(frozen=True)
class PredictionRow:
    """The ensemble's prediction for one image of a job."""

    image_id: str
    top5: Sequence[int]
    top5_probabilities: Sequence[float]
    # Averaged softmax probability of the ground truth and its 1-based rank
    # among all classes; both None without a ground truth.
    gt_probability: float | None
    gt_rank: int | None
    members: Mapping[str, MemberPrediction]
    entropy: float
    ensemble_id: str


@dataclass(frozen=True)
class Failure:
    """A failure of a job: the image and the ensemble's prediction for it."""

    job_id: int
    image_id: str
    dataset: str
    key: str
    ground_truth: int
    real_labels: list[int] | None
    width: int | None
    height: int | None
    predicted_class: int
    top5: list[int]
    top5_probabilities: list[float]
    gt_probability: float | None
    gt_rank: int | None
    members: dict[str, MemberPrediction]
    entropy: float
    ensemble_id: str


@dataclass(frozen=True)
class ChunkRun:
    """How often a chunk of a job was attempted and whether it finished."""

    job_id: int
    chunk: int
    attempts: int
    done: bool
    last_attempt_at: datetime | None
    finished_at: datetime | None


def _batches(items: Sequence[T], size: int = _IN_BATCH) -> Iterable[Sequence[T]]:
    for begin in range(0, len(items), size):
        yield items[begin : begin + size]


def _check_page(page: int, per_page: int) -> None:
    if page < 1:
        raise InvalidFieldError("page", f"page must be at least 1, got {page}.")
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise InvalidFieldError(
            "per_page",
            f"per_page must be between 1 and {MAX_PER_PAGE}, got {per_page}.",
        )


def _check_one_of(field: str, value: str, allowed: Collection[str]) -> None:
    if value not in allowed:
        raise InvalidFieldError(
            field, f"{field} {value!r} is invalid; use one of {', '.join(allowed)}."
        )


def _job_from_row(row: sa.Row[Any]) -> Job:
    values = dict(row._mapping)
    for name in ("created_at", "started_at", "finished_at"):
        values[name] = as_utc(values[name])
    return Job(**values)


def _members_from_json(
    raw: Mapping[str, Mapping[str, Any]],
) -> dict[str, MemberPrediction]:
    return {name: MemberPrediction(**fields) for name, fields in raw.items()}


def _failure_flags(row: PredictionRow, ground_truth: int | None) -> tuple[Any, Any]:
    """Check a prediction against its image's ground truth and flag failures.

    Returns (is_top1_failure, is_top5_failure), both None without a ground
    truth. Raises ValueError when the row contradicts itself.
    """
    top5 = list(row.top5)
    if not top5 or len(top5) != len(row.top5_probabilities):
        raise ValueError(
            f"prediction for {row.image_id!r} needs as many top5 probabilities as "
            f"classes, got {len(top5)} classes and "
            f"{len(row.top5_probabilities)} probabilities"
        )
    if ground_truth is None:
        if row.gt_rank is not None or row.gt_probability is not None:
            raise ValueError(
                f"image {row.image_id!r} has no ground truth, so gt_rank and "
                "gt_probability must be None"
            )
        return None, None
    if row.gt_rank is None or row.gt_probability is None:
        raise ValueError(
            f"image {row.image_id!r} has ground truth {ground_truth}, so gt_rank "
            "and gt_probability are required"
        )
    in_top5 = ground_truth in top5
    expected_rank_ok = (
        row.gt_rank == top5.index(ground_truth) + 1
        if in_top5
        else row.gt_rank > len(top5)
    )
    if not expected_rank_ok:
        raise ValueError(
            f"prediction for {row.image_id!r} has gt_rank {row.gt_rank}, which "
            f"contradicts ground truth {ground_truth} and top5 {top5}"
        )
    return top5[0] != ground_truth, not in_top5


def failure_from_row(row: sa.Row[Any]) -> Failure:
    """Build a Failure from a row that joins a prediction with its image."""
    return Failure(
        job_id=row.job_id,
        image_id=row.image_id,
        dataset=row.dataset,
        key=row.key,
        ground_truth=row.ground_truth,
        real_labels=row.real_labels,
        width=row.width,
        height=row.height,
        predicted_class=row.predicted_class,
        top5=list(row.top5),
        top5_probabilities=list(row.top5_probabilities),
        gt_probability=row.gt_probability,
        gt_rank=row.gt_rank,
        members=_members_from_json(row.members),
        entropy=row.entropy,
        ensemble_id=row.ensemble_id,
    )


class Repository:
    """Transactions over failcat's tables, one per method call."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._writer = writer(engine)

    # Jobs

    def create_job(
        self,
        *,
        dataset: str,
        start: int | None = None,
        stop: int | None = None,
        path: str | None = None,
        criterion: str = "top1",
        total: int = 0,
        missing: int = 0,
        chunks_total: int = 0,
        ensemble_id: str | None = None,
    ) -> Job:
        """Insert a queued job and return it."""
        _check_one_of("criterion", criterion, CRITERIA)
        with self._writer.begin() as connection:
            row = connection.execute(
                sa.insert(jobs)
                .values(
                    dataset=dataset,
                    start=start,
                    stop=stop,
                    path=path,
                    criterion=criterion,
                    state="queued",
                    analysis_state="pending",
                    total=total,
                    missing=missing,
                    chunks_total=chunks_total,
                    chunks_done=0,
                    ensemble_id=ensemble_id,
                    created_at=utc_now(),
                )
                .returning(*jobs.c)
            ).one()
        job = _job_from_row(row)
        logger.info("Created job %d over %s", job.id, dataset)
        return job

    def get_job(self, job_id: int) -> Job:
        """Return a job. Raises NotFoundError for an unknown id."""
        with self.engine.connect() as connection:
            row = connection.execute(
                sa.select(jobs).where(jobs.c.id == job_id)
            ).one_or_none()
        if row is None:
            raise NotFoundError(f"job {job_id} not found; list jobs at /v1/jobs.")
        return _job_from_row(row)

    def list_jobs(self, page: int = 1, per_page: int = 50) -> Page[Job]:
        """Return one page of jobs, the newest first."""
        _check_page(page, per_page)
        with self.engine.connect() as connection:
            count = connection.execute(
                sa.select(sa.func.count()).select_from(jobs)
            ).scalar_one()
            rows = connection.execute(
                sa.select(jobs)
                .order_by(jobs.c.id.desc())
                .limit(per_page)
                .offset((page - 1) * per_page)
            ).all()
        return Page([_job_from_row(row) for row in rows], page, per_page, count)

    def update_job_plan(
        self, job_id: int, *, total: int, missing: int, chunks_total: int
    ) -> Job:
        """Store the size of a job's range, its missing images and its chunks."""
        with self._writer.begin() as connection:
            row = connection.execute(
                sa.update(jobs)
                .where(jobs.c.id == job_id)
                .values(total=total, missing=missing, chunks_total=chunks_total)
                .returning(*jobs.c)
            ).one_or_none()
        if row is None:
            raise NotFoundError(f"job {job_id} not found; list jobs at /v1/jobs.")
        return _job_from_row(row)

    def update_job_state(
        self,
        job_id: int,
        state: str,
        *,
        expected: Collection[str] | None = None,
        error: str | None = None,
        ensemble_id: str | None = None,
    ) -> bool:
        """Move a job to ``state`` if its current state is in ``expected``.

        With ``expected`` None the move is unconditional. ``running`` sets
        started_at once, and the terminal states set finished_at. Returns
        whether the job moved, and raises NotFoundError for an unknown id.
        """
        _check_one_of("state", state, JOB_STATES)
        values: dict[str, Any] = {"state": state}
        now = utc_now()
        if state == "running":
            values["started_at"] = sa.func.coalesce(jobs.c.started_at, now)
        if state in TERMINAL_JOB_STATES:
            values["finished_at"] = now
        if error is not None:
            values["error"] = error
        if ensemble_id is not None:
            values["ensemble_id"] = ensemble_id
        statement = sa.update(jobs).where(jobs.c.id == job_id).values(**values)
        if expected is not None:
            statement = statement.where(jobs.c.state.in_(list(expected)))
        with self._writer.begin() as connection:
            moved = connection.execute(statement.returning(jobs.c.id)).first()
            if moved is None:
                self._require_job(connection, job_id)
        if moved is not None:
            logger.info("Job %d is now %s", job_id, state)
        return moved is not None

    def update_analysis_state(
        self, job_id: int, state: str, *, expected: Collection[str] | None = None
    ) -> bool:
        """Move a job's analysis to ``state`` if it is in ``expected``.

        Returns whether it moved, and raises NotFoundError for an unknown id.
        """
        _check_one_of("analysis_state", state, ANALYSIS_STATES)
        statement = (
            sa.update(jobs).where(jobs.c.id == job_id).values(analysis_state=state)
        )
        if expected is not None:
            statement = statement.where(jobs.c.analysis_state.in_(list(expected)))
        with self._writer.begin() as connection:
            moved = connection.execute(statement.returning(jobs.c.id)).first()
            if moved is None:
                self._require_job(connection, job_id)
        return moved is not None

    def save_metrics(self, job_id: int, metrics: Mapping[str, Any]) -> None:
        """Store a job's metrics, replacing earlier ones."""
        with self._writer.begin() as connection:
            moved = connection.execute(
                sa.update(jobs)
                .where(jobs.c.id == job_id)
                .values(metrics=dict(metrics))
                .returning(jobs.c.id)
            ).first()
            if moved is None:
                self._require_job(connection, job_id)

    @staticmethod
    def _require_job(connection: Connection, job_id: int) -> None:
        exists = connection.execute(
            sa.select(jobs.c.id).where(jobs.c.id == job_id)
        ).first()
        if exists is None:
            raise NotFoundError(f"job {job_id} not found; list jobs at /v1/jobs.")

    # Images, predictions and image errors

    def upsert_images(self, rows: Iterable[ImageRow]) -> None:
        """Insert images that are new and fill in sizes that were unknown.

        An image's dataset, key and labels never change once stored.
        """
        values = [
            {
                "id": row.image_id,
                "dataset": row.dataset,
                "key": row.key,
                "ground_truth": row.ground_truth,
                "real_labels": row.real_labels,
                "width": row.width,
                "height": row.height,
            }
            for row in rows
        ]
        if not values:
            return
        with self._writer.begin() as connection:
            statement = dialect_insert(connection, images)
            statement = statement.on_conflict_do_update(
                index_elements=[images.c.id],
                set_={
                    "width": sa.func.coalesce(images.c.width, statement.excluded.width),
                    "height": sa.func.coalesce(
                        images.c.height, statement.excluded.height
                    ),
                },
                where=sa.or_(images.c.width.is_(None), images.c.height.is_(None)),
            )
            connection.execute(statement, values)

    def upsert_predictions(self, job_id: int, rows: Iterable[PredictionRow]) -> int:
        """Insert a job's predictions, skipping images it already has.

        An image that already has a prediction or an error in this job is
        left alone, so a redelivered chunk changes nothing. The images must be
        stored first. Returns how many predictions were inserted. Raises
        ValueError for an unknown image or a row whose gt_rank contradicts
        its top5.
        """
        batch = list(rows)
        if not batch:
            return 0
        ids = [row.image_id for row in batch]
        with self._writer.begin() as connection:
            ground_truth = self._ground_truth(connection, ids)
            unknown = [image_id for image_id in ids if image_id not in ground_truth]
            if unknown:
                raise ValueError(
                    f"{len(unknown)} images are not stored, first {unknown[0]!r}; "
                    "upsert the images before their predictions"
                )
            errored = self._image_ids_in(connection, image_errors, job_id, ids)
            now = utc_now()
            values = []
            for row in batch:
                if row.image_id in errored:
                    continue
                top1_failure, top5_failure = _failure_flags(
                    row, ground_truth[row.image_id]
                )
                values.append(
                    {
                        "job_id": job_id,
                        "image_id": row.image_id,
                        "predicted_class": int(row.top5[0]),
                        "top5": [int(value) for value in row.top5],
                        "top5_probabilities": [
                            float(value) for value in row.top5_probabilities
                        ],
                        "gt_probability": row.gt_probability,
                        "gt_rank": row.gt_rank,
                        "is_top1_failure": top1_failure,
                        "is_top5_failure": top5_failure,
                        "members": {
                            name: asdict(member) for name, member in row.members.items()
                        },
                        "ensemble_id": row.ensemble_id,
                        "entropy": float(row.entropy),
                        "created_at": now,
                    }
                )
            if not values:
                return 0
            inserted = insert_new_rows(
                connection,
                predictions,
                [predictions.c.job_id, predictions.c.image_id],
                values,
            )
        skipped = len(batch) - inserted
        if skipped:
            logger.info(
                "Job %d: skipped %d predictions already recorded", job_id, skipped
            )
        return inserted

    def record_image_errors(
        self, job_id: int, errors: Iterable[tuple[str, str]]
    ) -> int:
        """Record images of a job that could not be predicted, with the reason.

        ``errors`` contains (image_id, reason) pairs for stored images. An image
        that already has a prediction or an error in this job is left alone.
        Returns how many errors were inserted.
        """
        batch = list(errors)
        if not batch:
            return 0
        ids = [image_id for image_id, _ in batch]
        with self._writer.begin() as connection:
            predicted = self._image_ids_in(connection, predictions, job_id, ids)
            now = utc_now()
            values = [
                {
                    "job_id": job_id,
                    "image_id": image_id,
                    "reason": reason,
                    "created_at": now,
                }
                for image_id, reason in batch
                if image_id not in predicted
            ]
            if not values:
                return 0
            statement = (
                dialect_insert(connection, image_errors)
                .on_conflict_do_nothing(
                    index_elements=[image_errors.c.job_id, image_errors.c.image_id]
                )
                .returning(image_errors.c.id)
            )
            inserted = len(connection.execute(statement, values).all())
        if inserted:
            logger.warning(
                "Job %d: %d images failed, first %s: %s",
                job_id,
                inserted,
                values[0]["image_id"],
                values[0]["reason"],
            )
        return inserted

    @staticmethod
    def _ground_truth(
        connection: Connection, image_ids: Sequence[str]
    ) -> dict[str, int | None]:
        found: dict[str, int | None] = {}
        for part in _batches(list(dict.fromkeys(image_ids))):
            rows = connection.execute(
                sa.select(images.c.id, images.c.ground_truth).where(
                    images.c.id.in_(part)
                )
            )
            found.update({image_id: gt for image_id, gt in rows})
        return found

    @staticmethod
    def _image_ids_in(
        connection: Connection, table: sa.Table, job_id: int, image_ids: Sequence[str]
    ) -> set[str]:
        found: set[str] = set()
        for part in _batches(list(dict.fromkeys(image_ids))):
            rows = connection.execute(
                sa.select(table.c.image_id).where(
                    table.c.job_id == job_id, table.c.image_id.in_(part)
                )
            )
            found.update(rows.scalars())
        return found

    # Chunks

    def record_chunk_attempt(self, job_id: int, chunk: int) -> int:
        """Count one more attempt at a chunk and return the attempts so far."""
        now = utc_now()
        with self._writer.begin() as connection:
            statement = dialect_insert(connection, chunk_runs).values(
                job_id=job_id, chunk=chunk, attempts=1, done=False, last_attempt_at=now
            )
            statement = statement.on_conflict_do_update(
                index_elements=[chunk_runs.c.job_id, chunk_runs.c.chunk],
                set_={"attempts": chunk_runs.c.attempts + 1, "last_attempt_at": now},
            ).returning(chunk_runs.c.attempts)
            try:
                attempts = connection.execute(statement).scalar_one()
            except sa.exc.IntegrityError:
                raise NotFoundError(
                    f"job {job_id} not found; list jobs at /v1/jobs."
                ) from None
        return int(attempts)

    def mark_chunk_done(self, job_id: int, chunk: int) -> bool:
        """Mark a chunk done and return whether the job has just completed.

        A chunk counts once, however often it is marked. The job's done-chunk
        counter is incremented in the same transaction, which holds the row
        lock (or the SQLite write lock), so of several workers finishing the
        last chunks at once exactly one gets True. The job's state is not
        changed here.
        """
        now = utc_now()
        with self._writer.begin() as connection:
            ensure_row = (
                dialect_insert(connection, chunk_runs)
                .values(job_id=job_id, chunk=chunk, attempts=0, done=False)
                .on_conflict_do_nothing(
                    index_elements=[chunk_runs.c.job_id, chunk_runs.c.chunk]
                )
            )
            try:
                connection.execute(ensure_row)
            except sa.exc.IntegrityError:
                raise NotFoundError(
                    f"job {job_id} not found; list jobs at /v1/jobs."
                ) from None
            newly_done = connection.execute(
                sa.update(chunk_runs)
                .where(
                    chunk_runs.c.job_id == job_id,
                    chunk_runs.c.chunk == chunk,
                    chunk_runs.c.done == sa.false(),
                )
                .values(done=True, finished_at=now)
                .returning(chunk_runs.c.id)
            ).first()
            if newly_done is None:
                return False
            counted = connection.execute(
                sa.update(jobs)
                .where(jobs.c.id == job_id)
                .values(chunks_done=jobs.c.chunks_done + 1)
                .returning(jobs.c.chunks_done, jobs.c.chunks_total)
            ).one()
        complete = counted.chunks_done == counted.chunks_total
        if complete:
            logger.info("Job %d: all %d chunks done", job_id, counted.chunks_total)
        return complete

    def chunk_runs(self, job_id: int) -> list[ChunkRun]:
        """Return the chunk runs of a job, by chunk."""
        with self.engine.connect() as connection:
            rows = connection.execute(
                sa.select(chunk_runs)
                .where(chunk_runs.c.job_id == job_id)
                .order_by(chunk_runs.c.chunk)
            ).all()
        return [
            ChunkRun(
                job_id=row.job_id,
                chunk=row.chunk,
                attempts=row.attempts,
                done=bool(row.done),
                last_attempt_at=as_utc(row.last_attempt_at),
                finished_at=as_utc(row.finished_at),
            )
            for row in rows
        ]

    # Counts, failures and metrics

    def list_image_errors(
        self, job_id: int, page: int = 1, per_page: int = 50
    ) -> Page[tuple[str, str]]:
        """Return one page of a job's per-image errors as (image_id, reason), by id."""
        _check_page(page, per_page)
        where = image_errors.c.job_id == job_id
        with self.engine.connect() as connection:
            total = connection.execute(
                sa.select(sa.func.count()).select_from(image_errors).where(where)
            ).scalar_one()
            rows = connection.execute(
                sa.select(image_errors.c.image_id, image_errors.c.reason)
                .where(where)
                .order_by(image_errors.c.image_id)
                .limit(per_page)
                .offset((page - 1) * per_page)
            ).all()
        return Page(
            items=[(row.image_id, row.reason) for row in rows],
            page=page,
            per_page=per_page,
            total=total,
        )

    def job_counts(self, job_id: int) -> JobCounts:
        """Return a job's progress: images predicted or failed, and missing."""
        with self.engine.connect() as connection:
            job = connection.execute(
                sa.select(jobs.c.total, jobs.c.missing).where(jobs.c.id == job_id)
            ).one_or_none()
            if job is None:
                raise NotFoundError(f"job {job_id} not found; list jobs at /v1/jobs.")
            predicted = connection.execute(
                sa.select(sa.func.count())
                .select_from(predictions)
                .where(predictions.c.job_id == job_id)
            ).scalar_one()
            failed = connection.execute(
                sa.select(sa.func.count())
                .select_from(image_errors)
                .where(image_errors.c.job_id == job_id)
            ).scalar_one()
        return JobCounts(
            total=job.total,
            done=predicted + failed,
            failed=failed,
            missing=job.missing,
        )

    def list_failures(
        self,
        job_id: int,
        *,
        criterion: str | None = None,
        page: int = 1,
        per_page: int = 50,
        ground_truth: int | None = None,
        predicted_class: int | None = None,
    ) -> Page[Failure]:
        """Return one page of a job's failures, ordered by image id.

        A top1 failure is an image whose ensemble top-1 differs from its
        ground truth, and a top5 failure one whose ground truth is not in the
        top-5. Images without a ground truth are never failures. The
        criterion defaults to the job's own.
        """
        _check_page(page, per_page)
        job = self.get_job(job_id)
        criterion = criterion or job.criterion
        _check_one_of("criterion", criterion, CRITERIA)
        flag = (
            predictions.c.is_top1_failure
            if criterion == "top1"
            else predictions.c.is_top5_failure
        )
        conditions = [predictions.c.job_id == job_id, flag == sa.true()]
        if ground_truth is not None:
            conditions.append(images.c.ground_truth == ground_truth)
        if predicted_class is not None:
            conditions.append(predictions.c.predicted_class == predicted_class)
        joined = predictions.join(images, predictions.c.image_id == images.c.id)
        with self.engine.connect() as connection:
            total = connection.execute(
                sa.select(sa.func.count()).select_from(joined).where(*conditions)
            ).scalar_one()
            rows = connection.execute(
                sa.select(
                    predictions,
                    images.c.dataset,
                    images.c.key,
                    images.c.ground_truth,
                    images.c.real_labels,
                    images.c.width,
                    images.c.height,
                )
                .select_from(joined)
                .where(*conditions)
                .order_by(predictions.c.image_id)
                .limit(per_page)
                .offset((page - 1) * per_page)
            ).all()
        items = [failure_from_row(row) for row in rows]
        return Page(items, page, per_page, total)

    def compute_metrics(self, job_id: int) -> dict[str, Any]:
        """Compute a job's error rates over its images with a ground truth.

        Returns top1_error, top5_error, real_top1_accuracy (over images whose
        ReaL list is not empty), per-member top1_error, the number of
        failures under the job's criterion, and the image counts behind the
        rates. A rate is None when no image counts towards it.
        """
        job = self.get_job(job_id)
        statement = (
            sa.select(
                predictions.c.predicted_class,
                predictions.c.is_top1_failure,
                predictions.c.is_top5_failure,
                predictions.c.members,
                images.c.ground_truth,
                images.c.real_labels,
            )
            .select_from(
                predictions.join(images, predictions.c.image_id == images.c.id)
            )
            .where(predictions.c.job_id == job_id, images.c.ground_truth.is_not(None))
        )
        evaluated = top1_failures = top5_failures = 0
        real_evaluated = real_correct = 0
        member_evaluated: dict[str, int] = defaultdict(int)
        member_failures: dict[str, int] = defaultdict(int)
        with self.engine.connect() as connection:
            result = connection.execution_options(yield_per=1000).execute(statement)
            for row in result:
                evaluated += 1
                top1_failures += bool(row.is_top1_failure)
                top5_failures += bool(row.is_top5_failure)
                if row.real_labels:
                    real_evaluated += 1
                    real_correct += row.predicted_class in row.real_labels
                for name, member in row.members.items():
                    member_evaluated[name] += 1
                    member_failures[name] += member["top1"] != row.ground_truth
        return {
            "images": evaluated,
            "top1_error": top1_failures / evaluated if evaluated else None,
            "top5_error": top5_failures / evaluated if evaluated else None,
            "real_images": real_evaluated,
            "real_top1_accuracy": (
                real_correct / real_evaluated if real_evaluated else None
            ),
            "members": {
                name: {"top1_error": member_failures[name] / member_evaluated[name]}
                for name in sorted(member_evaluated)
            },
            "failures": top1_failures if job.criterion == "top1" else top5_failures,
        }
