"""The statistics report over stored annotations, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy.engine import Engine

from services import samples, stats_report
from services.categories import CATEGORIES, CATEGORY_KEYS
from services.errors import InvalidFieldError, NotFoundError
from services.storage.annotation_repository import AnnotationRepository
from services.storage.repositories import Job
from tests.services.test_annotations import failure_pairs, image_id, make_job

A = "incorrect_gt"
B = "incorrect_pc"
C = "challenging_image"


@pytest.fixture
def annotation_repository(engine: Engine) -> AnnotationRepository:
    return AnnotationRepository(engine)


def _label(
    annotation_repository: AnnotationRepository,
    job: Job,
    index: int,
    annotator: str,
    category: str,
) -> int:
    outcome = annotation_repository.record_annotation(
        job_id=job.id,
        image_id=image_id(index),
        annotator=annotator,
        category=category,
        note=None,
    )
    return outcome.annotation.id


def _report(repository, annotation_repository, **scope) -> stats_report.StatsReport:
    return stats_report.build_report(repository, annotation_repository, **scope)


# Agreement pairs of two annotators on failures 1 to 10: four (A, A), three
# (B, B), one (A, B) and two (B, A).
TWO_ANNOTATOR_PAIRS = [(A, A)] * 4 + [(B, B)] * 3 + [(A, B)] + [(B, A)] * 2


@pytest.fixture
def two_annotators(repository, annotation_repository) -> Job:
    job = make_job(repository, failure_pairs(12))
    for index, (first, second) in enumerate(TWO_ANNOTATOR_PAIRS, start=1):
        _label(annotation_repository, job, index, "alice", first)
        _label(annotation_repository, job, index, "bob", second)
    # Failures 11 and 12 only alice labelled, so they are not shared.
    _label(annotation_repository, job, 11, "alice", A)
    _label(annotation_repository, job, 12, "alice", A)
    return job


def test_paper_counts_reproduce_rates(repository, annotation_repository):
    job = make_job(repository, failure_pairs(400))
    index = 1
    for category in CATEGORIES:
        for _ in range(category.paper_count):
            _label(annotation_repository, job, index, "observer", category.key)
            index += 1

    report = _report(repository, annotation_repository, job_id=job.id)
    rates = {row.category.key: row.rate for row in report.distribution.rows}

    assert report.distribution.total == 400
    assert rates["similar_labels"] == pytest.approx(0.1525)
    assert rates["not_salient_gt"] == pytest.approx(0.2175)
    assert rates["challenging_image"] == pytest.approx(0.1075)
    assert rates["incorrect_gt"] == pytest.approx(0.1975)
    assert rates["incorrect_pc"] == pytest.approx(0.325)
    assert report.paper_comparison is not None
    assert report.paper_comparison.statistic == pytest.approx(0.0, abs=1e-12)
    assert report.paper_comparison.p_value == pytest.approx(1.0)
    assert report.paper_comparison.degrees_of_freedom == 4
    # By hand, with z = 1.959964 and z^2 = 3.841459 for 61 of 400 (p = 0.1525):
    # center = (0.1525 + z^2 / 800) / (1 + z^2 / 400) = 0.155806 and
    # half width = z sqrt(p (1 - p) / 400 + z^2 / 640000) / 1.009604 = 0.035219.
    similar = report.distribution.row("similar_labels")
    assert similar.ci_low == pytest.approx(0.120587, abs=1e-5)
    assert similar.ci_high == pytest.approx(0.191025, abs=1e-5)
    assert report.agreement.method is None


def test_cohen_kappa_by_hand(repository, annotation_repository, two_annotators):
    report = _report(repository, annotation_repository, job_id=two_annotators.id)
    agreement = report.agreement
    # p_o = 7 / 10; alice used A 5 times and B 5 times, bob A 6 times and B 4
    # times, so p_e = (5 * 6 + 5 * 4) / 100 = 0.5 and kappa = 0.2 / 0.5 = 0.4.
    assert agreement.method == "cohen"
    assert agreement.annotators == ("alice", "bob")
    assert agreement.shared_items == 10
    assert agreement.observed_agreement == pytest.approx(0.7)
    assert agreement.kappa == pytest.approx(0.4)
    # With two categories in use, A against the rest is the same 2 x 2 table.
    assert agreement.per_category[A] == pytest.approx(0.4)
    assert agreement.per_category["similar_labels"] is None


def test_each_annotation_counts(repository, annotation_repository, two_annotators):
    report = _report(repository, annotation_repository, job_id=two_annotators.id)
    # alice: A 5 + 2 unshared, B 5; bob: A 6, B 4.
    assert report.distribution.total == 22
    assert report.distribution.row(A).count == 13
    assert report.distribution.row(B).count == 9
    assert report.failures_annotated == 12
    assert report.distribution.row(A).rate == pytest.approx(13 / 22)


def test_annotator_filter_by_hand(repository, annotation_repository, two_annotators):
    report = _report(
        repository, annotation_repository, job_id=two_annotators.id, annotator="bob"
    )
    row = report.distribution.row(A)
    # By hand for 6 of 10: center = (0.6 + z^2 / 20) / (1 + z^2 / 10) = 0.572246,
    # half width = z sqrt(0.024 + z^2 / 400) / 1.384146 = 0.259573.
    assert report.distribution.total == 10
    assert row.count == 6
    assert row.ci_low == pytest.approx(0.312673, abs=1e-5)
    assert row.ci_high == pytest.approx(0.831819, abs=1e-5)
    assert report.agreement.method is None


def test_retracted_not_counted(repository, annotation_repository, two_annotators):
    first = annotation_repository.list_annotations(
        job_id=two_annotators.id, annotator="bob"
    ).items[0]
    annotation_repository.retract_annotation(first.id)
    report = _report(repository, annotation_repository, job_id=two_annotators.id)
    assert report.distribution.total == 21
    assert report.agreement.shared_items == 9


def test_fleiss_kappa_by_hand(repository, annotation_repository):
    job = make_job(repository, failure_pairs(4))
    table = [(A, A, A), (A, A, B), (B, B, B), (A, B, C)]
    for index, row in enumerate(table, start=1):
        for annotator, category in zip(("alice", "bob", "carol"), row, strict=True):
            _label(annotation_repository, job, index, annotator, category)
    report = _report(repository, annotation_repository, job_id=job.id)
    # P_i = 1, 1/3, 1 and 0, so P-bar = 7/12. p_A = 6/12, p_B = 5/12, p_C = 1/12,
    # so P_e = (36 + 25 + 1) / 144 = 31/72 and kappa = (7/12 - 31/72) / (41/72)
    # = 11/41.
    assert report.agreement.method == "fleiss"
    assert report.agreement.shared_items == 4
    assert report.agreement.observed_agreement == pytest.approx(7 / 12)
    assert report.agreement.kappa == pytest.approx(11 / 41)


def test_confusions_and_class_rates(repository, annotation_repository):
    pairs = [(0, 1)] * 3 + [(0, 0)] + [(2, 3), (2, 2)] + [(4, 4)] * 3
    job = make_job(repository, pairs)
    report = _report(repository, annotation_repository, job_id=job.id)
    confusions = [
        (pair.ground_truth, pair.predicted_class, pair.count)
        for pair in report.confusion_pairs
    ]
    rates = [
        (row.ground_truth, row.images, row.failures, row.rate)
        for row in report.class_failure_rates
    ]
    view = report.as_dict()
    assert confusions == [(0, 1, 3), (2, 3, 1)]
    assert rates == [(0, 4, 3, 0.75), (2, 2, 1, 0.5), (4, 3, 0, 0.0)]
    assert view["confusion_pairs"][0]["ground_truth"]["name"] == "tench"
    assert view["confusion_pairs"][0]["predicted_class"]["wnid"] == "n01443537"
    assert view["paper_comparison"] is None
    assert view["total"] == 0


def test_confusion_limit(repository, annotation_repository):
    job = make_job(repository, [(0, 1), (0, 1), (2, 3), (5, 6)])
    report = _report(
        repository, annotation_repository, job_id=job.id, confusion_limit=1
    )
    assert [(p.ground_truth, p.count) for p in report.confusion_pairs] == [(0, 2)]


def test_sample_scope(repository, annotation_repository, two_annotators):
    sample = samples.create_sample(
        repository,
        annotation_repository,
        job_id=two_annotators.id,
        size=4,
        seed=3,
        created_by=None,
    )
    inside = {item.image_id for item in sample.items}
    expected = sum(
        1
        for label in annotation_repository.current_labels(two_annotators.id)
        if label.image_id in inside
    )
    report = _report(repository, annotation_repository, sample_id=sample.id)
    assert report.job.id == two_annotators.id
    assert report.sample_id == sample.id
    assert report.distribution.total == expected


def test_sample_of_other_job(repository, annotation_repository, two_annotators):
    other = make_job(repository, failure_pairs(3), first_index=500)
    sample = samples.create_sample(
        repository,
        annotation_repository,
        job_id=other.id,
        size=2,
        seed=3,
        created_by=None,
    )
    with pytest.raises(InvalidFieldError) as raised:
        _report(
            repository,
            annotation_repository,
            job_id=two_annotators.id,
            sample_id=sample.id,
        )
    assert raised.value.field == "sample"


def test_scope_required(repository, annotation_repository):
    with pytest.raises(InvalidFieldError) as raised:
        _report(repository, annotation_repository)
    assert raised.value.field == "job"


def test_unknown_job_and_sample(repository, annotation_repository):
    with pytest.raises(NotFoundError):
        _report(repository, annotation_repository, job_id=999)
    with pytest.raises(NotFoundError):
        _report(repository, annotation_repository, sample_id=999)


def test_report_has_suggested_slot(repository, annotation_repository, two_annotators):
    view = _report(
        repository, annotation_repository, job_id=two_annotators.id
    ).as_dict()
    assert "suggested" in view
    assert view["suggested"] is None
    assert view["counting"] == stats_report.COUNTING_RULE
    assert [row["category"] for row in view["categories"]] == list(CATEGORY_KEYS)


def test_csv_table_rows(repository, annotation_repository, two_annotators):
    report = _report(repository, annotation_repository, job_id=two_annotators.id)
    rows = list(csv.DictReader(io.StringIO(stats_report.render_table(report, "csv"))))
    assert [row["category"] for row in rows] == list(CATEGORY_KEYS)
    assert rows[3]["count"] == "13"


def test_markdown_table_rows(repository, annotation_repository, two_annotators):
    report = _report(repository, annotation_repository, job_id=two_annotators.id)
    lines = stats_report.render_table(report, "md").splitlines()
    assert len(lines) == 2 + len(CATEGORY_KEYS)
    assert lines[0].startswith("| id | category | count |")
    assert "| incorrect_gt | 13 |" in lines[5]


def test_text_table_summary(repository, annotation_repository, two_annotators):
    report = _report(repository, annotation_repository, job_id=two_annotators.id)
    text = stats_report.render_table(report, "text")
    assert "chi-square vs Lee, Agarwal and Kim" in text
    assert "cohen kappa, 2 annotators, 10 shared failures): 0.4000" in text


def test_unknown_table_format(repository, annotation_repository, two_annotators):
    report = _report(repository, annotation_repository, job_id=two_annotators.id)
    with pytest.raises(InvalidFieldError) as raised:
        stats_report.render_table(report, "xlsx")
    assert raised.value.field == "format"
