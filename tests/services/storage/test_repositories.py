"""Tests of the repositories on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from services.errors import InvalidFieldError, NotFoundError
from services.storage.engine import make_engine, normalize_url, upgrade_database
from services.storage.repositories import (
    ImageRow,
    JobCounts,
    MemberPrediction,
    PredictionRow,
    Repository,
)
from services.storage.tables import chunk_runs, image_errors, images, predictions

T = TypeVar("T")
ENSEMBLE = "e" * 64


def _image(
    index: int, ground_truth: int | None = 0, real: list[int] | None = None
) -> ImageRow:
    key = f"ILSVRC2012_val_{index:08d}"
    return ImageRow(
        image_id=f"imagenet-val:{key}",
        dataset="imagenet-val",
        key=key,
        ground_truth=ground_truth,
        real_labels=real,
    )


def _prediction(
    image: ImageRow,
    top5: list[int],
    members: dict[str, int] | None = None,
) -> PredictionRow:
    gt = image.ground_truth
    if gt is None:
        rank = None
    elif gt in top5:
        rank = top5.index(gt) + 1
    else:
        rank = 17
    return PredictionRow(
        image_id=image.image_id,
        top5=top5,
        top5_probabilities=[0.5, 0.2, 0.1, 0.05, 0.05][: len(top5)],
        gt_probability=None if gt is None else 0.01,
        gt_rank=rank,
        members={
            name: MemberPrediction(
                top1=top1,
                top1_probability=0.6,
                gt_probability=None if gt is None else 0.1,
                ensemble_top1_probability=0.4,
            )
            for name, top1 in (members or {"lite0": top5[0]}).items()
        },
        entropy=1.25,
        ensemble_id=ENSEMBLE,
    )


def _count(engine: Engine, table: sa.Table) -> int:
    with engine.connect() as connection:
        return connection.execute(
            sa.select(sa.func.count()).select_from(table)
        ).scalar_one()


def _run_in_threads(count: int, work: Callable[[int], T]) -> list[T]:
    """Run ``work(i)`` in ``count`` threads released together by a barrier."""
    barrier = threading.Barrier(count)
    results: dict[int, T] = {}
    failures: list[BaseException] = []

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = work(index)
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]
    return [results[index] for index in range(count)]


# Jobs


def test_create_and_get_job(repository: Repository) -> None:
    created = repository.create_job(
        dataset="imagenet-val", start=1, stop=100, criterion="top5", total=100
    )
    job = repository.get_job(created.id)
    assert job == created
    assert job.state == "queued"
    assert job.analysis_state == "pending"
    assert job.criterion == "top5"
    assert job.created_at.tzinfo is not None


def test_get_unknown_job(repository: Repository) -> None:
    with pytest.raises(NotFoundError):
        repository.get_job(12345)


def test_create_job_invalid_criterion(repository: Repository) -> None:
    with pytest.raises(InvalidFieldError) as raised:
        repository.create_job(dataset="imagenet-val", criterion="top3")
    assert raised.value.field == "criterion"


def test_list_jobs_newest_first(repository: Repository) -> None:
    ids = [repository.create_job(dataset="folder", path=f"p{i}").id for i in range(5)]
    first = repository.list_jobs(page=1, per_page=2)
    last = repository.list_jobs(page=3, per_page=2)
    assert [job.id for job in first.items] == [ids[4], ids[3]]
    assert [job.id for job in last.items] == [ids[0]]
    assert first.total == 5


@pytest.mark.parametrize(
    ("page", "per_page", "field"),
    [(0, 10, "page"), (1, 0, "per_page"), (1, 501, "per_page")],
)
def test_list_jobs_invalid_page(
    repository: Repository, page: int, per_page: int, field: str
) -> None:
    with pytest.raises(InvalidFieldError) as raised:
        repository.list_jobs(page=page, per_page=per_page)
    assert raised.value.field == field


def test_job_state_transitions(repository: Repository) -> None:
    job_id = repository.create_job(dataset="imagenet-val", start=1, stop=2).id
    assert repository.update_job_state(job_id, "running", ensemble_id=ENSEMBLE)
    running = repository.get_job(job_id)
    assert running.started_at is not None
    assert running.ensemble_id == ENSEMBLE
    assert repository.update_job_state(job_id, "done", expected={"running"})
    done = repository.get_job(job_id)
    assert done.finished_at is not None
    assert done.started_at == running.started_at


def test_job_state_guard_keeps_cancelled(repository: Repository) -> None:
    job_id = repository.create_job(dataset="imagenet-val", start=1, stop=2).id
    assert repository.update_job_state(job_id, "cancelled", expected={"queued"})
    moved = repository.update_job_state(job_id, "running", expected={"queued"})
    assert moved is False
    assert repository.get_job(job_id).state == "cancelled"


def test_job_failure_records_error(repository: Repository) -> None:
    job_id = repository.create_job(dataset="imagenet-val", start=1, stop=2).id
    repository.update_job_state(job_id, "failed", error="model file missing")
    assert repository.get_job(job_id).error == "model file missing"


def test_job_state_unknown_job(repository: Repository) -> None:
    with pytest.raises(NotFoundError):
        repository.update_job_state(999, "running")


def test_job_state_invalid_value(repository: Repository) -> None:
    job_id = repository.create_job(dataset="imagenet-val", start=1, stop=2).id
    with pytest.raises(InvalidFieldError):
        repository.update_job_state(job_id, "paused")


def test_analysis_state_and_metrics(repository: Repository) -> None:
    job_id = repository.create_job(dataset="imagenet-val", start=1, stop=2).id
    assert repository.update_analysis_state(job_id, "running", expected={"pending"})
    assert not repository.update_analysis_state(job_id, "running", expected={"pending"})
    repository.save_metrics(job_id, {"top1_error": 0.25, "members": {}})
    job = repository.get_job(job_id)
    assert job.analysis_state == "running"
    assert job.metrics == {"top1_error": 0.25, "members": {}}


def test_update_job_plan(repository: Repository) -> None:
    job_id = repository.create_job(dataset="imagenet-val", start=1, stop=50).id
    job = repository.update_job_plan(job_id, total=50, missing=8, chunks_total=1)
    assert (job.total, job.missing, job.chunks_total) == (50, 8, 1)


# Idempotent writes


def test_upsert_images_twice_gives_one_row(
    repository: Repository, engine: Engine
) -> None:
    rows = [_image(1, 65, [65]), _image(2, 3, [])]
    repository.upsert_images(rows)
    repository.upsert_images(rows)
    assert _count(engine, images) == 2


def test_upsert_images_fills_unknown_size(
    repository: Repository, engine: Engine
) -> None:
    repository.upsert_images([_image(1)])
    sized = ImageRow(
        "imagenet-val:ILSVRC2012_val_00000001",
        "imagenet-val",
        "ILSVRC2012_val_00000001",
        0,
        None,
        width=500,
        height=375,
    )
    repository.upsert_images([sized])
    resized = ImageRow(sized.image_id, sized.dataset, sized.key, 0, None, 1, 1)
    repository.upsert_images([resized])
    with engine.connect() as connection:
        size = connection.execute(sa.select(images.c.width, images.c.height)).one()
    assert tuple(size) == (500, 375)


def test_upsert_predictions_twice_gives_one_row(
    repository: Repository, engine: Engine
) -> None:
    job_id = repository.create_job(dataset="imagenet-val", start=1, stop=2).id
    image = _image(1, 0)
    repository.upsert_images([image])
    rows = [_prediction(image, [0, 1, 2, 3, 4])]
    assert repository.upsert_predictions(job_id, rows) == 1
    assert repository.upsert_predictions(job_id, rows) == 0
    assert _count(engine, predictions) == 1


def test_redelivered_prediction_keeps_first(repository: Repository) -> None:
    job_id = repository.create_job(dataset="imagenet-val", start=1, stop=2).id
    image = _image(1, 0)
    repository.upsert_images([image])
    repository.upsert_predictions(job_id, [_prediction(image, [0, 1, 2, 3, 4])])
    repository.upsert_predictions(job_id, [_prediction(image, [9, 1, 2, 3, 4])])
    assert repository.list_failures(job_id).total == 0


def test_same_image_in_two_jobs(repository: Repository, engine: Engine) -> None:
    image = _image(1, 0)
    repository.upsert_images([image])
    for _ in range(2):
        job_id = repository.create_job(dataset="imagenet-val", start=1, stop=1).id
        repository.upsert_predictions(job_id, [_prediction(image, [0, 1, 2, 3, 4])])
    assert _count(engine, predictions) == 2


def test_prediction_for_unstored_image(repository: Repository) -> None:
    job_id = repository.create_job(dataset="imagenet-val", start=1, stop=2).id
    with pytest.raises(ValueError, match="upsert the images"):
        repository.upsert_predictions(job_id, [_prediction(_image(1), [0, 1])])


def test_prediction_with_contradicting_rank(repository: Repository) -> None:
    job_id = repository.create_job(dataset="imagenet-val", start=1, stop=2).id
    image = _image(1, 2)
    repository.upsert_images([image])
    row = _prediction(image, [0, 1, 2, 3, 4])
    wrong = PredictionRow(**{**row.__dict__, "gt_rank": 1})
    with pytest.raises(ValueError, match="gt_rank"):
        repository.upsert_predictions(job_id, [wrong])


def test_image_errors_twice_give_one_row(
    repository: Repository, engine: Engine
) -> None:
    job_id = repository.create_job(dataset="imagenet-val", start=1, stop=2).id
    repository.upsert_images([_image(1)])
    errors = [("imagenet-val:ILSVRC2012_val_00000001", "truncated JPEG")]
    assert repository.record_image_errors(job_id, errors) == 1
    assert repository.record_image_errors(job_id, errors) == 0
    assert _count(engine, image_errors) == 1


def test_error_after_prediction_is_ignored(repository: Repository) -> None:
    job_id = repository.create_job(dataset="imagenet-val", start=1, stop=1).id
    image = _image(1, 0)
    repository.upsert_images([image])
    repository.upsert_predictions(job_id, [_prediction(image, [0, 1, 2, 3, 4])])
    inserted = repository.record_image_errors(job_id, [(image.image_id, "late")])
    assert inserted == 0
    assert repository.job_counts(job_id).done == 1


def test_prediction_after_error_is_ignored(repository: Repository) -> None:
    job_id = repository.create_job(dataset="imagenet-val", start=1, stop=1, total=1).id
    image = _image(1, 0)
    repository.upsert_images([image])
    repository.record_image_errors(job_id, [(image.image_id, "unreadable")])
    inserted = repository.upsert_predictions(
        job_id, [_prediction(image, [0, 1, 2, 3, 4])]
    )
    assert inserted == 0
    assert repository.job_counts(job_id) == JobCounts(1, 1, 1, 0)


def test_job_counts(repository: Repository) -> None:
    job_id = repository.create_job(
        dataset="imagenet-val", start=1, stop=10, total=10, missing=6
    ).id
    rows = [_image(index, 0) for index in (1, 2, 3, 4)]
    repository.upsert_images(rows)
    repository.upsert_predictions(
        job_id, [_prediction(row, [0, 1, 2, 3, 4]) for row in rows[:3]]
    )
    repository.record_image_errors(job_id, [(rows[3].image_id, "corrupt")])
    assert repository.job_counts(job_id) == JobCounts(
        total=10, done=4, failed=1, missing=6
    )


def test_job_counts_unknown_job(repository: Repository) -> None:
    with pytest.raises(NotFoundError):
        repository.job_counts(404)


# Chunks


def test_chunk_attempts_are_counted(repository: Repository) -> None:
    job_id = repository.create_job(dataset="imagenet-val", chunks_total=2).id
    assert repository.record_chunk_attempt(job_id, 0) == 1
    assert repository.record_chunk_attempt(job_id, 0) == 2
    assert repository.record_chunk_attempt(job_id, 1) == 1
    runs = repository.chunk_runs(job_id)
    assert [(run.chunk, run.attempts, run.done) for run in runs] == [
        (0, 2, False),
        (1, 1, False),
    ]


def test_chunk_attempt_unknown_job(repository: Repository) -> None:
    with pytest.raises(NotFoundError):
        repository.record_chunk_attempt(777, 0)


def test_mark_chunk_done_completes_job_once(repository: Repository) -> None:
    job_id = repository.create_job(dataset="imagenet-val", chunks_total=2).id
    assert repository.mark_chunk_done(job_id, 0) is False
    assert repository.mark_chunk_done(job_id, 0) is False
    assert repository.mark_chunk_done(job_id, 1) is True
    assert repository.mark_chunk_done(job_id, 1) is False
    assert repository.get_job(job_id).chunks_done == 2


def test_mark_chunk_done_unknown_job(repository: Repository) -> None:
    with pytest.raises(NotFoundError):
        repository.mark_chunk_done(777, 0)


def test_concurrent_chunks_complete_job_once(
    repository: Repository, engine: Engine
) -> None:
    chunks = 12
    job_id = repository.create_job(dataset="imagenet-val", chunks_total=chunks).id
    for chunk in range(chunks):
        repository.record_chunk_attempt(job_id, chunk)
    results = _run_in_threads(
        chunks, lambda chunk: repository.mark_chunk_done(job_id, chunk)
    )
    assert results.count(True) == 1
    assert repository.get_job(job_id).chunks_done == chunks
    assert all(run.done for run in repository.chunk_runs(job_id))


def test_concurrent_redelivery_counts_chunk_once(repository: Repository) -> None:
    job_id = repository.create_job(dataset="imagenet-val", chunks_total=1).id
    results = _run_in_threads(8, lambda _: repository.mark_chunk_done(job_id, 0))
    assert results.count(True) == 1
    assert repository.get_job(job_id).chunks_done == 1


def test_concurrent_attempts_are_all_counted(repository: Repository) -> None:
    job_id = repository.create_job(dataset="imagenet-val", chunks_total=1).id
    _run_in_threads(8, lambda _: repository.record_chunk_attempt(job_id, 0))
    assert repository.chunk_runs(job_id)[0].attempts == 8


def test_concurrent_prediction_redelivery(
    repository: Repository, engine: Engine
) -> None:
    job_id = repository.create_job(dataset="imagenet-val", chunks_total=1).id
    rows = [_image(index, 0) for index in range(1, 9)]
    repository.upsert_images(rows)
    batch = [_prediction(row, [0, 1, 2, 3, 4]) for row in rows]
    inserted = _run_in_threads(
        4, lambda _: repository.upsert_predictions(job_id, batch)
    )
    assert sum(inserted) == 8
    assert _count(engine, predictions) == 8


# Failures and metrics


@pytest.fixture
def scored_job(repository: Repository) -> int:
    """A top1 job over six images with known outcomes."""
    job_id = repository.create_job(dataset="imagenet-val", start=1, stop=6).id
    correct = _image(1, 10, [10])
    top5_hit = _image(2, 11, [11, 20])
    top5_miss = _image(3, 12, [])
    other_gt = _image(4, 13, [30])
    no_gt = _image(5, None, None)
    real_hit = _image(6, 14, [40, 14])
    repository.upsert_images([correct, top5_hit, top5_miss, other_gt, no_gt, real_hit])
    repository.upsert_predictions(
        job_id,
        [
            _prediction(correct, [10, 1, 2, 3, 4], {"lite0": 10, "lite1": 10}),
            _prediction(top5_hit, [20, 11, 2, 3, 4], {"lite0": 11, "lite1": 20}),
            _prediction(top5_miss, [20, 1, 2, 3, 4], {"lite0": 20, "lite1": 20}),
            _prediction(other_gt, [30, 13, 2, 3, 4], {"lite0": 30, "lite1": 13}),
            _prediction(no_gt, [50, 1, 2, 3, 4], {"lite0": 50, "lite1": 50}),
            _prediction(real_hit, [40, 1, 2, 3, 4], {"lite0": 14, "lite1": 40}),
        ],
    )
    return job_id


def test_top1_failures(repository: Repository, scored_job: int) -> None:
    page = repository.list_failures(scored_job)
    assert [item.key[-1] for item in page.items] == ["2", "3", "4", "6"]
    assert page.total == 4


def test_top5_failures(repository: Repository, scored_job: int) -> None:
    page = repository.list_failures(scored_job, criterion="top5")
    assert [item.key[-1] for item in page.items] == ["3", "6"]


def test_failure_fields(repository: Repository, scored_job: int) -> None:
    item = repository.list_failures(scored_job, ground_truth=12).items[0]
    assert item.image_id == "imagenet-val:ILSVRC2012_val_00000003"
    assert item.ground_truth == 12
    assert item.predicted_class == 20
    assert item.top5 == [20, 1, 2, 3, 4]
    assert item.gt_rank == 17
    assert item.real_labels == []
    assert item.members["lite1"].top1 == 20
    assert item.ensemble_id == ENSEMBLE


def test_failures_filtered_by_predicted_class(
    repository: Repository, scored_job: int
) -> None:
    page = repository.list_failures(scored_job, predicted_class=20)
    assert [item.ground_truth for item in page.items] == [11, 12]


def test_failures_filtered_by_both(repository: Repository, scored_job: int) -> None:
    page = repository.list_failures(scored_job, ground_truth=11, predicted_class=20)
    assert page.total == 1


def test_failures_paginate(repository: Repository, scored_job: int) -> None:
    second = repository.list_failures(scored_job, page=2, per_page=3)
    assert [item.key[-1] for item in second.items] == ["6"]
    assert (second.page, second.per_page, second.total) == (2, 3, 4)


def test_failures_follow_job_criterion(repository: Repository) -> None:
    job_id = repository.create_job(dataset="imagenet-val", criterion="top5").id
    image = _image(1, 11)
    repository.upsert_images([image])
    repository.upsert_predictions(job_id, [_prediction(image, [20, 11, 2, 3, 4])])
    assert repository.list_failures(job_id).total == 0
    assert repository.list_failures(job_id, criterion="top1").total == 1


def test_failures_of_unknown_job(repository: Repository) -> None:
    with pytest.raises(NotFoundError):
        repository.list_failures(404)


def test_compute_metrics(repository: Repository, scored_job: int) -> None:
    metrics = repository.compute_metrics(scored_job)
    assert metrics["images"] == 5
    assert metrics["top1_error"] == pytest.approx(4 / 5)
    assert metrics["top5_error"] == pytest.approx(2 / 5)
    # ReaL lists: [10] hit, [11, 20] hit, [] skipped, [30] hit, [40, 14] hit.
    assert metrics["real_images"] == 4
    assert metrics["real_top1_accuracy"] == pytest.approx(1.0)
    # lite0 misses images 3 and 4, lite1 misses images 2, 3 and 6.
    assert sorted(metrics["members"]) == ["lite0", "lite1"]
    assert metrics["members"]["lite0"]["top1_error"] == pytest.approx(2 / 5)
    assert metrics["members"]["lite1"]["top1_error"] == pytest.approx(3 / 5)
    assert metrics["failures"] == 4


def test_compute_metrics_real_misses(repository: Repository) -> None:
    job_id = repository.create_job(dataset="imagenet-val").id
    image = _image(1, 5, [6, 7])
    repository.upsert_images([image])
    repository.upsert_predictions(job_id, [_prediction(image, [5, 1, 2, 3, 4])])
    assert repository.compute_metrics(job_id)["real_top1_accuracy"] == 0.0


def test_compute_metrics_of_empty_job(repository: Repository) -> None:
    job_id = repository.create_job(dataset="folder", path="x").id
    metrics = repository.compute_metrics(job_id)
    assert metrics["top1_error"] is None
    assert metrics["real_top1_accuracy"] is None
    assert metrics["failures"] == 0


# Engine


def test_plain_postgresql_url_uses_psycopg() -> None:
    url = normalize_url("postgresql://postgres@127.0.0.1:5432/failcat")
    assert url.drivername == "postgresql+psycopg"


def test_sqlite_url_is_unchanged() -> None:
    assert normalize_url("sqlite:///x.db").drivername == "sqlite"


def test_sqlite_connection_settings(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'settings.db'}"
    upgrade_database(url)
    engine = make_engine(url)
    with engine.connect() as connection:
        journal = connection.exec_driver_sql("PRAGMA journal_mode").scalar_one()
        foreign_keys = connection.exec_driver_sql("PRAGMA foreign_keys").scalar_one()
        busy = connection.exec_driver_sql("PRAGMA busy_timeout").scalar_one()
    engine.dispose()
    assert journal == "wal"
    assert foreign_keys == 1
    assert busy > 0


def test_foreign_keys_are_enforced(engine: Engine) -> None:
    with pytest.raises(sa.exc.IntegrityError):
        with engine.begin() as connection:
            connection.execute(sa.insert(chunk_runs).values(job_id=999, chunk=0))
