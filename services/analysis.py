"""Suggest a category for each stored failure of a job.

For one failure, the evidence comes from its stored prediction row (top-5,
probabilities, each member's top-1, entropy, ground-truth rank), from ImageNet
ReaL and the ImageNet-X metaclasses and factors, from WordNet 3.0, and from the
pixels of the image file. ``services.triage.suggest`` turns it into a category.
An image whose file cannot be read still gets a suggestion from the other
signals, with its image statistics set to None.

A job's analysis runs in chunks of image ids. Every chunk inserts its
suggestions with ``ON CONFLICT DO NOTHING`` and then checks whether every
failure of the job has one, so chunks may finish in any order, at the same time
or twice.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from services import datasets, labels, triage, wordnet
from services.config import Settings
from services.errors import FailcatError
from services.image_quality import ImageQuality, measure_image_quality
from services.imaging import decode_image, image_size
from services.storage.repositories import Failure, Repository
from services.storage.suggestion_repository import SuggestionRepository, SuggestionRow

logger = logging.getLogger(__name__)

ANALYSIS_CHUNK_SIZE = 64


def measure_failure_image(settings: Settings, image_id: str) -> ImageQuality | None:
    """Measure the statistics of an image's file, or return None if unreadable.

    Width and height are those the file's header declares, which differ from
    the decoded size when JPEG draft mode shrinks a large photo.
    """
    try:
        ref = datasets.ref_for_image_id(settings, image_id)
        data = ref.path.read_bytes()
        image = decode_image(data, settings.max_pixels)
        width, height = image_size(data, settings.max_pixels)
    except FailcatError as exc:
        logger.warning("image %s has no statistics: %s", image_id, exc.message)
        return None
    except OSError as exc:
        logger.warning("image %s could not be read: %s", image_id, exc)
        return None
    quality = measure_image_quality(image)
    return dataclasses.replace(quality, width=width, height=height)


def _val_file_name(failure: Failure) -> str | None:
    if failure.dataset != datasets.IMAGENET_VAL:
        return None
    return f"{failure.key}.JPEG"


def build_evidence(failure: Failure, quality: ImageQuality | None) -> triage.Evidence:
    """Collect the triage evidence of one failure.

    ``quality`` is None when the image file could not be read. The stored
    image size is used then, if known.
    """
    gt = failure.ground_truth
    pc = failure.predicted_class
    real = failure.real_labels
    real_available = real is not None
    relation = wordnet.relate_classes(gt, pc)
    members = list(failure.members.values())
    file_name = _val_file_name(failure)
    factors = None if file_name is None else labels.imagenet_x_factors(file_name)
    if quality is None:
        sharpness = brightness = contrast = None
        width, height = failure.width, failure.height
    else:
        sharpness = quality.sharpness
        brightness = quality.brightness
        contrast = quality.contrast
        width, height = quality.width, quality.height
    # NOTE: the stored rank counts classes strictly more probable than the
    # ground truth, so a ground truth tied with the top-1 has rank 1 although
    # the top-1 differs from it. Such a tie is the runner-up here.
    gt_rank = max(2, failure.gt_rank or 2)
    pc_probability = float(failure.top5_probabilities[0])
    gt_probability = min(float(failure.gt_probability or 0.0), pc_probability)
    return triage.Evidence(
        real_available=real_available,
        gt_in_real=bool(real) and gt in real,
        pc_in_real=bool(real) and pc in real,
        real_empty=real_available and not real,
        wordnet_distance=relation.distance,
        lch_depth=relation.lch_depth,
        same_metaclass=bool(labels.metaclasses(gt) & labels.metaclasses(pc)),
        entropy=float(failure.entropy),
        members_for_pc=sum(1 for member in members if member.top1 == pc),
        members_for_gt=sum(1 for member in members if member.top1 == gt),
        n_members=len(members),
        gt_rank=gt_rank,
        gt_probability=gt_probability,
        pc_probability=pc_probability,
        sharpness=sharpness,
        brightness=brightness,
        contrast=contrast,
        width=width,
        height=height,
        imagenet_x_factors=factors,
    )


def _json_value(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_json_value(item) for item in value]
    return value


def evidence_as_json(evidence: triage.Evidence) -> dict[str, Any]:
    """Return the evidence fields as plain JSON values, tuples as lists."""
    return {
        field.name: _json_value(getattr(evidence, field.name))
        for field in dataclasses.fields(evidence)
    }


def suggestion_row(image_id: str, evidence: triage.Evidence) -> SuggestionRow:
    """Suggest a category for a failure's evidence, as the row to store."""
    suggestion = triage.suggest(evidence)
    return SuggestionRow(
        image_id=image_id,
        category=suggestion.category,
        confidence=suggestion.confidence,
        decided_by=[
            [name, _json_value(value)] for name, value in suggestion.decided_by
        ],
        evidence=evidence_as_json(evidence),
    )


@dataclass(frozen=True)
class AnalysisOutcome:
    """Counts from analysing one chunk of failures."""

    suggested: int
    inserted: int
    unreadable_images: int
    analysis_done: bool


def start_analysis(
    repository: Repository,
    suggestion_repository: SuggestionRepository,
    job_id: int,
    chunk_size: int = ANALYSIS_CHUNK_SIZE,
) -> list[list[str]]:
    """Mark a job's analysis running and split its unsuggested failures into chunks.

    A job whose analysis is done gets no chunks. A job whose failures all have
    a suggestion, including a job with no failures, is marked done at once.
    Raises NotFoundError for an unknown job.
    """
    job = repository.get_job(job_id)
    if job.analysis_state == "done":
        logger.info("job %d: analysis already done", job_id)
        return []
    repository.update_analysis_state(job_id, "running", expected=("pending",))
    pending = suggestion_repository.unsuggested_image_ids(job_id)
    if not pending:
        repository.update_analysis_state(
            job_id, "done", expected=("pending", "running")
        )
        logger.info("job %d: analysis done, no failures left to analyse", job_id)
        return []
    chunks = [
        list(pending[begin : begin + chunk_size])
        for begin in range(0, len(pending), chunk_size)
    ]
    logger.info(
        "job %d: analysing %d failures in %d chunks", job_id, len(pending), len(chunks)
    )
    return chunks


def analyse_chunk(
    repository: Repository,
    suggestion_repository: SuggestionRepository,
    settings: Settings,
    job_id: int,
    image_ids: Sequence[str],
) -> AnalysisOutcome:
    """Suggest categories for failures of a job and store them.

    Ids that are not failures of the job are skipped. After storing, the job's
    analysis moves to done when every failure has a suggestion. That check runs
    after this chunk's transaction commits, so when chunks finish together the
    last check counts every chunk's rows, and the conditional update moves the
    state only once.
    """
    failures = suggestion_repository.failures_by_image_id(job_id, image_ids)
    rows = []
    unreadable = 0
    for image_id in image_ids:
        failure = failures.get(image_id)
        if failure is None:
            continue
        quality = measure_failure_image(settings, image_id)
        unreadable += quality is None
        rows.append(suggestion_row(image_id, build_evidence(failure, quality)))
    inserted = suggestion_repository.upsert_suggestions(job_id, rows)
    if unreadable:
        logger.warning(
            "job %d: %d of %d failures had no readable image file",
            job_id,
            unreadable,
            len(rows),
        )
    done = finish_analysis_if_complete(repository, suggestion_repository, job_id)
    return AnalysisOutcome(
        suggested=len(rows),
        inserted=inserted,
        unreadable_images=unreadable,
        analysis_done=done,
    )


def finish_analysis_if_complete(
    repository: Repository, suggestion_repository: SuggestionRepository, job_id: int
) -> bool:
    """Mark a job's analysis done if every failure has a suggestion.

    Returns whether the analysis is done, also when another chunk marked it.
    """
    if suggestion_repository.unsuggested_image_ids(job_id):
        return False
    if repository.update_analysis_state(
        job_id, "done", expected=("pending", "running")
    ):
        logger.info("job %d: analysis done", job_id)
    return True
