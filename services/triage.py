"""Suggest a failure category from ImageNet ReaL, WordNet, the ensemble and pixels.

The five categories are those of Lee, Agarwal and Kim, "Why Do Deep Neural
Networks Still Not Recognize These Images? A Qualitative Analysis on Failure
Cases of ImageNet Classification". The rules, their thresholds with the reason for
each, and the definition of confidence are in docs/triage.md. A suggestion is a
starting point for an annotator, never a label.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from services import labels

CategoryKey = Literal[
    "similar_labels",
    "not_salient_gt",
    "challenging_image",
    "incorrect_gt",
    "incorrect_pc",
]
EvidenceValue = bool | int | float | str | tuple[str, ...] | None
EvidenceItem = tuple[str, EvidenceValue]

# Factor names of ImageNet-X (Idrissi et al., 2022), as its annotation files spell
# them.
IMAGENET_X_FACTORS = frozenset(labels.IMAGENET_X_FACTORS)
# Factors that make the ground-truth object less prominent in the image.
NOT_SALIENT_FACTORS = frozenset(
    {"multiple_objects", "smaller", "object_blocking", "person_blocking"}
)
# Factors that make the object harder to see for anyone.
CHALLENGING_FACTORS = frozenset(
    {
        "darker",
        "brighter",
        "partial_view",
        "object_blocking",
        "person_blocking",
        "style",
    }
)

# Thresholds, each with its reason in docs/triage.md.
CLOSE_WORDNET_DISTANCE = 4
DEEP_LCH_DEPTH = 9
TOP_K = 5
MIN_SHARPNESS = 50.0
MIN_BRIGHTNESS = 30.0
MAX_BRIGHTNESS = 225.0
MIN_CONTRAST = 15.0
HIGH_ENTROPY = math.log(5)
RUNNER_UP_GT_PROBABILITY = 0.2
CONFIDENT_PC_PROBABILITY = 0.8
NEGLIGIBLE_GT_PROBABILITY = 0.05

# Base confidence of each rule, before the agreement of the other signals.
BASE_WITH_REAL: dict[CategoryKey, float] = {
    "similar_labels": 0.9,
    "not_salient_gt": 0.8,
    "incorrect_gt": 0.9,
    "challenging_image": 0.6,
    "incorrect_pc": 0.7,
}
BASE_WITHOUT_REAL: dict[CategoryKey, float] = {
    "similar_labels": 0.5,
    "not_salient_gt": 0.4,
    "incorrect_gt": 0.3,
    "challenging_image": 0.5,
    "incorrect_pc": 0.3,
}


@dataclass(frozen=True, kw_only=True)
class Evidence:
    """Signals about one failure: the predicted class (PC) is not the ground truth.

    ImageNet ReaL (Beyer et al., "Are we done with ImageNet?", 2020) fields are
    all False when ``real_available`` is False, as for a folder image.
    Probabilities come from the averaged softmax of the ensemble, ``entropy`` is
    its entropy in nats, and ``gt_rank`` is the 1-based rank of the ground truth
    in it. Image statistics are those of ``services.image_quality``; they are
    None when the image file could not be read, and then give no signal.
    """

    real_available: bool
    gt_in_real: bool
    pc_in_real: bool
    real_empty: bool
    wordnet_distance: int
    lch_depth: int
    same_metaclass: bool
    entropy: float
    members_for_pc: int
    members_for_gt: int
    n_members: int
    gt_rank: int
    gt_probability: float
    pc_probability: float
    sharpness: float | None
    brightness: float | None
    contrast: float | None
    width: int | None
    height: int | None
    # ImageNet-X factors annotated for the image; None when it has no annotation.
    imagenet_x_factors: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.imagenet_x_factors is not None:
            # Accept any sequence, such as a list read from JSON, but store a tuple
            # so that the frozen evidence stays hashable.
            object.__setattr__(
                self, "imagenet_x_factors", tuple(self.imagenet_x_factors)
            )
        problems = _evidence_problems(self)
        if problems:
            raise ValueError("invalid evidence: " + "; ".join(problems))


def _evidence_problems(evidence: Evidence) -> list[str]:
    """Return a description of each inconsistency in ``evidence``."""
    problems = []

    if not evidence.real_available and (
        evidence.gt_in_real or evidence.pc_in_real or evidence.real_empty
    ):
        problems.append("ReaL fields must be False when real_available is False")
    if evidence.real_empty and (evidence.gt_in_real or evidence.pc_in_real):
        problems.append("an empty ReaL list cannot contain the ground truth or PC")

    if evidence.n_members < 1:
        problems.append(f"n_members is {evidence.n_members}; expected at least 1")
    votes = evidence.members_for_pc + evidence.members_for_gt
    if min(evidence.members_for_pc, evidence.members_for_gt) < 0 or (
        votes > evidence.n_members
    ):
        problems.append(
            f"members_for_pc={evidence.members_for_pc} and members_for_gt="
            f"{evidence.members_for_gt} must be non-negative and sum to at most "
            f"n_members={evidence.n_members}"
        )

    if evidence.gt_rank < 2:
        problems.append(
            f"gt_rank is {evidence.gt_rank}; a failure ranks the ground truth "
            "second or lower"
        )
    if not 0.0 <= evidence.gt_probability <= evidence.pc_probability <= 1.0:
        problems.append(
            f"expected 0 <= gt_probability ({evidence.gt_probability}) <= "
            f"pc_probability ({evidence.pc_probability}) <= 1"
        )
    if evidence.entropy < 0.0:
        problems.append(f"entropy is {evidence.entropy}; expected at least 0")

    if evidence.wordnet_distance < 1 or evidence.lch_depth < 0:
        problems.append(
            f"wordnet_distance={evidence.wordnet_distance} must be at least 1 and "
            f"lch_depth={evidence.lch_depth} at least 0"
        )
    if (evidence.width is not None and evidence.width < 1) or (
        evidence.height is not None and evidence.height < 1
    ):
        problems.append(f"image size {evidence.width}x{evidence.height} is empty")

    unknown = sorted(set(evidence.imagenet_x_factors or ()) - IMAGENET_X_FACTORS)
    if unknown:
        problems.append(f"unknown ImageNet-X factors {unknown}")
    return problems


@dataclass(frozen=True)
class Suggestion:
    """A suggested category, how sure the rules are, and the evidence they used."""

    category: CategoryKey
    # base confidence of the rule times the agreement of the other signals, 0 to 1
    confidence: float
    # (name, value) of the evidence items that fired the rule, then those that
    # supported or contradicted it
    decided_by: list[EvidenceItem]


@dataclass(frozen=True)
class _Check:
    name: str
    value: EvidenceValue
    # None shows the item in decided_by without counting it, for the second item
    # of a signal that two items describe.
    supports: bool | None


def softmax_entropy(probabilities: Sequence[float] | np.ndarray) -> float:
    """Return the entropy in nats of a probability vector, such as a softmax."""
    values = np.asarray(probabilities, dtype=np.float64)
    positive = values[values > 0.0]
    return float(-(positive * np.log(positive)).sum())


def _closeness(evidence: Evidence) -> list[EvidenceItem]:
    """Return the items that make the two classes semantically close, or []."""
    if evidence.wordnet_distance <= CLOSE_WORDNET_DISTANCE:
        return [("wordnet_distance", evidence.wordnet_distance)]
    if evidence.same_metaclass and evidence.lch_depth >= DEEP_LCH_DEPTH:
        return [("same_metaclass", True), ("lch_depth", evidence.lch_depth)]
    return []


def _remoteness(evidence: Evidence) -> list[EvidenceItem]:
    return [
        ("wordnet_distance", evidence.wordnet_distance),
        ("same_metaclass", evidence.same_metaclass),
        ("lch_depth", evidence.lch_depth),
    ]


def _is_split_vote(evidence: Evidence) -> bool:
    return (
        evidence.members_for_pc < evidence.n_members
        and evidence.entropy >= HIGH_ENTROPY
    )


def _is_confident_unanimous(evidence: Evidence) -> bool:
    return (
        evidence.members_for_pc == evidence.n_members
        and evidence.pc_probability >= CONFIDENT_PC_PROBABILITY
    )


def challenging_signals(evidence: Evidence) -> list[list[EvidenceItem]]:
    """Return the signals that mark the image as hard to read, each as the
    evidence items that describe it, in a fixed order: sharpness, brightness,
    contrast, then a split vote. A statistic that is None gives no signal."""
    signals: list[list[EvidenceItem]] = []
    if evidence.sharpness is not None and evidence.sharpness < MIN_SHARPNESS:
        signals.append([("sharpness", evidence.sharpness)])
    if evidence.brightness is not None and not (
        MIN_BRIGHTNESS <= evidence.brightness <= MAX_BRIGHTNESS
    ):
        signals.append([("brightness", evidence.brightness)])
    if evidence.contrast is not None and evidence.contrast < MIN_CONTRAST:
        signals.append([("contrast", evidence.contrast)])
    if _is_split_vote(evidence):
        signals.append(
            [
                ("entropy", evidence.entropy),
                ("members_for_pc", evidence.members_for_pc),
            ]
        )
    return signals


def _factor_check(
    evidence: Evidence, factors: frozenset[str], when_absent_contradicts: bool
) -> list[_Check]:
    if evidence.imagenet_x_factors is None:
        return []
    present = tuple(sorted(factors.intersection(evidence.imagenet_x_factors)))
    if present:
        return [_Check("imagenet_x_factors", present, True)]
    if when_absent_contradicts:
        return [_Check("imagenet_x_factors", evidence.imagenet_x_factors, False)]
    return []


def _checks_similar_labels(evidence: Evidence) -> list[_Check]:
    checks = [
        _Check("gt_rank", evidence.gt_rank, evidence.gt_rank <= TOP_K),
        _Check("same_metaclass", evidence.same_metaclass, evidence.same_metaclass),
    ]
    if evidence.members_for_gt >= 1:
        checks.append(_Check("members_for_gt", evidence.members_for_gt, True))
    return checks


def _checks_not_salient_gt(evidence: Evidence) -> list[_Check]:
    checks = _factor_check(evidence, NOT_SALIENT_FACTORS, True)
    if evidence.gt_rank <= TOP_K:
        checks.append(_Check("gt_rank", evidence.gt_rank, True))
    return checks


def _checks_incorrect_gt(evidence: Evidence) -> list[_Check]:
    checks = [
        _Check(
            "members_for_pc",
            evidence.members_for_pc,
            evidence.members_for_pc == evidence.n_members,
        )
    ]
    if evidence.members_for_gt >= 1:
        checks.append(_Check("members_for_gt", evidence.members_for_gt, False))
    if evidence.gt_probability <= NEGLIGIBLE_GT_PROBABILITY:
        checks.append(_Check("gt_probability", evidence.gt_probability, True))
    elif evidence.gt_probability >= RUNNER_UP_GT_PROBABILITY:
        checks.append(_Check("gt_probability", evidence.gt_probability, False))
    return checks


def _checks_challenging_image(
    evidence: Evidence, further_signals: list[list[EvidenceItem]]
) -> list[_Check]:
    checks = []
    for items in further_signals:
        (name, value), *rest = items
        checks.append(_Check(name, value, True))
        checks += [_Check(name, value, None) for name, value in rest]
    checks += _factor_check(evidence, CHALLENGING_FACTORS, False)
    if _is_confident_unanimous(evidence):
        checks.append(_Check("pc_probability", evidence.pc_probability, False))
    return checks


def _checks_incorrect_pc(evidence: Evidence, with_real: bool) -> list[_Check]:
    checks = []
    if with_real:
        checks.append(_Check("gt_in_real", evidence.gt_in_real, evidence.gt_in_real))
    if evidence.gt_rank <= TOP_K:
        checks.append(_Check("gt_rank", evidence.gt_rank, True))
    # Without ReaL, a confident unanimous prediction far from the ground truth
    # hints at a label error instead.
    if not with_real and _is_confident_unanimous(evidence) and not _closeness(evidence):
        checks.append(_Check("pc_probability", evidence.pc_probability, False))
    return checks


def _finish(
    category: CategoryKey,
    base: float,
    primary: list[EvidenceItem],
    checks: list[_Check],
) -> Suggestion:
    """Combine a rule's base confidence with the agreement of its checks.

    agreement = (1 + supporting) / (1 + supporting + contradicting), so the
    confidence stays within [0, base] and falls as signals disagree. A check on
    an item the rule already fired on is dropped, so no item counts twice.
    """
    used = {name for name, _ in primary}
    counted = [check for check in checks if check.name not in used]
    supporting = sum(check.supports is True for check in counted)
    contradicting = sum(check.supports is False for check in counted)
    agreement = (1 + supporting) / (1 + supporting + contradicting)
    decided_by = primary + [(check.name, check.value) for check in counted]
    return Suggestion(category, round(base * agreement, 4), decided_by)


def _suggest_with_real(evidence: Evidence) -> Suggestion:
    base = BASE_WITH_REAL
    real_items: list[EvidenceItem] = [
        ("gt_in_real", evidence.gt_in_real),
        ("pc_in_real", evidence.pc_in_real),
    ]
    if evidence.gt_in_real and evidence.pc_in_real:
        close = _closeness(evidence)
        if close:
            return _finish(
                "similar_labels",
                base["similar_labels"],
                real_items + close,
                _checks_similar_labels(evidence),
            )
        return _finish(
            "not_salient_gt",
            base["not_salient_gt"],
            real_items + _remoteness(evidence),
            _checks_not_salient_gt(evidence),
        )
    if evidence.pc_in_real:
        return _finish(
            "incorrect_gt",
            base["incorrect_gt"],
            real_items,
            _checks_incorrect_gt(evidence),
        )
    signals = challenging_signals(evidence)
    if signals:
        return _finish(
            "challenging_image",
            base["challenging_image"],
            [("pc_in_real", False), *signals[0]],
            _checks_challenging_image(evidence, signals[1:]),
        )
    return _finish(
        "incorrect_pc",
        base["incorrect_pc"],
        [("pc_in_real", False)],
        _checks_incorrect_pc(evidence, with_real=True),
    )


def _suggest_without_real(evidence: Evidence) -> Suggestion:
    base = BASE_WITHOUT_REAL
    no_real: EvidenceItem = (
        ("real_empty", True) if evidence.real_available else ("real_available", False)
    )
    runner_up = (
        evidence.gt_rank == 2 and evidence.gt_probability >= RUNNER_UP_GT_PROBABILITY
    )
    split_items: list[EvidenceItem] = [
        no_real,
        ("gt_rank", evidence.gt_rank),
        ("gt_probability", evidence.gt_probability),
    ]
    close = _closeness(evidence)
    if runner_up and close:
        return _finish(
            "similar_labels",
            base["similar_labels"],
            split_items + close,
            _checks_similar_labels(evidence),
        )
    signals = challenging_signals(evidence)
    if signals:
        return _finish(
            "challenging_image",
            base["challenging_image"],
            [no_real, *signals[0]],
            _checks_challenging_image(evidence, signals[1:]),
        )
    if runner_up:
        return _finish(
            "not_salient_gt",
            base["not_salient_gt"],
            split_items + _remoteness(evidence),
            _checks_not_salient_gt(evidence),
        )
    if (
        _is_confident_unanimous(evidence)
        and evidence.gt_probability <= NEGLIGIBLE_GT_PROBABILITY
        and not close
    ):
        return _finish(
            "incorrect_gt",
            base["incorrect_gt"],
            [
                no_real,
                ("members_for_pc", evidence.members_for_pc),
                ("pc_probability", evidence.pc_probability),
                ("gt_probability", evidence.gt_probability),
            ]
            + _remoteness(evidence),
            _checks_incorrect_gt(evidence),
        )
    return _finish(
        "incorrect_pc",
        base["incorrect_pc"],
        [no_real],
        _checks_incorrect_pc(evidence, with_real=False),
    )


def suggest(evidence: Evidence) -> Suggestion:
    """Suggest one of the five failure categories for a failure's evidence.

    With a non-empty ImageNet ReaL list, the human multi-labels decide first.
    Without one (an empty list, or an image outside the validation set), the
    ensemble's probabilities, WordNet and image statistics decide at lower
    confidence.
    """
    if evidence.real_available and not evidence.real_empty:
        return _suggest_with_real(evidence)
    return _suggest_without_real(evidence)
