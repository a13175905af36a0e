"""The statistics report of a job's annotated failures.

The distribution counts every current (not retracted) annotation once. A
failure that two annotators labelled therefore adds two labels, so the total is
the number of annotations, not of failures. ``failures_annotated`` is the
number of distinct failures. Filtering by one annotator gives one label per
failure, which is how Lee, Agarwal and Kim's single observer counted their 400
failures, and is the fair input for the chi-square comparison with their counts.

Agreement covers the failures that every annotator in scope labelled. The
confusion pairs and the per-class failure rates always cover the whole job,
whatever sample or annotator is given.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from services import labels
from services.errors import InvalidFieldError
from services.jobs import require_job
from services.stats import (
    AgreementReport,
    CategoryDistribution,
    ChiSquareResult,
    agreement_report,
    category_distribution,
    chi_square_vs_paper,
    to_csv,
    to_markdown,
    to_text_table,
)
from services.storage.annotation_repository import AnnotationRepository
from services.storage.repositories import Job, Repository

logger = logging.getLogger(__name__)

# Counting rule of the distribution, as the report states it.
COUNTING_RULE = (
    "each current annotation counts once, so a failure labelled by several "
    "annotators counts once per annotator; filter by annotator for one label "
    "per failure"
)
DEFAULT_CONFUSION_PAIRS = 10
TABLE_FORMATS = ("text", "csv", "md")


@dataclass(frozen=True)
class ClassFailureRate:
    """Failures of one ground-truth class among the job's images of that class."""

    ground_truth: int
    images: int
    failures: int
    rate: float


@dataclass(frozen=True)
class ConfusionCount:
    """A ground-truth class, the class predicted in its place, and how often."""

    ground_truth: int
    predicted_class: int
    count: int


@dataclass(frozen=True)
class StatsReport:
    """Distribution, agreement, confusions and class failure rates of one scope."""

    job: Job
    sample_id: int | None
    annotator: str | None
    distribution: CategoryDistribution
    failures_annotated: int
    # None when no annotation is in scope, because the test needs a total.
    paper_comparison: ChiSquareResult | None
    agreement: AgreementReport
    confusion_pairs: list[ConfusionCount]
    class_failure_rates: list[ClassFailureRate]
    # The distribution of automatic category suggestions, filled in by the
    # suggestion feature; None until it provides one.
    suggested: dict[str, Any] | None = field(default=None)

    def as_dict(self) -> dict[str, Any]:
        """Return the report as the API shows it."""
        comparison = None
        if self.paper_comparison is not None:
            comparison = {
                "statistic": self.paper_comparison.statistic,
                "degrees_of_freedom": self.paper_comparison.degrees_of_freedom,
                "p_value": self.paper_comparison.p_value,
                "total": self.paper_comparison.total,
                "expected": dict(self.paper_comparison.expected),
            }
        return {
            "job": self.job.id,
            "sample": self.sample_id,
            "annotator": self.annotator,
            "criterion": self.job.criterion,
            "counting": COUNTING_RULE,
            "failures_annotated": self.failures_annotated,
            **self.distribution.as_dict(),
            "paper_comparison": comparison,
            "agreement": self.agreement.as_dict(),
            "confusion_pairs": [
                {
                    "ground_truth": class_view(pair.ground_truth),
                    "predicted_class": class_view(pair.predicted_class),
                    "count": pair.count,
                }
                for pair in self.confusion_pairs
            ],
            "class_failure_rates": [
                {
                    "ground_truth": class_view(row.ground_truth),
                    "images": row.images,
                    "failures": row.failures,
                    "rate": row.rate,
                }
                for row in self.class_failure_rates
            ],
            "suggested": self.suggested,
        }


def class_view(index: int) -> dict[str, Any]:
    """Return a class as its index, WordNet id and name."""
    return {
        "class_index": index,
        "wnid": labels.wnid(index),
        "name": labels.class_name(index),
    }


def _resolve_scope(
    repository: Repository,
    annotation_repository: AnnotationRepository,
    job_id: int | None,
    sample_id: int | None,
) -> tuple[Job, list[str] | None]:
    if job_id is None and sample_id is None:
        raise InvalidFieldError("job", "give a job id (job=) or a sample id (sample=)")
    sample = None
    if sample_id is not None:
        sample = annotation_repository.get_sample(sample_id)
        if job_id is not None and sample.job_id != job_id:
            raise InvalidFieldError(
                "sample",
                f"sample {sample_id} belongs to job {sample.job_id}, not job "
                f"{job_id}; drop job= or pass job={sample.job_id}",
            )
        job_id = sample.job_id
    assert job_id is not None
    job = require_job(repository, job_id)
    image_ids = None if sample is None else [item.image_id for item in sample.items]
    return job, image_ids


def class_failure_rates(
    annotation_repository: AnnotationRepository, job: Job
) -> list[ClassFailureRate]:
    """Return each ground-truth class's failure rate in the job, highest first.

    Ties are ordered by more failures first, then by class index.
    """
    rows = [
        ClassFailureRate(
            row.ground_truth, row.images, row.failures, row.failures / row.images
        )
        for row in annotation_repository.class_failure_counts(job.id, job.criterion)
    ]
    rows.sort(key=lambda row: (-row.rate, -row.failures, row.ground_truth))
    return rows


def build_report(
    repository: Repository,
    annotation_repository: AnnotationRepository,
    *,
    job_id: int | None = None,
    sample_id: int | None = None,
    annotator: str | None = None,
    confusion_limit: int = DEFAULT_CONFUSION_PAIRS,
) -> StatsReport:
    """Compute the statistics of a job's or a sample's current annotations.

    A sample restricts the annotations to its images; ``job_id`` may then be
    omitted. Raises NotFoundError for an unknown job or sample, and
    InvalidFieldError when neither is given or the sample is of another job.
    """
    job, image_ids = _resolve_scope(
        repository, annotation_repository, job_id, sample_id
    )
    current = annotation_repository.current_labels(
        job.id, annotator=annotator, image_ids=image_ids
    )

    distribution = category_distribution(label.category for label in current)
    by_failure: dict[str, dict[str, str]] = defaultdict(dict)
    for label in current:
        by_failure[label.image_id][label.annotator] = label.category
    comparison = None
    if distribution.total:
        comparison = chi_square_vs_paper(
            {row.category.key: row.count for row in distribution.rows}
        )

    confusions = [
        ConfusionCount(gt, predicted, count)
        for gt, predicted, count in annotation_repository.confusion_rows(
            job.id, job.criterion
        )[:confusion_limit]
    ]
    return StatsReport(
        job=job,
        sample_id=sample_id,
        annotator=annotator,
        distribution=distribution,
        failures_annotated=len(by_failure),
        paper_comparison=comparison,
        agreement=agreement_report(by_failure),
        confusion_pairs=confusions,
        class_failure_rates=class_failure_rates(annotation_repository, job),
    )


def render_table(report: StatsReport, table_format: str) -> str:
    """Render the per-category table as text, CSV or Markdown.

    The text format adds the chi-square comparison and the agreement below the
    table. Raises InvalidFieldError for another format.
    """
    if table_format == "csv":
        return to_csv(report.distribution)
    if table_format == "md":
        return to_markdown(report.distribution)
    if table_format != "text":
        raise InvalidFieldError(
            "format",
            f"unknown format {table_format!r}; use one of {', '.join(TABLE_FORMATS)}",
        )
    lines = [to_text_table(report.distribution).rstrip("\n")]
    lines.append(f"failures annotated: {report.failures_annotated}")
    if report.paper_comparison is not None:
        comparison = report.paper_comparison
        lines.append(
            f"chi-square vs Lee, Agarwal and Kim: {comparison.statistic:.4f} "
            f"(df {comparison.degrees_of_freedom}, p = {comparison.p_value:.4g})"
        )
    agreement = report.agreement
    if agreement.method is None:
        lines.append("agreement: needs two or more annotators")
    else:
        kappa = "n/a" if agreement.kappa is None else f"{agreement.kappa:.4f}"
        lines.append(
            f"agreement ({agreement.method} kappa, {len(agreement.annotators)} "
            f"annotators, {agreement.shared_items} shared failures): {kappa}"
        )
    return "\n".join(lines) + "\n"
