"""Seeded random samples of a finished job's failures, for annotators to review.

The draw depends only on the seed and on the job's failure image ids sorted as
strings, so the same request gives the same sample after a restart and on
SQLite or PostgreSQL. It is a partial Fisher-Yates shuffle driven only by
``random.Random(seed).random()``. The random module's "Notes on Reproducibility"
guarantee that ``random()`` returns the same sequence for the same int seed
across Python versions. Its other methods, such as ``sample()`` and
``randrange()``, carry no such guarantee.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from typing import Any

from services.annotations import annotation_view
from services.errors import ConflictError, InvalidFieldError, UnauthorizedError
from services.jobs import image_url, require_job
from services.storage.annotation_repository import (
    Annotation,
    AnnotationRepository,
    Sample,
)
from services.storage.repositories import Repository

logger = logging.getLogger(__name__)

# Seeds are stored in a 32-bit integer column. Random(seed) uses abs(seed), so
# negative seeds would only repeat positive ones.
MAX_SEED = 2**31 - 1


def draw(image_ids: Sequence[str], size: int, seed: int) -> list[str]:
    """Draw ``size`` distinct ids in random order, reproducibly for ``seed``.

    The ids are sorted first, so their input order does not matter. Raises
    ValueError when ``size`` is below 0 or above the number of ids.
    """
    pool = sorted(image_ids)
    if not 0 <= size <= len(pool):
        raise ValueError(f"size must be between 0 and {len(pool)}, got {size}")
    generator = random.Random(seed)
    for position in range(size):
        remaining = len(pool) - position
        # random() is in [0, 1), so the offset is in [0, remaining).
        chosen = position + int(generator.random() * remaining)
        pool[position], pool[chosen] = pool[chosen], pool[position]
    return pool[:size]


def create_sample(
    repository: Repository,
    annotation_repository: AnnotationRepository,
    *,
    job_id: int,
    size: int,
    seed: int,
    created_by: str | None,
) -> Sample:
    """Draw and store a sample of a finished job's failures.

    Raises NotFoundError for an unknown job, InvalidFieldError for a size below
    1 or a seed outside 0 to MAX_SEED, and ConflictError when the job is not
    done or has fewer failures than ``size``.
    """
    job = require_job(repository, job_id)
    if size < 1:
        raise InvalidFieldError("size", f"size must be at least 1, got {size}")
    if not 0 <= seed <= MAX_SEED:
        raise InvalidFieldError(
            "seed", f"seed must be between 0 and {MAX_SEED}, got {seed}"
        )
    if job.state in ("queued", "running"):
        raise ConflictError(
            f"job {job_id} is {job.state}; samples need a done job, so wait for it "
            f"to finish (GET /v1/jobs/{job_id})"
        )
    if job.state != "done":
        raise ConflictError(
            f"job {job_id} is {job.state} and will not finish; samples need a done "
            "job, so start a new one"
        )

    failures = annotation_repository.failure_image_ids(job_id, job.criterion)
    if size > len(failures):
        raise ConflictError(
            f"job {job_id} has {len(failures)} {job.criterion} failures, fewer than "
            f"the requested size {size}; ask for at most {len(failures)}"
        )
    chosen = draw(failures, size, seed)
    return annotation_repository.create_sample(
        job_id=job_id, seed=seed, image_ids=chosen, created_by=created_by
    )


def _item_view(image_id: str, position: int) -> dict[str, Any]:
    return {
        "position": position,
        "image": image_id,
        "image_url": image_url(image_id),
    }


def sample_view(sample: Sample) -> dict[str, Any]:
    """Return a sample as the API shows it after creating it."""
    return {
        "id": sample.id,
        "job": sample.job_id,
        "size": sample.size,
        "seed": sample.seed,
        "created_by": sample.created_by,
        "created_at": sample.created_at.isoformat(),
        "items": [_item_view(item.image_id, item.position) for item in sample.items],
    }


def annotator_progress(
    annotation_repository: AnnotationRepository, sample: Sample, annotator: str | None
) -> dict[str, Annotation]:
    """Return the annotator's current annotation per image of the sample.

    Without an annotator, the result is empty.
    """
    if annotator is None:
        return {}
    return annotation_repository.current_annotations_by_image(
        sample.job_id, annotator, [item.image_id for item in sample.items]
    )


def sample_progress_view(
    annotation_repository: AnnotationRepository, sample: Sample, annotator: str | None
) -> dict[str, Any]:
    """Return a sample with the annotator's current annotation of each item."""
    current = annotator_progress(annotation_repository, sample, annotator)
    view = sample_view(sample)
    for item in view["items"]:
        found = current.get(item["image"])
        item["annotation"] = None if found is None else annotation_view(found)
    view["annotator"] = annotator
    view["annotated"] = len(current)
    view["remaining"] = sample.size - len(current)
    return view


def next_item_view(
    annotation_repository: AnnotationRepository, sample: Sample, annotator: str | None
) -> dict[str, Any]:
    """Return the first item by position that the annotator has not annotated.

    ``item`` is None and ``done`` true once every item is annotated. Raises
    UnauthorizedError without an annotator, because "next" is per annotator.
    """
    if annotator is None:
        raise UnauthorizedError(
            "the next item depends on who asks; send your API key as "
            "'Authorization: Bearer <key>' or pass ?annotator=<name>"
        )
    current = annotator_progress(annotation_repository, sample, annotator)
    pending = [item for item in sample.items if item.image_id not in current]
    item = None if not pending else _item_view(pending[0].image_id, pending[0].position)
    return {
        "sample": sample.id,
        "job": sample.job_id,
        "annotator": annotator,
        "item": item,
        "done": not pending,
        "annotated": len(current),
        "remaining": len(pending),
        "size": sample.size,
    }
