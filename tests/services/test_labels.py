"""Tests of ImageNet class names, ground truth, ReaL labels and ImageNet-X data."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from services import labels

SPORTS_CAR = 817


def test_first_class_is_tench() -> None:
    assert labels.wnid(0) == "n01440764"
    assert labels.class_name(0) == "tench"


def test_class_name_is_first_synonym() -> None:
    assert labels.class_name(4) == "hammerhead"
    assert labels.class_synonyms(4) == ("hammerhead", "hammerhead shark")


def test_wnids_are_sorted_and_unique() -> None:
    wnids = [labels.wnid(index) for index in range(labels.NUM_CLASSES)]
    assert wnids == sorted(wnids)
    assert len(set(wnids)) == labels.NUM_CLASSES


def test_class_index_for_wnid_round_trips() -> None:
    for index in (0, 1, 500, 999):
        assert labels.class_index_for_wnid(labels.wnid(index)) == index


def test_class_index_for_unknown_wnid_is_none() -> None:
    assert labels.class_index_for_wnid("n99999999") is None


@pytest.mark.parametrize("index", [-1, 1000])
def test_class_index_out_of_range_raises(index: int) -> None:
    with pytest.raises(ValueError, match="out of range"):
        labels.class_name(index)


def test_val_ground_truth_of_first_image() -> None:
    # ILSVRC2012_val_00000001 shows a snake, class 65 (sea snake).
    assert labels.val_ground_truth(1) == 65
    assert labels.wnid(labels.val_ground_truth(1)) == "n01751748"


@pytest.mark.parametrize("index", [0, 50_001])
def test_val_index_out_of_range_raises(index: int) -> None:
    with pytest.raises(ValueError, match="out of range"):
        labels.val_ground_truth(index)


def test_val_file_name_round_trips() -> None:
    assert labels.val_file_name(42) == "ILSVRC2012_val_00000042.JPEG"
    assert labels.val_index_for_file_name("ILSVRC2012_val_00000042.JPEG") == 42


@pytest.mark.parametrize(
    "name",
    [
        "ILSVRC2012_val_00000000.JPEG",
        "ILSVRC2012_val_00050001.JPEG",
        "ILSVRC2012_val_1.JPEG",
        "n01440764_tench.JPEG",
    ],
)
def test_val_index_for_other_names_is_none(name: str) -> None:
    assert labels.val_index_for_file_name(name) is None


def test_val_ground_truth_matches_manifest(test_data_dir: Path) -> None:
    manifest = test_data_dir / "imagenet-val" / "MANIFEST.csv"
    with manifest.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 1028
    mismatches = [
        row["file"]
        for row in rows
        if labels.val_ground_truth(int(row["index"])) != int(row["gt"])
    ]
    assert mismatches == []
    wrong_wnids = [
        row["file"] for row in rows if labels.wnid(int(row["gt"])) != row["gt_wnid"]
    ]
    assert wrong_wnids == []


def test_real_labels_by_official_index() -> None:
    assert labels.real_labels(1) == []
    assert labels.real_labels(2) == [970, 795]
    assert labels.real_labels(3) == [230, 231]


def test_real_labels_returns_a_copy() -> None:
    labels.real_labels(2).append(0)
    assert labels.real_labels(2) == [970, 795]


def test_tench_and_goldfish_share_metaclass() -> None:
    assert labels.metaclasses(0) & labels.metaclasses(1)


def test_tench_and_sports_car_differ_in_metaclass() -> None:
    assert labels.class_name(SPORTS_CAR) == "sports car"
    assert not labels.metaclasses(0) & labels.metaclasses(SPORTS_CAR)


def test_metaclass_names() -> None:
    (fish,) = labels.metaclasses(0)
    (car,) = labels.metaclasses(SPORTS_CAR)
    assert labels.metaclass_name(fish) == "fish"
    assert labels.metaclass_name(car) == "wheeled_vehicle"


def test_every_class_has_one_of_100_metaclasses() -> None:
    assigned = [labels.metaclasses(index) for index in range(labels.NUM_CLASSES)]
    assert all(len(group) == 1 for group in assigned)
    union = frozenset().union(*assigned)
    assert union == frozenset(range(100))


def test_unknown_metaclass_raises() -> None:
    with pytest.raises(ValueError, match="unknown"):
        labels.metaclass_name(100)


def test_imagenet_x_factors_of_annotated_image() -> None:
    factors = labels.imagenet_x_factors("ILSVRC2012_val_00004487.JPEG")
    assert factors == ["background", "larger", "pose"]


def test_imagenet_x_factors_of_unannotated_image() -> None:
    assert labels.imagenet_x_factors("ILSVRC2012_val_99999999.JPEG") is None


def test_imagenet_x_factors_are_known_names() -> None:
    factors = labels.imagenet_x_factors("ILSVRC2012_val_00003963.JPEG")
    assert factors
    assert set(factors) <= set(labels.IMAGENET_X_FACTORS)


def test_files_are_loaded_once() -> None:
    labels.real_labels(5)
    labels.real_labels(6)
    assert labels._real_labels.cache_info().misses == 1


def test_imagenet_x_is_never_imported() -> None:
    script = (
        "import sys\n"
        "from services import labels\n"
        "labels.real_labels(1)\n"
        "labels.metaclasses(0)\n"
        "labels.imagenet_x_factors('ILSVRC2012_val_00004487.JPEG')\n"
        "print('imagenet_x' in sys.modules, 'pandas' in sys.modules)\n"
    )
    root = Path(__file__).resolve().parents[2]
    completed = subprocess.run(
        [sys.executable, "-c", script],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    )
    assert completed.stdout.split() == ["False", "False"]
