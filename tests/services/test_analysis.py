"""Evidence and suggestions built from stored failures, on SQLite and PostgreSQL.

The failures are real: the exported ensemble predicts a few validation images of
the test data folder, and the rows are stored as a job stores them.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from services import analysis, datasets, labels
from services.config import Settings, load_settings
from services.ensemble import Ensemble
from services.errors import InvalidFieldError
from services.jobs import predict_images
from services.storage.repositories import ImageRow, Job, PredictionRow, Repository
from services.storage.suggestion_repository import SuggestionRepository

# Validation failures of the ensemble, with facts read from ImageNet ReaL and
# WordNet 3.0: accordion predicted as harmonica (both in ReaL, siblings below
# free-reed instrument), flute predicted as dalmatian (only the prediction in
# ReaL), Ibizan hound predicted as Saluki (empty ReaL list, sibling hounds).
ACCORDION = "imagenet-val:ILSVRC2012_val_00000204"
FLUTE = "imagenet-val:ILSVRC2012_val_00000140"
IBIZAN_HOUND = "imagenet-val:ILSVRC2012_val_00000022"
# The ensemble classifies this one correctly, as a tench-like fish (class 65).
CORRECT = "imagenet-val:ILSVRC2012_val_00000001"
FAILURE_IDS = [ACCORDION, FLUTE, IBIZAN_HOUND]


@pytest.fixture(scope="module")
def val_settings(test_data_dir: Path, model_dir: Path) -> Settings:
    return replace(
        load_settings({}),
        model_dir=model_dir,
        imagenet_val_dir=test_data_dir / "imagenet-val",
        dataset_roots=(test_data_dir,),
    )


@pytest.fixture(scope="module")
def predicted(
    val_settings: Settings,
) -> tuple[list[datasets.ImageRef], list[PredictionRow]]:
    ensemble = Ensemble.load(
        val_settings.model_dir,
        val_settings.execution_providers,
        val_settings.intra_op_threads,
    )
    refs = [
        datasets.ref_for_image_id(val_settings, image_id)
        for image_id in [*FAILURE_IDS, CORRECT]
    ]
    rows, errors = predict_images(
        ensemble, val_settings, [ref.image_id for ref in refs]
    )
    assert errors == {}
    return refs, rows


def _store_job(
    repository: Repository,
    refs: list[datasets.ImageRef],
    rows: list[PredictionRow],
) -> Job:
    repository.upsert_images(
        ImageRow(
            image_id=ref.image_id,
            dataset=ref.dataset,
            key=ref.key,
            ground_truth=ref.ground_truth,
            real_labels=ref.real_labels,
        )
        for ref in refs
    )
    job = repository.create_job(dataset="imagenet-val", start=1, stop=204)
    repository.upsert_predictions(job.id, rows)
    return job


@pytest.fixture
def stored_job(repository: Repository, predicted) -> Job:
    refs, rows = predicted
    return _store_job(repository, refs, rows)


@pytest.fixture
def suggestion_repository(repository: Repository) -> SuggestionRepository:
    return SuggestionRepository(repository.engine)


def _evidence(
    suggestion_repository: SuggestionRepository,
    settings: Settings,
    job: Job,
    image_id: str,
):
    failure = suggestion_repository.failures_by_image_id(job.id, [image_id])[image_id]
    quality = analysis.measure_failure_image(settings, image_id)
    return analysis.build_evidence(failure, quality)


def test_failures_exclude_correct_image(suggestion_repository, stored_job) -> None:
    ids = suggestion_repository.failure_image_ids(stored_job.id)
    assert ids == sorted(FAILURE_IDS)


def test_accordion_evidence(suggestion_repository, val_settings, stored_job) -> None:
    evidence = _evidence(suggestion_repository, val_settings, stored_job, ACCORDION)
    assert evidence.real_available is True
    assert evidence.gt_in_real is True
    assert evidence.pc_in_real is True
    assert evidence.real_empty is False
    assert evidence.wordnet_distance == 2
    assert evidence.lch_depth == 9
    assert evidence.n_members == 3


def test_flute_evidence(suggestion_repository, val_settings, stored_job) -> None:
    evidence = _evidence(suggestion_repository, val_settings, stored_job, FLUTE)
    assert evidence.gt_in_real is False
    assert evidence.pc_in_real is True
    assert evidence.wordnet_distance == 13
    assert evidence.members_for_pc == 3
    assert evidence.same_metaclass is False


def test_ibizan_hound_evidence(suggestion_repository, val_settings, stored_job) -> None:
    evidence = _evidence(suggestion_repository, val_settings, stored_job, IBIZAN_HOUND)
    assert evidence.real_available is True
    assert evidence.real_empty is True
    assert evidence.gt_in_real is False
    assert evidence.wordnet_distance == 2
    assert evidence.same_metaclass is True


def test_evidence_has_image_statistics(
    suggestion_repository, val_settings, stored_job
) -> None:
    evidence = _evidence(suggestion_repository, val_settings, stored_job, FLUTE)
    path = val_settings.imagenet_val_dir / "ILSVRC2012_val_00000140.JPEG"
    manifest_line = next(
        line
        for line in (path.parent / "MANIFEST.csv").read_text().splitlines()
        if line.startswith(path.name + ",")
    )
    width, height = manifest_line.split(",")[4:6]
    assert evidence.width == int(width)
    assert evidence.height == int(height)
    assert evidence.sharpness is not None and evidence.sharpness > 0
    assert evidence.brightness is not None and 0 <= evidence.brightness <= 255
    assert evidence.contrast is not None and evidence.contrast > 0


def test_evidence_has_imagenet_x_factors(
    suggestion_repository, val_settings, stored_job
) -> None:
    evidence = _evidence(suggestion_repository, val_settings, stored_job, ACCORDION)
    expected = labels.imagenet_x_factors("ILSVRC2012_val_00000204.JPEG")
    assert expected is not None
    assert evidence.imagenet_x_factors == tuple(expected)


def test_analyse_chunk_suggests_each_failure(
    repository, suggestion_repository, val_settings, stored_job
) -> None:
    outcome = analysis.analyse_chunk(
        repository, suggestion_repository, val_settings, stored_job.id, FAILURE_IDS
    )
    assert outcome.suggested == 3
    assert outcome.inserted == 3
    assert outcome.analysis_done is True
    assert repository.get_job(stored_job.id).analysis_state == "done"
    stored = suggestion_repository.suggestions_by_image_id(stored_job.id)
    assert sorted(stored) == sorted(FAILURE_IDS)
    assert stored[FLUTE].category == "incorrect_gt"
    assert stored[ACCORDION].category == "similar_labels"
    assert stored[ACCORDION].evidence["wordnet_distance"] == 2
    assert stored[ACCORDION].decided_by[0] == ["gt_in_real", True]


def test_redelivered_chunk_changes_nothing(
    repository, suggestion_repository, val_settings, stored_job
) -> None:
    analysis.analyse_chunk(
        repository, suggestion_repository, val_settings, stored_job.id, FAILURE_IDS
    )
    first = suggestion_repository.list_suggestions(stored_job.id)
    again = analysis.analyse_chunk(
        repository, suggestion_repository, val_settings, stored_job.id, FAILURE_IDS
    )
    assert again.inserted == 0
    assert suggestion_repository.list_suggestions(stored_job.id) == first


def test_analysis_done_after_last_chunk(
    repository, suggestion_repository, val_settings, stored_job
) -> None:
    chunks = analysis.start_analysis(
        repository, suggestion_repository, stored_job.id, chunk_size=2
    )
    assert [len(chunk) for chunk in chunks] == [2, 1]
    assert repository.get_job(stored_job.id).analysis_state == "running"
    first = analysis.analyse_chunk(
        repository, suggestion_repository, val_settings, stored_job.id, chunks[0]
    )
    assert first.analysis_done is False
    assert repository.get_job(stored_job.id).analysis_state == "running"
    last = analysis.analyse_chunk(
        repository, suggestion_repository, val_settings, stored_job.id, chunks[1]
    )
    assert last.analysis_done is True
    assert repository.get_job(stored_job.id).analysis_state == "done"


def test_restart_skips_suggested_failures(
    repository, suggestion_repository, val_settings, stored_job
) -> None:
    analysis.analyse_chunk(
        repository, suggestion_repository, val_settings, stored_job.id, [FLUTE]
    )
    chunks = analysis.start_analysis(repository, suggestion_repository, stored_job.id)
    assert chunks == [sorted([ACCORDION, IBIZAN_HOUND])]


def test_job_without_failures_is_done_at_start(
    repository, suggestion_repository, predicted
) -> None:
    refs, rows = predicted
    correct = [row for row in rows if row.image_id == CORRECT]
    job = _store_job(repository, [r for r in refs if r.image_id == CORRECT], correct)
    chunks = analysis.start_analysis(repository, suggestion_repository, job.id)
    assert chunks == []
    assert repository.get_job(job.id).analysis_state == "done"


def test_unreadable_image_still_suggested(
    repository, suggestion_repository, val_settings, stored_job, tmp_path: Path
) -> None:
    # A validation folder without the file: the image cannot be read.
    empty_folder = replace(val_settings, imagenet_val_dir=tmp_path)
    analysis.analyse_chunk(
        repository, suggestion_repository, empty_folder, stored_job.id, [FLUTE]
    )
    stored = suggestion_repository.suggestions_by_image_id(stored_job.id, [FLUTE])
    assert stored[FLUTE].category == "incorrect_gt"
    assert stored[FLUTE].evidence["sharpness"] is None
    assert stored[FLUTE].evidence["width"] is None


def test_unreadable_image_keeps_stored_size(
    repository, suggestion_repository, val_settings, stored_job, tmp_path: Path
) -> None:
    repository.upsert_images(
        [
            ImageRow(
                image_id=FLUTE,
                dataset="imagenet-val",
                key="ILSVRC2012_val_00000140",
                ground_truth=558,
                real_labels=[251],
                width=500,
                height=333,
            )
        ]
    )
    failure = suggestion_repository.failures_by_image_id(stored_job.id, [FLUTE])[FLUTE]
    evidence = analysis.build_evidence(failure, None)
    assert (evidence.width, evidence.height) == (500, 333)


def test_folder_image_has_no_real(repository, suggestion_repository, predicted) -> None:
    refs, rows = predicted
    flute_row = next(row for row in rows if row.image_id == FLUTE)
    repository.upsert_images(
        [
            ImageRow(
                image_id="folder:flute.JPEG",
                dataset="folder",
                key="flute.JPEG",
                ground_truth=558,
                real_labels=None,
            )
        ]
    )
    job = repository.create_job(dataset="folder", path=".")
    repository.upsert_predictions(
        job.id, [replace(flute_row, image_id="folder:flute.JPEG")]
    )
    failure = suggestion_repository.failures_by_image_id(job.id, ["folder:flute.JPEG"])
    evidence = analysis.build_evidence(failure["folder:flute.JPEG"], None)
    assert evidence.real_available is False
    assert evidence.pc_in_real is False
    assert evidence.imagenet_x_factors is None


def test_filter_failures_by_suggestion(
    repository, suggestion_repository, val_settings, stored_job
) -> None:
    analysis.analyse_chunk(
        repository, suggestion_repository, val_settings, stored_job.id, FAILURE_IDS
    )
    page = suggestion_repository.list_failures_suggested(stored_job.id, "incorrect_gt")
    assert [failure.image_id for failure in page.items] == [FLUTE]
    assert page.total == 1


def test_filter_rejects_unknown_category(suggestion_repository, stored_job) -> None:
    with pytest.raises(InvalidFieldError) as raised:
        suggestion_repository.list_failures_suggested(stored_job.id, "blurry")
    assert raised.value.field == "suggested"


def test_category_counts(
    repository, suggestion_repository, val_settings, stored_job
) -> None:
    analysis.analyse_chunk(
        repository, suggestion_repository, val_settings, stored_job.id, FAILURE_IDS
    )
    counts = suggestion_repository.category_counts(stored_job.id)
    assert sum(counts.values()) == 3
    assert counts["incorrect_gt"] == 1
    assert suggestion_repository.count_suggestions(stored_job.id) == 3


def test_tied_ground_truth_counts_as_runner_up(
    suggestion_repository, stored_job
) -> None:
    failure = suggestion_repository.failures_by_image_id(stored_job.id, [FLUTE])[FLUTE]
    top = failure.top5_probabilities[0]
    tied = replace(failure, gt_rank=1, gt_probability=top)
    evidence = analysis.build_evidence(tied, None)
    assert evidence.gt_rank == 2
    assert evidence.gt_probability == top
