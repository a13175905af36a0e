"""Category suggestions from constructed evidence and from real sample images."""

from __future__ import annotations

import csv
import dataclasses
import importlib.util
import itertools
import math
import os
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageEnhance, ImageFilter

from services import image_quality, triage, wordnet

LAPTOP = 620
NOTEBOOK = 681
MONITOR = 664
DESKTOP_COMPUTER = 527
SHARP_SAMPLE = "n01494475_hammerhead.JPEG"
CATEGORIES = {
    "similar_labels",
    "not_salient_gt",
    "challenging_image",
    "incorrect_gt",
    "incorrect_pc",
}


def _metaclasses() -> list[str]:
    """Return the ImageNet-X metaclass id of each class, in class order."""
    spec = importlib.util.find_spec("imagenet_x")
    assert spec is not None and spec.submodule_search_locations
    folder = Path(next(iter(spec.submodule_search_locations))) / "annotations"
    with (folder / "imagenet_1k_classes_to_100_metaclasses.csv").open() as handle:
        return [row["metaclass"] for row in csv.DictReader(handle)]


def neutral_evidence(**changes: Any) -> triage.Evidence:
    """Build evidence that points to no category in particular, then apply
    ``changes``: no ReaL list, far classes, a sharp and well-exposed image, a
    two-to-one vote at moderate entropy."""
    evidence = triage.Evidence(
        real_available=False,
        gt_in_real=False,
        pc_in_real=False,
        real_empty=False,
        wordnet_distance=10,
        lch_depth=4,
        same_metaclass=False,
        entropy=1.0,
        members_for_pc=2,
        members_for_gt=0,
        n_members=3,
        gt_rank=3,
        gt_probability=0.1,
        pc_probability=0.5,
        sharpness=500.0,
        brightness=120.0,
        contrast=50.0,
        width=500,
        height=375,
    )
    return dataclasses.replace(evidence, **changes)


def evidence_for_classes(gt: int, pc: int, **changes: Any) -> triage.Evidence:
    relation = wordnet.relate_classes(gt, pc)
    metaclasses = _metaclasses()
    return neutral_evidence(
        wordnet_distance=relation.distance,
        lch_depth=relation.lch_depth,
        same_metaclass=metaclasses[gt] == metaclasses[pc],
        **changes,
    )


def quality_changes(image: Image.Image) -> dict[str, Any]:
    quality = image_quality.measure_image_quality(image)
    return dataclasses.asdict(quality)


@pytest.fixture(scope="module")
def sharp_image() -> Image.Image:
    root = os.environ.get("FAILCAT_TEST_DATA")
    if not root:
        pytest.skip("FAILCAT_TEST_DATA is not set; point it at the test data folder")
    path = Path(root) / "imagenet-samples" / SHARP_SAMPLE
    if not path.is_file():
        pytest.fail(f"FAILCAT_TEST_DATA is set but {path} is missing")
    with Image.open(path) as image:
        return image.convert("RGB")


def test_neutral_evidence_is_incorrect_pc() -> None:
    suggestion = triage.suggest(neutral_evidence())
    assert suggestion.category == "incorrect_pc"


def test_real_sibling_prediction_is_similar_labels() -> None:
    evidence = evidence_for_classes(
        NOTEBOOK, LAPTOP, real_available=True, gt_in_real=True, pc_in_real=True
    )
    suggestion = triage.suggest(evidence)
    assert suggestion.category == "similar_labels"
    assert ("wordnet_distance", 2) in suggestion.decided_by


def test_real_far_prediction_is_not_salient_gt() -> None:
    evidence = evidence_for_classes(
        DESKTOP_COMPUTER, MONITOR, real_available=True, gt_in_real=True, pc_in_real=True
    )
    assert triage.suggest(evidence).category == "not_salient_gt"


def test_same_metaclass_deep_hypernym_is_close() -> None:
    evidence = neutral_evidence(
        real_available=True,
        gt_in_real=True,
        pc_in_real=True,
        wordnet_distance=6,
        same_metaclass=True,
        lch_depth=triage.DEEP_LCH_DEPTH,
    )
    assert triage.suggest(evidence).category == "similar_labels"


def test_same_metaclass_shallow_hypernym_is_far() -> None:
    evidence = neutral_evidence(
        real_available=True,
        gt_in_real=True,
        pc_in_real=True,
        wordnet_distance=6,
        same_metaclass=True,
        lch_depth=triage.DEEP_LCH_DEPTH - 1,
    )
    assert triage.suggest(evidence).category == "not_salient_gt"


def test_gt_missing_from_real_is_incorrect_gt() -> None:
    evidence = neutral_evidence(real_available=True, gt_in_real=False, pc_in_real=True)
    suggestion = triage.suggest(evidence)
    assert suggestion.category == "incorrect_gt"
    assert ("gt_in_real", False) in suggestion.decided_by


def test_prediction_missing_from_real_is_incorrect_pc() -> None:
    evidence = neutral_evidence(real_available=True, gt_in_real=True, pc_in_real=False)
    assert triage.suggest(evidence).category == "incorrect_pc"


def test_blurred_copy_is_challenging(sharp_image: Image.Image) -> None:
    blurred = sharp_image.filter(ImageFilter.GaussianBlur(radius=4))
    suggestion = triage.suggest(neutral_evidence(**quality_changes(blurred)))
    assert suggestion.category == "challenging_image"
    assert suggestion.decided_by[1][0] == "sharpness"


def test_sharp_original_is_not_challenging(sharp_image: Image.Image) -> None:
    suggestion = triage.suggest(neutral_evidence(**quality_changes(sharp_image)))
    assert suggestion.category != "challenging_image"


def test_dark_copy_is_challenging(sharp_image: Image.Image) -> None:
    dark = ImageEnhance.Brightness(sharp_image).enhance(0.05)
    suggestion = triage.suggest(neutral_evidence(**quality_changes(dark)))
    assert suggestion.category == "challenging_image"
    assert "brightness" in [name for name, _ in suggestion.decided_by]


def test_black_image_is_challenging() -> None:
    black = Image.new("RGB", (400, 300), (3, 3, 3))
    suggestion = triage.suggest(neutral_evidence(**quality_changes(black)))
    assert suggestion.category == "challenging_image"


def test_blur_without_real_prediction_is_challenging(
    sharp_image: Image.Image,
) -> None:
    blurred = sharp_image.filter(ImageFilter.GaussianBlur(radius=4))
    evidence = neutral_evidence(
        real_available=True,
        gt_in_real=True,
        pc_in_real=False,
        **quality_changes(blurred),
    )
    assert triage.suggest(evidence).category == "challenging_image"


def test_real_agreement_outranks_blur(sharp_image: Image.Image) -> None:
    blurred = sharp_image.filter(ImageFilter.GaussianBlur(radius=4))
    evidence = evidence_for_classes(
        NOTEBOOK,
        LAPTOP,
        real_available=True,
        gt_in_real=True,
        pc_in_real=True,
        **quality_changes(blurred),
    )
    assert triage.suggest(evidence).category == "similar_labels"


def test_split_high_entropy_vote_is_challenging() -> None:
    evidence = neutral_evidence(members_for_pc=1, entropy=math.log(8))
    suggestion = triage.suggest(evidence)
    assert suggestion.category == "challenging_image"
    assert ("members_for_pc", 1) in suggestion.decided_by


def test_unanimous_high_entropy_is_not_challenging() -> None:
    evidence = neutral_evidence(members_for_pc=3, entropy=math.log(8))
    assert triage.suggest(evidence).category != "challenging_image"


def test_empty_real_still_suggests() -> None:
    evidence = neutral_evidence(real_available=True, real_empty=True)
    suggestion = triage.suggest(evidence)
    assert suggestion.category in CATEGORIES
    assert ("real_empty", True) in suggestion.decided_by


UNREADABLE_IMAGE = {
    "sharpness": None,
    "brightness": None,
    "contrast": None,
    "width": None,
    "height": None,
}


def test_unreadable_image_still_suggests() -> None:
    suggestion = triage.suggest(neutral_evidence(**UNREADABLE_IMAGE))
    assert suggestion.category == "incorrect_pc"


def test_unreadable_image_gives_no_image_signal() -> None:
    evidence = neutral_evidence(**UNREADABLE_IMAGE)
    assert triage.challenging_signals(evidence) == []


def test_unreadable_image_keeps_split_vote() -> None:
    evidence = neutral_evidence(
        members_for_pc=1, entropy=math.log(8), **UNREADABLE_IMAGE
    )
    assert triage.suggest(evidence).category == "challenging_image"


def test_unreadable_image_with_real_uses_real() -> None:
    evidence = evidence_for_classes(
        LAPTOP,
        NOTEBOOK,
        real_available=True,
        gt_in_real=True,
        pc_in_real=True,
        **UNREADABLE_IMAGE,
    )
    assert triage.suggest(evidence).category == "similar_labels"


def test_close_runner_up_is_similar_labels() -> None:
    evidence = evidence_for_classes(
        NOTEBOOK, LAPTOP, gt_rank=2, gt_probability=0.35, pc_probability=0.45
    )
    assert triage.suggest(evidence).category == "similar_labels"


def test_far_runner_up_is_not_salient_gt() -> None:
    evidence = neutral_evidence(gt_rank=2, gt_probability=0.35, pc_probability=0.45)
    assert triage.suggest(evidence).category == "not_salient_gt"


def test_confident_far_is_incorrect_gt() -> None:
    evidence = neutral_evidence(
        members_for_pc=3, pc_probability=0.95, gt_probability=0.01, entropy=0.3
    )
    suggestion = triage.suggest(evidence)
    assert suggestion.category == "incorrect_gt"
    assert suggestion.confidence <= triage.BASE_WITHOUT_REAL["incorrect_gt"]


def test_confident_close_is_not_incorrect_gt() -> None:
    evidence = evidence_for_classes(
        NOTEBOOK,
        LAPTOP,
        members_for_pc=3,
        pc_probability=0.95,
        gt_probability=0.01,
        entropy=0.3,
    )
    assert triage.suggest(evidence).category != "incorrect_gt"


def test_real_outranks_fallback_confidence() -> None:
    with_real = neutral_evidence(real_available=True, pc_in_real=True)
    without_real = neutral_evidence(
        members_for_pc=3, pc_probability=0.95, gt_probability=0.01, entropy=0.3
    )
    assert (
        triage.suggest(with_real).confidence > triage.suggest(without_real).confidence
    )


def test_contradicting_signals_lower_confidence() -> None:
    agreeing = evidence_for_classes(
        NOTEBOOK,
        LAPTOP,
        real_available=True,
        gt_in_real=True,
        pc_in_real=True,
        gt_rank=2,
        members_for_gt=1,
    )
    contradicted = dataclasses.replace(agreeing, gt_rank=40, same_metaclass=False)
    assert triage.suggest(contradicted).confidence < triage.suggest(agreeing).confidence


def test_imagenet_x_factors_support_not_salient_gt() -> None:
    base = neutral_evidence(
        real_available=True, gt_in_real=True, pc_in_real=True, gt_rank=30
    )
    with_factor = dataclasses.replace(base, imagenet_x_factors=["multiple_objects"])
    without_factor = dataclasses.replace(base, imagenet_x_factors=["pose"])
    assert (
        triage.suggest(with_factor).confidence
        > triage.suggest(without_factor).confidence
    )


def test_factor_list_is_stored_as_tuple() -> None:
    evidence = neutral_evidence(imagenet_x_factors=["darker", "pose"])
    assert evidence.imagenet_x_factors == ("darker", "pose")


def test_confidence_always_within_unit_interval() -> None:
    real_states = [
        {"real_available": False},
        {"real_available": True, "real_empty": True},
        {"real_available": True, "gt_in_real": True, "pc_in_real": True},
        {"real_available": True, "gt_in_real": False, "pc_in_real": True},
        {"real_available": True, "gt_in_real": True, "pc_in_real": False},
        {"real_available": True, "gt_in_real": False, "pc_in_real": False},
    ]
    semantics = [
        {"wordnet_distance": 2, "same_metaclass": True, "lch_depth": 12},
        {"wordnet_distance": 9, "same_metaclass": False, "lch_depth": 5},
    ]
    votes = [
        {"members_for_pc": 3, "members_for_gt": 0, "pc_probability": 0.95,
         "gt_probability": 0.01, "gt_rank": 7, "entropy": 0.2},
        {"members_for_pc": 1, "members_for_gt": 1, "pc_probability": 0.3,
         "gt_probability": 0.25, "gt_rank": 2, "entropy": 2.5},
    ]  # fmt: skip
    images = [
        {"sharpness": 500.0, "brightness": 120.0, "contrast": 50.0},
        {"sharpness": 5.0, "brightness": 10.0, "contrast": 4.0},
    ]
    factors: list[dict[str, Any]] = [
        {"imagenet_x_factors": None},
        {"imagenet_x_factors": ["multiple_objects", "darker"]},
        {"imagenet_x_factors": ["pose"]},
    ]
    for parts in itertools.product(real_states, semantics, votes, images, factors):
        changes = {key: value for part in parts for key, value in part.items()}
        suggestion = triage.suggest(neutral_evidence(**changes))
        assert suggestion.confidence >= 0.0, f"{suggestion} for {changes}"
        assert suggestion.confidence <= 1.0, f"{suggestion} for {changes}"
        assert suggestion.category in CATEGORIES, f"{suggestion} for {changes}"


@pytest.mark.parametrize(
    "changes",
    [
        {"gt_rank": 1},
        {"gt_in_real": True},
        {"real_available": True, "real_empty": True, "pc_in_real": True},
        {"members_for_pc": 3, "members_for_gt": 1},
        {"gt_probability": 0.6, "pc_probability": 0.5},
        {"imagenet_x_factors": ["blurry"]},
        {"width": 0},
        {"height": 0, "width": None},
    ],
)
def test_inconsistent_evidence_raises(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="invalid evidence"):
        neutral_evidence(**changes)


def test_softmax_entropy_uniform() -> None:
    assert triage.softmax_entropy([0.2] * 5) == pytest.approx(math.log(5))


def test_softmax_entropy_one_hot() -> None:
    assert triage.softmax_entropy([0.0, 1.0, 0.0]) == pytest.approx(0.0)
