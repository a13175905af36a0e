"""Validation jobs: plan a dataset into chunks, run a chunk, report progress.

A job's images are split into chunks that any worker can run. Every write a
chunk makes is an upsert keyed by (job, image), so running a chunk twice, after
a killed worker or a redelivered message, changes nothing.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import numpy as np

from services import datasets, labels
from services.config import Settings
from services.ensemble import Ensemble
from services.errors import FailcatError, InvalidFieldError, NotFoundError
from services.imaging import decode_image
from services.storage.repositories import (
    ImageRow,
    Job,
    MemberPrediction,
    PredictionRow,
    Repository,
)

logger = logging.getLogger(__name__)

DATASETS = ("imagenet-val", "folder")
CRITERIA = ("top1", "top5")
# A chunk that was started this many times without finishing fails its job.
MAX_CHUNK_ATTEMPTS = 3
ACTIVE_STATES = ("queued", "running")


@dataclass(frozen=True)
class JobPlan:
    """A created job and the image ids of each of its chunks."""

    job: Job
    chunks: list[list[str]]


def _image_rows(refs: Sequence[datasets.ImageRef]) -> list[ImageRow]:
    return [
        ImageRow(
            image_id=ref.image_id,
            dataset=ref.dataset,
            key=ref.key,
            ground_truth=ref.ground_truth,
            real_labels=ref.real_labels,
        )
        for ref in refs
    ]


def plan_job(
    repository: Repository,
    settings: Settings,
    *,
    dataset: str,
    start: int | None = None,
    stop: int | None = None,
    path: str | None = None,
    criterion: str = "top1",
) -> JobPlan:
    """Validate a job request, store the job and its images, and split it into chunks.

    Raises InvalidFieldError naming the field for an unknown dataset or
    criterion, a bad range, a missing folder, or a path outside the roots.
    """
    if dataset not in DATASETS:
        raise InvalidFieldError(
            "dataset", f"unknown dataset {dataset!r}; use one of {', '.join(DATASETS)}"
        )
    if criterion not in CRITERIA:
        raise InvalidFieldError(
            "criterion",
            f"unknown criterion {criterion!r}; use one of {', '.join(CRITERIA)}",
        )

    if dataset == "imagenet-val":
        if start is None:
            raise InvalidFieldError("start", "start is required for imagenet-val")
        if stop is None:
            raise InvalidFieldError("stop", "stop is required for imagenet-val")
        found = datasets.resolve_imagenet_val(settings.imagenet_val_dir, start, stop)
        refs, missing = found.refs, len(found.missing)
        total = stop - start + 1
    else:
        if not path:
            raise InvalidFieldError(
                "path", "path is required for a folder job; give it relative to a root"
            )
        if not settings.dataset_roots:
            raise InvalidFieldError(
                "path",
                "no dataset roots are configured; set FAILCAT_DATASET_ROOTS to the "
                "folders that jobs may read",
            )
        refs = datasets.resolve_folder(settings.dataset_roots, path)
        missing = 0
        total = len(refs)

    size = settings.chunk_size
    chunks = [
        [ref.image_id for ref in refs[i : i + size]] for i in range(0, len(refs), size)
    ]
    repository.upsert_images(_image_rows(refs))
    job = repository.create_job(
        dataset=dataset,
        start=start,
        stop=stop,
        path=path,
        criterion=criterion,
        total=total,
        missing=missing,
        chunks_total=len(chunks),
    )
    logger.info(
        "planned job %d: %d images in %d chunks, %d missing",
        job.id,
        len(refs),
        len(chunks),
        missing,
    )
    if not chunks:
        # Nothing to predict, so nothing to analyse either.
        finish_job(repository, job.id)
        repository.update_analysis_state(job.id, "done")
        job = repository.get_job(job.id)
    return JobPlan(job=job, chunks=chunks)


def entropy(probabilities: np.ndarray) -> float:
    """Return the Shannon entropy of a probability vector, in nats."""
    positive = probabilities[probabilities > 0]
    return float(-(positive * np.log(positive)).sum())


def prediction_row(
    image_id: str,
    ground_truth: int | None,
    probabilities: np.ndarray,
    member_probabilities: dict[str, np.ndarray],
    ensemble_id: str,
) -> PredictionRow:
    """Summarise one image's ensemble output as the row stored for it."""
    order = np.argsort(-probabilities, kind="stable")[:5]
    top1 = int(order[0])
    gt_probability = gt_rank = None
    if ground_truth is not None:
        gt_probability = float(probabilities[ground_truth])
        gt_rank = 1 + int((probabilities > probabilities[ground_truth]).sum())
    members = {}
    for name, probs in member_probabilities.items():
        member_top1 = int(probs.argmax())
        members[name] = MemberPrediction(
            top1=member_top1,
            top1_probability=float(probs[member_top1]),
            gt_probability=None if ground_truth is None else float(probs[ground_truth]),
            ensemble_top1_probability=float(probs[top1]),
        )
    return PredictionRow(
        image_id=image_id,
        top5=[int(i) for i in order],
        top5_probabilities=[float(probabilities[i]) for i in order],
        gt_probability=gt_probability,
        gt_rank=gt_rank,
        members=members,
        entropy=entropy(probabilities),
        ensemble_id=ensemble_id,
    )


@dataclass
class _Prepared:
    """One batch after decoding: inputs per member and the images that failed."""

    refs: list[datasets.ImageRef]
    inputs: dict[str, np.ndarray] | None
    errors: dict[str, str]


def _prepare(
    ensemble: Ensemble, settings: Settings, image_ids: Sequence[str]
) -> _Prepared:
    refs = []
    images = []
    errors: dict[str, str] = {}
    for image_id in image_ids:
        try:
            ref = datasets.ref_for_image_id(settings, image_id)
            data = ref.path.read_bytes()
            image = decode_image(data, settings.max_pixels)
        except FailcatError as exc:
            errors[image_id] = exc.message
            continue
        except OSError as exc:
            errors[image_id] = f"the file could not be read: {exc.strerror or exc}"
            continue
        refs.append(ref)
        images.append(image)
    inputs = ensemble.make_inputs(images) if images else None
    return _Prepared(refs=refs, inputs=inputs, errors=errors)


def _batches(
    ensemble: Ensemble, settings: Settings, image_ids: Sequence[str]
) -> Iterator[_Prepared]:
    """Yield decoded batches, decoding the next batch while the caller infers."""
    size = settings.batch_size
    groups = [image_ids[i : i + size] for i in range(0, len(image_ids), size)]
    if not groups:
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="decode") as pool:
        pending = pool.submit(_prepare, ensemble, settings, groups[0])
        for index in range(len(groups)):
            prepared = pending.result()
            if index + 1 < len(groups):
                pending = pool.submit(_prepare, ensemble, settings, groups[index + 1])
            yield prepared


def predict_images(
    ensemble: Ensemble, settings: Settings, image_ids: Sequence[str]
) -> tuple[list[PredictionRow], dict[str, str]]:
    """Decode and predict images by id; return the rows and the per-image errors."""
    rows: list[PredictionRow] = []
    errors: dict[str, str] = {}
    for prepared in _batches(ensemble, settings, image_ids):
        errors.update(prepared.errors)
        if prepared.inputs is None:
            continue
        output = ensemble.run(prepared.inputs)
        for i, ref in enumerate(prepared.refs):
            rows.append(
                prediction_row(
                    ref.image_id,
                    ref.ground_truth,
                    output.probabilities[i],
                    {n: p[i] for n, p in output.member_probabilities.items()},
                    ensemble.ensemble_id,
                )
            )
    return rows, errors


@dataclass(frozen=True)
class ChunkOutcome:
    """Outcome of running one chunk of a job."""

    ran: bool
    job_finished: bool
    predicted: int = 0
    failed_images: int = 0
    reason: str = ""


def run_chunk(
    repository: Repository,
    ensemble: Ensemble,
    settings: Settings,
    job_id: int,
    chunk: int,
    image_ids: Sequence[str],
) -> ChunkOutcome:
    """Predict one chunk of a job, store its rows, and finish the job after its last.

    A chunk of a cancelled or failed job is skipped. A chunk started more than
    MAX_CHUNK_ATTEMPTS times fails the job, so a chunk that keeps killing its
    worker cannot keep the job queued forever.
    """
    job = repository.get_job(job_id)
    if job.state not in ACTIVE_STATES:
        return ChunkOutcome(ran=False, job_finished=False, reason=f"job is {job.state}")

    attempts = repository.record_chunk_attempt(job_id, chunk)
    if attempts > MAX_CHUNK_ATTEMPTS:
        reason = (
            f"chunk {chunk} was started {attempts} times without finishing; "
            "its worker may have crashed on it"
        )
        fail_job(repository, job_id, reason)
        return ChunkOutcome(ran=False, job_finished=True, reason=reason)
    if attempts > 1:
        logger.warning("job %d chunk %d: attempt %d", job_id, chunk, attempts)

    repository.update_job_state(
        job_id, "running", expected=("queued",), ensemble_id=ensemble.ensemble_id
    )
    rows, errors = predict_images(ensemble, settings, image_ids)
    repository.upsert_predictions(job_id, rows)
    if errors:
        repository.record_image_errors(job_id, errors.items())
        logger.warning(
            "job %d chunk %d: %d images could not be predicted",
            job_id,
            chunk,
            len(errors),
        )
    finished = repository.mark_chunk_done(job_id, chunk)
    if finished:
        finish_job(repository, job_id)
    return ChunkOutcome(
        ran=True, job_finished=finished, predicted=len(rows), failed_images=len(errors)
    )


def finish_job(repository: Repository, job_id: int) -> None:
    """Compute and store a job's metrics and mark it done."""
    repository.save_metrics(job_id, repository.compute_metrics(job_id))
    repository.update_job_state(job_id, "done", expected=ACTIVE_STATES)


def fail_job(repository: Repository, job_id: int, reason: str) -> None:
    """Mark an active job failed with ``reason``."""
    if repository.update_job_state(
        job_id, "failed", expected=ACTIVE_STATES, error=reason
    ):
        logger.warning("job %d failed: %s", job_id, reason)


def cancel_job(repository: Repository, job_id: int) -> Job:
    """Cancel a queued or running job; its remaining chunks are skipped."""
    repository.update_job_state(job_id, "cancelled", expected=ACTIVE_STATES)
    return repository.get_job(job_id)


def _seconds(start: datetime, end: datetime) -> float:
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    if end.tzinfo is None:
        end = end.replace(tzinfo=UTC)
    return (end - start).total_seconds()


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.isoformat()


def job_view(repository: Repository, job: Job) -> dict[str, Any]:
    """Return a job as the API shows it: state, counts, speed and metrics."""
    counts = repository.job_counts(job.id)
    rate = None
    if job.started_at is not None and counts.done:
        end = job.finished_at or datetime.now(UTC)
        elapsed = _seconds(job.started_at, end)
        if elapsed > 0:
            rate = round(counts.done / elapsed, 2)
    return {
        "id": job.id,
        "dataset": job.dataset,
        "start": job.start,
        "stop": job.stop,
        "path": job.path,
        "criterion": job.criterion,
        "state": job.state,
        "analysis_state": job.analysis_state,
        "counts": {
            "total": job.total,
            "done": counts.done,
            "failed": counts.failed,
            "missing": job.missing,
        },
        "chunks": {"total": job.chunks_total, "done": job.chunks_done},
        "images_per_second": rate,
        "metrics": job.metrics,
        "error": job.error,
        "ensemble_id": job.ensemble_id,
        "created_at": _iso(job.created_at),
        "started_at": _iso(job.started_at),
        "finished_at": _iso(job.finished_at),
    }


def failure_view(failure: Any, suggestion: Any = None) -> dict[str, Any]:
    """Return a failure as the API lists it.

    ``suggestion`` is the failure's stored suggestion, or None before the job's
    analysis reached it.
    """
    real = failure.real_labels
    members = {
        name: {
            "top1": m.top1,
            "top1_name": labels.class_name(m.top1),
            "top1_probability": m.top1_probability,
            "gt_probability": m.gt_probability,
        }
        for name, m in failure.members.items()
    }
    votes_for_prediction = sum(
        1 for m in failure.members.values() if m.top1 == failure.predicted_class
    )
    votes_for_gt = sum(
        1 for m in failure.members.values() if m.top1 == failure.ground_truth
    )
    return {
        "image": failure.image_id,
        "dataset": failure.dataset,
        "key": failure.key,
        "ground_truth": _class(failure.ground_truth),
        "predicted_class": _class(failure.predicted_class),
        "top5": [
            {**_class(c), "probability": p}
            for c, p in zip(failure.top5, failure.top5_probabilities, strict=True)
        ],
        "gt_probability": failure.gt_probability,
        "gt_rank": failure.gt_rank,
        "entropy": failure.entropy,
        "members": members,
        "votes": {"prediction": votes_for_prediction, "ground_truth": votes_for_gt},
        "real_labels": real,
        "gt_in_real": None if not real else failure.ground_truth in real,
        "prediction_in_real": None if not real else failure.predicted_class in real,
        "image_url": image_url(failure.image_id),
        "suggestion": _suggestion(suggestion),
    }


def _suggestion(suggestion: Any) -> dict[str, Any] | None:
    if suggestion is None:
        return None
    return {
        "category": suggestion.category,
        "confidence": suggestion.confidence,
        "decided_by": suggestion.decided_by,
        "evidence": suggestion.evidence,
    }


def image_url(image_id: str) -> str:
    """Return the API path of an image, with its id percent-encoded."""
    return "/v1/images/" + quote(image_id, safe=":/")


def _class(index: int) -> dict[str, Any]:
    return {
        "class_index": index,
        "wnid": labels.wnid(index),
        "name": labels.class_name(index),
    }


def check_page(page: int, per_page: int) -> None:
    """Raise InvalidFieldError for a page below 1 or a page size outside 1 to 500."""
    if page < 1:
        raise InvalidFieldError("page", f"page must be at least 1, got {page}")
    if not 1 <= per_page <= 500:
        raise InvalidFieldError(
            "per_page", f"per_page must be between 1 and 500, got {per_page}"
        )


def pages(total: int, per_page: int) -> int:
    return max(1, math.ceil(total / per_page))


def require_job(repository: Repository, job_id: int) -> Job:
    """Return the job or raise NotFoundError naming it."""
    try:
        return repository.get_job(job_id)
    except NotFoundError:
        raise NotFoundError(f"job {job_id} not found; list jobs at /v1/jobs") from None
