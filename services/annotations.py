"""Category annotations of failures: record, change, retract and list them.

A failure is a (job, image) pair, and each annotator has at most one current
annotation per failure. Only the annotator who recorded an annotation may
change or retract it; anyone may read it. Every change is kept as an event.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from services.categories import Category, parse_category
from services.errors import FailcatError, InvalidFieldError
from services.jobs import image_url, require_job
from services.storage.annotation_repository import (
    Annotation,
    AnnotationEvent,
    AnnotationRepository,
    RecordOutcome,
)
from services.storage.repositories import Page, Repository

logger = logging.getLogger(__name__)


class ForbiddenError(FailcatError):
    """An annotator tried to change or retract another annotator's annotation."""

    status = 403


def field_errors(problems: dict[str, str]) -> InvalidFieldError:
    """Build one InvalidFieldError that names every invalid field."""
    fields = list(problems)
    error = InvalidFieldError(fields[0], problems[fields[0]])
    for field in fields[1:]:
        error.errors[field] = [problems[field]]
    if len(fields) > 1:
        error.message = "; ".join(problems[field] for field in fields)
        error.args = (error.message,)
    return error


def check_note(note: str | None, max_note_chars: int) -> str | None:
    """Return the problem with a note, or None when it is acceptable."""
    if note is not None and len(note) > max_note_chars:
        return (
            f"note has {len(note)} characters, over the limit of {max_note_chars} "
            "(FAILCAT_MAX_NOTE_CHARS); shorten it"
        )
    return None


def _parse_category_problem(value: object) -> tuple[Category | None, str | None]:
    try:
        return parse_category(value), None
    except InvalidFieldError as exc:
        return None, exc.message


def record_annotation(
    repository: Repository,
    annotation_repository: AnnotationRepository,
    *,
    job_id: int,
    image_id: str,
    annotator: str,
    category: object,
    note: str | None,
    max_note_chars: int,
) -> RecordOutcome:
    """Validate and record ``annotator``'s category of a failure of a job.

    Raises NotFoundError for an unknown job, and one InvalidFieldError naming
    every invalid field: ``image`` when the image is not a failure of the job
    under the job's criterion, ``category`` for an unknown category, ``note``
    for a note over ``max_note_chars``.
    """
    job = require_job(repository, job_id)

    problems: dict[str, str] = {}
    if not annotation_repository.is_failure(job_id, image_id, job.criterion):
        problems["image"] = (
            f"image {image_id!r} is not a {job.criterion} failure of job {job_id}; "
            f"pick one from /v1/jobs/{job_id}/failures"
        )
    parsed, category_problem = _parse_category_problem(category)
    if category_problem:
        problems["category"] = category_problem
    note_problem = check_note(note, max_note_chars)
    if note_problem:
        problems["note"] = note_problem
    if problems:
        raise field_errors(problems)

    assert parsed is not None
    return annotation_repository.record_annotation(
        job_id=job_id,
        image_id=image_id,
        annotator=annotator,
        category=parsed.key,
        note=note,
    )


def _require_owner(annotation: Annotation, annotator: str, verb: str) -> None:
    if annotation.annotator != annotator:
        raise ForbiddenError(
            f"annotation {annotation.id} belongs to {annotation.annotator}; only "
            f"its annotator may {verb} it, so record your own with "
            "POST /v1/annotations"
        )


def update_annotation(
    annotation_repository: AnnotationRepository,
    annotation_id: int,
    *,
    annotator: str,
    changes: dict[str, Any],
    max_note_chars: int,
) -> Annotation:
    """Change the category and/or note of the caller's own current annotation.

    ``changes`` may contain ``category`` and ``note``; a note of None clears it.
    Raises NotFoundError for an unknown id, ForbiddenError when the annotation
    belongs to someone else, InvalidFieldError for a bad value or no change
    given, and ConflictError when the annotation is retracted.
    """
    annotation = annotation_repository.get_annotation(annotation_id)
    _require_owner(annotation, annotator, "change")

    problems: dict[str, str] = {}
    if "category" not in changes and "note" not in changes:
        problems["category"] = "give a category, a note or both to change"
    parsed = None
    if "category" in changes:
        parsed, category_problem = _parse_category_problem(changes["category"])
        if category_problem:
            problems["category"] = category_problem
    note = changes.get("note")
    note_problem = check_note(note, max_note_chars)
    if note_problem:
        problems["note"] = note_problem
    if problems:
        raise field_errors(problems)

    return annotation_repository.update_annotation(
        annotation_id,
        category=None if parsed is None else parsed.key,
        note=note,
        set_note="note" in changes,
    )


def retract_annotation(
    annotation_repository: AnnotationRepository, annotation_id: int, *, annotator: str
) -> Annotation:
    """Retract the caller's own annotation; retracting twice changes nothing.

    Raises NotFoundError for an unknown id and ForbiddenError when the
    annotation belongs to someone else.
    """
    annotation = annotation_repository.get_annotation(annotation_id)
    _require_owner(annotation, annotator, "retract")
    retracted, _ = annotation_repository.retract_annotation(annotation_id)
    return retracted


def list_annotations(
    repository: Repository,
    annotation_repository: AnnotationRepository,
    *,
    job_id: int | None = None,
    sample_id: int | None = None,
    annotator: str | None = None,
    category: object = None,
    include_retracted: bool = False,
    history: bool = False,
    page: int = 1,
    per_page: int = 50,
) -> Page[Annotation]:
    """List annotations that match every filter given.

    Raises NotFoundError for an unknown job or sample and InvalidFieldError
    for an unknown category.
    """
    if job_id is not None:
        require_job(repository, job_id)
    if sample_id is not None:
        annotation_repository.get_sample(sample_id)
    key = None if category is None else parse_category(category).key
    return annotation_repository.list_annotations(
        job_id=job_id,
        sample_id=sample_id,
        annotator=annotator,
        category=key,
        include_retracted=include_retracted,
        with_events=history,
        page=page,
        per_page=per_page,
    )


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.isoformat()


def event_view(event: AnnotationEvent) -> dict[str, Any]:
    """Return an annotation event as the API shows it."""
    return {
        "version": event.version,
        "action": event.action,
        "category": event.category,
        "note": event.note,
        "recorded_at": _iso(event.recorded_at),
    }


def annotation_view(annotation: Annotation) -> dict[str, Any]:
    """Return an annotation as the API shows it, with its events when loaded."""
    view: dict[str, Any] = {
        "id": annotation.id,
        "job": annotation.job_id,
        "image": annotation.image_id,
        "image_url": image_url(annotation.image_id),
        "annotator": annotation.annotator,
        "category": annotation.category,
        "category_id": parse_category(annotation.category).id,
        "note": annotation.note,
        "version": annotation.version,
        "created_at": _iso(annotation.created_at),
        "updated_at": _iso(annotation.updated_at),
        "retracted_at": _iso(annotation.retracted_at),
    }
    if annotation.events is not None:
        view["events"] = [event_view(event) for event in annotation.events]
    return view
