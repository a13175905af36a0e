"""Evaluate the ensemble in one process, without Redis, workers or a database.

This runs the same decoding, preprocessing and inference as a job, so its
metrics can be compared with those a job stores.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from services import datasets
from services.config import Settings
from services.ensemble import Ensemble
from services.errors import InvalidFieldError
from services.jobs import CRITERIA, predict_images
from services.storage.repositories import PredictionRow


@dataclass
class MetricsAccumulator:
    """Running counts for the metrics a finished job reports."""

    criterion: str = "top1"
    evaluated: int = 0
    top1_failures: int = 0
    top5_failures: int = 0
    real_evaluated: int = 0
    real_correct: int = 0
    member_failures: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def add(self, row: PredictionRow, ref: datasets.ImageRef) -> None:
        """Count one image's prediction; images without a ground truth are skipped."""
        truth = ref.ground_truth
        if truth is None:
            return
        self.evaluated += 1
        self.top1_failures += int(row.top5[0] != truth)
        self.top5_failures += int(truth not in row.top5)
        if ref.real_labels:
            self.real_evaluated += 1
            self.real_correct += int(row.top5[0] in ref.real_labels)
        for name, member in row.members.items():
            self.member_failures[name] += int(member.top1 != truth)

    def metrics(self) -> dict[str, Any]:
        """Return the metrics in the shape a job stores them."""
        n = self.evaluated
        return {
            "images": n,
            "top1_error": self.top1_failures / n if n else None,
            "top5_error": self.top5_failures / n if n else None,
            "real_images": self.real_evaluated,
            "real_top1_accuracy": (
                self.real_correct / self.real_evaluated if self.real_evaluated else None
            ),
            "members": {
                name: {"top1_error": count / n}
                for name, count in sorted(self.member_failures.items())
            },
            "failures": (
                self.top1_failures if self.criterion == "top1" else self.top5_failures
            ),
        }


@dataclass(frozen=True)
class Evaluation:
    """The outcome of a local evaluation."""

    metrics: dict[str, Any]
    total: int
    missing: int
    errors: dict[str, str]


def resolve_refs(
    settings: Settings,
    dataset: str,
    start: int | None,
    stop: int | None,
    path: str | None,
) -> tuple[list[datasets.ImageRef], int, int]:
    """Return a dataset's image refs, the size of the request and the missing count."""
    if dataset == "imagenet-val":
        if start is None or stop is None:
            raise InvalidFieldError("start", "give --start and --stop for imagenet-val")
        found = datasets.resolve_imagenet_val(settings.imagenet_val_dir, start, stop)
        return found.refs, stop - start + 1, len(found.missing)
    if dataset == "folder":
        if not path:
            raise InvalidFieldError("path", "give --path for a folder dataset")
        refs = datasets.resolve_folder(settings.dataset_roots, path)
        return refs, len(refs), 0
    raise InvalidFieldError(
        "dataset", f"unknown dataset {dataset!r}; use imagenet-val or folder"
    )


def evaluate(
    ensemble: Ensemble,
    settings: Settings,
    refs: Sequence[datasets.ImageRef],
    *,
    criterion: str = "top1",
    total: int | None = None,
    missing: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> Evaluation:
    """Predict every image in ``refs`` and return the job metrics for them."""
    if criterion not in CRITERIA:
        raise InvalidFieldError("criterion", f"unknown criterion {criterion!r}")
    accumulator = MetricsAccumulator(criterion=criterion)
    by_id = {ref.image_id: ref for ref in refs}
    errors: dict[str, str] = {}
    step = max(settings.chunk_size, settings.batch_size)
    ids = [ref.image_id for ref in refs]
    done = 0
    for begin in range(0, len(ids), step):
        rows, chunk_errors = predict_images(
            ensemble, settings, ids[begin : begin + step]
        )
        errors.update(chunk_errors)
        for row in rows:
            accumulator.add(row, by_id[row.image_id])
        done += len(rows) + len(chunk_errors)
        if progress is not None:
            progress(done, len(ids))
    return Evaluation(
        metrics=accumulator.metrics(),
        total=len(refs) if total is None else total,
        missing=missing,
        errors=errors,
    )


def with_batch_size(settings: Settings, batch_size: int | None) -> Settings:
    """Return ``settings`` with another inference batch size, if one is given."""
    return settings if batch_size is None else replace(settings, batch_size=batch_size)
