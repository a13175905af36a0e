"""Annotations and samples through the services, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TypeVar

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from services import annotations, samples
from services.categories import category_by_id
from services.errors import ConflictError, InvalidFieldError, NotFoundError
from services.storage.annotation_repository import AnnotationRepository
from services.storage.repositories import (
    ImageRow,
    Job,
    MemberPrediction,
    PredictionRow,
    Repository,
)
from services.storage.tables import annotation_events, jobs
from services.storage.tables import annotations as annotations_table

T = TypeVar("T")
ENSEMBLE = "e" * 64
MAX_NOTE = 2000


def image_id(index: int) -> str:
    return f"imagenet-val:ILSVRC2012_val_{index:08d}"


def _prediction(image: ImageRow, predicted: int) -> PredictionRow:
    gt = image.ground_truth
    assert gt is not None
    others = [c for c in range(900, 910) if c not in (gt, predicted)]
    top5 = [predicted, *others[:4]] if predicted == gt else [predicted, gt, *others[:3]]
    return PredictionRow(
        image_id=image.image_id,
        top5=top5,
        top5_probabilities=[0.5, 0.2, 0.1, 0.05, 0.05],
        gt_probability=0.5 if predicted == gt else 0.2,
        gt_rank=1 if predicted == gt else 2,
        members={
            "lite0": MemberPrediction(
                top1=predicted,
                top1_probability=0.5,
                gt_probability=0.2,
                ensemble_top1_probability=0.5,
            )
        },
        entropy=1.0,
        ensemble_id=ENSEMBLE,
    )


def make_job(
    repository: Repository,
    pairs: Sequence[tuple[int, int]],
    *,
    state: str = "done",
    first_index: int = 1,
) -> Job:
    """Store a job whose images have these (ground truth, predicted class) pairs.

    Image i of the list gets validation index first_index + i. A pair whose
    classes differ is a top-1 failure.
    """
    rows = [
        ImageRow(
            image_id=image_id(first_index + i),
            dataset="imagenet-val",
            key=image_id(first_index + i).split(":", 1)[1],
            ground_truth=gt,
            real_labels=None,
        )
        for i, (gt, _) in enumerate(pairs)
    ]
    repository.upsert_images(rows)
    job = repository.create_job(
        dataset="imagenet-val",
        start=first_index,
        stop=first_index + len(pairs) - 1,
        total=len(pairs),
    )
    repository.upsert_predictions(
        job.id,
        [
            _prediction(row, predicted)
            for row, (_, predicted) in zip(rows, pairs, strict=True)
        ],
    )
    if state != "queued":
        repository.update_job_state(job.id, state)
    return repository.get_job(job.id)


def failure_pairs(count: int) -> list[tuple[int, int]]:
    """Return ``count`` failures spread over seven ground-truth classes."""
    return [(i % 7, (i % 7) + 1) for i in range(count)]


def run_in_threads(count: int, work: Callable[[int], T]) -> list[T]:
    """Run ``work(i)`` in ``count`` threads released together by a barrier."""
    barrier = threading.Barrier(count)
    results: dict[int, T] = {}
    errors: list[BaseException] = []

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = work(index)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return [results[index] for index in range(count)]


@pytest.fixture
def annotation_repository(engine: Engine) -> AnnotationRepository:
    return AnnotationRepository(engine)


@pytest.fixture
def job(repository: Repository) -> Job:
    # Ten failures (images 1 to 10) and two correct images (11 and 12).
    return make_job(repository, [*failure_pairs(10), (3, 3), (4, 4)])


def _record(
    repository: Repository,
    annotation_repository: AnnotationRepository,
    job: Job,
    index: int,
    annotator: str,
    category: object,
    note: str | None = None,
) -> annotations.RecordOutcome:
    return annotations.record_annotation(
        repository,
        annotation_repository,
        job_id=job.id,
        image_id=image_id(index),
        annotator=annotator,
        category=category,
        note=note,
        max_note_chars=MAX_NOTE,
    )


# Recording, changing and retracting


def test_first_annotation_created(repository, annotation_repository, job):
    outcome = _record(
        repository, annotation_repository, job, 1, "alice", "incorrect_gt"
    )
    stored = annotation_repository.get_annotation(
        outcome.annotation.id, with_events=True
    )
    assert outcome.action == "created"
    assert stored.version == 1
    assert stored.category == "incorrect_gt"
    assert stored.annotator == "alice"
    assert stored.retracted_at is None
    assert stored.created_at.tzinfo is not None
    assert [(e.version, e.action) for e in stored.events] == [(1, "created")]


def test_category_by_id_stored_as_key(repository, annotation_repository, job):
    outcome = _record(repository, annotation_repository, job, 1, "alice", 5)
    assert outcome.annotation.category == "incorrect_pc"


def test_second_post_changes_annotation(repository, annotation_repository, job):
    first = _record(repository, annotation_repository, job, 1, "alice", 1)
    second = _record(repository, annotation_repository, job, 1, "alice", 2, "blurred")
    stored = annotation_repository.get_annotation(first.annotation.id, with_events=True)
    assert second.action == "changed"
    assert second.annotation.id == first.annotation.id
    assert stored.version == 2
    assert stored.category == "not_salient_gt"
    assert stored.note == "blurred"
    assert [(e.version, e.action, e.category) for e in stored.events] == [
        (1, "created", "similar_labels"),
        (2, "changed", "not_salient_gt"),
    ]


def test_annotators_keep_separate_rows(repository, annotation_repository, job):
    alice = _record(repository, annotation_repository, job, 1, "alice", 1)
    bob = _record(repository, annotation_repository, job, 1, "bob", 3)
    assert alice.annotation.id != bob.annotation.id
    assert annotation_repository.get_annotation(alice.annotation.id).category == (
        "similar_labels"
    )
    assert bob.action == "created"


def test_update_by_owner(repository, annotation_repository, job):
    created = _record(repository, annotation_repository, job, 1, "alice", 1, "first")
    changed = annotations.update_annotation(
        annotation_repository,
        created.annotation.id,
        annotator="alice",
        changes={"category": "incorrect_gt"},
        max_note_chars=MAX_NOTE,
    )
    assert changed.version == 2
    assert changed.category == "incorrect_gt"
    assert changed.note == "first"


def test_update_clears_note(repository, annotation_repository, job):
    created = _record(repository, annotation_repository, job, 1, "alice", 1, "first")
    changed = annotations.update_annotation(
        annotation_repository,
        created.annotation.id,
        annotator="alice",
        changes={"note": None},
        max_note_chars=MAX_NOTE,
    )
    assert changed.note is None
    assert changed.category == "similar_labels"


def test_update_by_other_forbidden(repository, annotation_repository, job):
    created = _record(repository, annotation_repository, job, 1, "alice", 1)
    with pytest.raises(annotations.ForbiddenError) as raised:
        annotations.update_annotation(
            annotation_repository,
            created.annotation.id,
            annotator="bob",
            changes={"category": 2},
            max_note_chars=MAX_NOTE,
        )
    assert raised.value.status == 403
    assert annotation_repository.get_annotation(created.annotation.id).version == 1


def test_update_without_changes_rejected(repository, annotation_repository, job):
    created = _record(repository, annotation_repository, job, 1, "alice", 1)
    with pytest.raises(InvalidFieldError):
        annotations.update_annotation(
            annotation_repository,
            created.annotation.id,
            annotator="alice",
            changes={},
            max_note_chars=MAX_NOTE,
        )


def test_update_unknown_annotation(annotation_repository):
    with pytest.raises(NotFoundError):
        annotations.update_annotation(
            annotation_repository,
            999,
            annotator="alice",
            changes={"category": 1},
            max_note_chars=MAX_NOTE,
        )


def test_retract_and_revive(repository, annotation_repository, job):
    created = _record(repository, annotation_repository, job, 1, "alice", 1)
    retracted = annotations.retract_annotation(
        annotation_repository, created.annotation.id, annotator="alice"
    )
    again = annotations.retract_annotation(
        annotation_repository, created.annotation.id, annotator="alice"
    )
    revived = _record(repository, annotation_repository, job, 1, "alice", 4)
    stored = annotation_repository.get_annotation(
        created.annotation.id, with_events=True
    )
    assert retracted.retracted_at is not None
    assert again.version == retracted.version
    assert revived.action == "created"
    assert revived.annotation.id == created.annotation.id
    assert stored.retracted_at is None
    assert stored.category == "incorrect_gt"
    assert [(e.version, e.action) for e in stored.events] == [
        (1, "created"),
        (2, "retracted"),
        (3, "created"),
    ]


def test_retract_by_other_forbidden(repository, annotation_repository, job):
    created = _record(repository, annotation_repository, job, 1, "alice", 1)
    with pytest.raises(annotations.ForbiddenError):
        annotations.retract_annotation(
            annotation_repository, created.annotation.id, annotator="bob"
        )
    assert annotation_repository.get_annotation(created.annotation.id).retracted_at is (
        None
    )


def test_update_retracted_conflicts(repository, annotation_repository, job):
    created = _record(repository, annotation_repository, job, 1, "alice", 1)
    annotations.retract_annotation(
        annotation_repository, created.annotation.id, annotator="alice"
    )
    with pytest.raises(ConflictError):
        annotations.update_annotation(
            annotation_repository,
            created.annotation.id,
            annotator="alice",
            changes={"category": 2},
            max_note_chars=MAX_NOTE,
        )


# Validation


def test_unknown_job_not_found(repository, annotation_repository):
    with pytest.raises(NotFoundError):
        annotations.record_annotation(
            repository,
            annotation_repository,
            job_id=4242,
            image_id=image_id(1),
            annotator="alice",
            category=1,
            note=None,
            max_note_chars=MAX_NOTE,
        )


@pytest.mark.parametrize("index", [11, 999], ids=["correct", "not_in_job"])
def test_image_not_failure_rejected(repository, annotation_repository, job, index):
    with pytest.raises(InvalidFieldError) as raised:
        _record(repository, annotation_repository, job, index, "alice", 1)
    assert list(raised.value.errors) == ["image"]


def test_top5_job_uses_top5_failures(repository, annotation_repository):
    # Every image of this job is a top-1 failure with the ground truth at rank 2,
    # so none is a top-5 failure.
    pairs = failure_pairs(3)
    job = make_job(repository, pairs, state="queued")
    with repository.engine.begin() as connection:
        connection.execute(
            sa.update(jobs).where(jobs.c.id == job.id).values(criterion="top5")
        )
    with pytest.raises(InvalidFieldError) as raised:
        _record(repository, annotation_repository, job, 1, "alice", 1)
    assert "top5" in raised.value.message


@pytest.mark.parametrize("category", ["blurry", 0, 6, True, None, "  "])
def test_unknown_category_rejected(repository, annotation_repository, job, category):
    with pytest.raises(InvalidFieldError) as raised:
        _record(repository, annotation_repository, job, 1, "alice", category)
    assert list(raised.value.errors) == ["category"]


def test_note_limit(repository, annotation_repository, job):
    accepted = _record(
        repository, annotation_repository, job, 1, "alice", 1, "x" * 2000
    )
    with pytest.raises(InvalidFieldError) as raised:
        _record(repository, annotation_repository, job, 2, "alice", 1, "x" * 2001)
    assert len(accepted.annotation.note) == 2000
    assert list(raised.value.errors) == ["note"]


def test_all_invalid_fields_reported(repository, annotation_repository, job):
    with pytest.raises(InvalidFieldError) as raised:
        _record(repository, annotation_repository, job, 11, "alice", "x", "y" * 2001)
    assert set(raised.value.errors) == {"image", "category", "note"}


def test_invalid_post_writes_nothing(repository, annotation_repository, job, engine):
    with pytest.raises(InvalidFieldError):
        _record(repository, annotation_repository, job, 1, "alice", "x")
    with engine.connect() as connection:
        count = connection.execute(
            sa.select(sa.func.count()).select_from(annotations_table)
        ).scalar_one()
    assert count == 0


# Listing


def test_list_filters(repository, annotation_repository, job):
    a1 = _record(repository, annotation_repository, job, 1, "alice", 1).annotation
    a2 = _record(repository, annotation_repository, job, 2, "alice", 5).annotation
    b1 = _record(repository, annotation_repository, job, 1, "bob", 5).annotation
    annotations.retract_annotation(annotation_repository, a2.id, annotator="alice")
    other = make_job(repository, failure_pairs(2), first_index=100)
    _record(repository, annotation_repository, other, 100, "alice", 1)

    def ids(**filters: object) -> list[int]:
        page = annotations.list_annotations(
            repository, annotation_repository, **filters
        )
        return [item.id for item in page.items]

    assert ids(job_id=job.id) == [a1.id, b1.id]
    assert ids(job_id=job.id, include_retracted=True) == [a1.id, a2.id, b1.id]
    assert ids(job_id=job.id, annotator="bob") == [b1.id]
    assert ids(job_id=job.id, category="incorrect_pc") == [b1.id]
    assert ids(job_id=job.id, category=5, include_retracted=True) == [a2.id, b1.id]
    assert len(ids()) == 3


def test_list_page_total(repository, annotation_repository, job):
    for index in range(1, 6):
        _record(repository, annotation_repository, job, index, "alice", 1)
    page = annotations.list_annotations(
        repository, annotation_repository, job_id=job.id, page=2, per_page=2
    )
    assert page.total == 5
    assert len(page.items) == 2
    assert page.items[0].image_id == image_id(3)


def test_list_history_embeds_events(repository, annotation_repository, job):
    _record(repository, annotation_repository, job, 1, "alice", 1)
    _record(repository, annotation_repository, job, 1, "alice", 2)
    with_history = annotations.list_annotations(
        repository, annotation_repository, job_id=job.id, history=True
    )
    without = annotations.list_annotations(
        repository, annotation_repository, job_id=job.id
    )
    assert [e.action for e in with_history.items[0].events] == ["created", "changed"]
    assert without.items[0].events is None


def test_list_by_sample(repository, annotation_repository, job):
    sample = samples.create_sample(
        repository,
        annotation_repository,
        job_id=job.id,
        size=3,
        seed=1,
        created_by=None,
    )
    inside = [int(item.image_id[-8:]) for item in sample.items]
    outside = next(i for i in range(1, 11) if i not in inside)
    _record(repository, annotation_repository, job, inside[0], "alice", 1)
    _record(repository, annotation_repository, job, outside, "alice", 1)
    page = annotations.list_annotations(
        repository, annotation_repository, sample_id=sample.id
    )
    assert [item.image_id for item in page.items] == [image_id(inside[0])]


def test_list_unknown_sample(repository, annotation_repository):
    with pytest.raises(NotFoundError):
        annotations.list_annotations(repository, annotation_repository, sample_id=77)


def test_list_unknown_category(repository, annotation_repository, job):
    with pytest.raises(InvalidFieldError) as raised:
        annotations.list_annotations(
            repository, annotation_repository, job_id=job.id, category="nope"
        )
    assert raised.value.field == "category"


# Concurrency


def test_concurrent_annotators_all_land(repository, annotation_repository, engine):
    job = make_job(repository, failure_pairs(6))
    annotators = ["alice", "bob", "carol", "dave"]
    work = [(name, index) for name in annotators for index in range(1, 7)]

    def post(i: int) -> int:
        name, index = work[i]
        outcome = _record(
            repository, annotation_repository, job, index, name, 1 + i % 5
        )
        return outcome.annotation.id

    ids = run_in_threads(len(work), post)
    with engine.connect() as connection:
        stored = connection.execute(
            sa.select(
                annotations_table.c.annotator,
                annotations_table.c.image_id,
                annotations_table.c.category,
                annotations_table.c.version,
            )
        ).all()
        events = connection.execute(
            sa.select(sa.func.count()).select_from(annotation_events)
        ).scalar_one()
    expected = {
        (name, image_id(index), category_by_id(1 + i % 5).key)
        for i, (name, index) in enumerate(work)
    }
    assert len(set(ids)) == len(work)
    assert {(row.annotator, row.image_id, row.category) for row in stored} == expected
    assert {row.version for row in stored} == {1}
    assert events == len(work)


def test_concurrent_changes_get_distinct_versions(
    repository, annotation_repository, engine
):
    job = make_job(repository, failure_pairs(1))
    writes = 12

    def post(i: int) -> int:
        outcome = _record(repository, annotation_repository, job, 1, "alice", 1 + i % 5)
        return outcome.annotation.version

    versions = run_in_threads(writes, post)
    with engine.connect() as connection:
        event_versions = (
            connection.execute(
                sa.select(annotation_events.c.version).order_by(
                    annotation_events.c.version
                )
            )
            .scalars()
            .all()
        )
        actions = (
            connection.execute(
                sa.select(annotation_events.c.action).order_by(
                    annotation_events.c.version
                )
            )
            .scalars()
            .all()
        )
    assert sorted(versions) == list(range(1, writes + 1))
    assert event_versions == list(range(1, writes + 1))
    assert actions == ["created"] + ["changed"] * (writes - 1)


# Samples

# A draw of 8 from the ids "f00" to "f49" with seed
# 7. They pin the algorithm: if this changes, stored samples can no longer be
# redrawn from their seed.
PINNED_IDS = [f"f{i:02d}" for i in range(50)]
PINNED_DRAW_SEED_7 = ["f16", "f08", "f33", "f06", "f28", "f21", "f01", "f04"]


def test_draw_pinned_for_seed():
    assert samples.draw(PINNED_IDS, 8, 7) == PINNED_DRAW_SEED_7


def test_draw_ignores_input_order():
    assert samples.draw(list(reversed(PINNED_IDS)), 8, 7) == samples.draw(
        PINNED_IDS, 8, 7
    )


def test_draw_distinct_ids():
    drawn = samples.draw(PINNED_IDS, 50, 3)
    assert sorted(drawn) == PINNED_IDS


def test_draw_depends_on_seed():
    assert samples.draw(PINNED_IDS, 8, 7) != samples.draw(PINNED_IDS, 8, 8)


def test_draw_size_too_large():
    with pytest.raises(ValueError):
        samples.draw(PINNED_IDS, 51, 7)


def test_sample_reproducible_on_database(repository, annotation_repository, job):
    first = samples.create_sample(
        repository, annotation_repository, job_id=job.id, size=4, seed=7, created_by="a"
    )
    second = samples.create_sample(
        repository, annotation_repository, job_id=job.id, size=4, seed=7, created_by="b"
    )
    stored = annotation_repository.get_sample(first.id)
    failures = [image_id(i) for i in range(1, 11)]
    assert first.id != second.id
    assert [item.image_id for item in first.items] == samples.draw(failures, 4, 7)
    assert [item.image_id for item in second.items] == [
        item.image_id for item in first.items
    ]
    assert stored.items == first.items
    assert [item.position for item in stored.items] == [0, 1, 2, 3]
    assert stored.created_by == "a"


def test_sample_of_unfinished_job(repository, annotation_repository):
    job = make_job(repository, failure_pairs(5), state="running")
    with pytest.raises(ConflictError):
        samples.create_sample(
            repository,
            annotation_repository,
            job_id=job.id,
            size=1,
            seed=1,
            created_by=None,
        )


def test_sample_larger_than_failures(repository, annotation_repository, job):
    with pytest.raises(ConflictError) as raised:
        samples.create_sample(
            repository,
            annotation_repository,
            job_id=job.id,
            size=11,
            seed=1,
            created_by=None,
        )
    assert "10" in raised.value.message


def test_sample_of_all_failures(repository, annotation_repository, job):
    sample = samples.create_sample(
        repository,
        annotation_repository,
        job_id=job.id,
        size=10,
        seed=1,
        created_by=None,
    )
    assert sorted(item.image_id for item in sample.items) == [
        image_id(i) for i in range(1, 11)
    ]


@pytest.mark.parametrize(
    ("size", "seed", "field"),
    [(0, 1, "size"), (1, -1, "seed"), (1, 2**31, "seed")],
)
def test_sample_invalid_fields(
    repository, annotation_repository, job, size, seed, field
):
    with pytest.raises(InvalidFieldError) as raised:
        samples.create_sample(
            repository,
            annotation_repository,
            job_id=job.id,
            size=size,
            seed=seed,
            created_by=None,
        )
    assert raised.value.field == field


def test_sample_unknown_job(repository, annotation_repository):
    with pytest.raises(NotFoundError):
        samples.create_sample(
            repository,
            annotation_repository,
            job_id=404,
            size=1,
            seed=1,
            created_by=None,
        )


def test_unknown_sample(annotation_repository):
    with pytest.raises(NotFoundError):
        annotation_repository.get_sample(31337)


def test_next_item_progress(repository, annotation_repository, job):
    sample = samples.create_sample(
        repository,
        annotation_repository,
        job_id=job.id,
        size=2,
        seed=5,
        created_by=None,
    )
    first, second = (item.image_id for item in sample.items)
    before = samples.next_item_view(annotation_repository, sample, "alice")
    annotations.record_annotation(
        repository,
        annotation_repository,
        job_id=job.id,
        image_id=first,
        annotator="alice",
        category=1,
        note=None,
        max_note_chars=MAX_NOTE,
    )
    middle = samples.next_item_view(annotation_repository, sample, "alice")
    for_bob = samples.next_item_view(annotation_repository, sample, "bob")
    annotations.record_annotation(
        repository,
        annotation_repository,
        job_id=job.id,
        image_id=second,
        annotator="alice",
        category=2,
        note=None,
        max_note_chars=MAX_NOTE,
    )
    after = samples.next_item_view(annotation_repository, sample, "alice")
    assert before["item"]["image"] == first
    assert middle["item"]["image"] == second
    assert middle["item"]["position"] == 1
    assert for_bob["item"]["image"] == first
    assert after["item"] is None
    assert after["done"] is True
    assert after["annotated"] == 2
