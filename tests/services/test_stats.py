"""Tests of the annotation statistics, with expected values worked out by hand."""

from __future__ import annotations

import csv
import io
import math

import pytest
import scipy.special
import scipy.stats

from services import stats
from services.categories import CATEGORY_KEYS
from services.errors import InvalidFieldError
from services.stats import (
    TABLE_COLUMNS,
    agreement_report,
    category_distribution,
    chi2_sf,
    chi_square_vs_paper,
    cohen_kappa,
    cohen_kappa_per_category,
    confusion_matrix,
    confusion_pairs,
    distribution_from_counts,
    fleiss_kappa,
    fleiss_kappa_per_category,
    per_category_kappa,
    precision_recall,
    regularized_upper_gamma,
    to_csv,
    to_markdown,
    to_text_table,
    wilson_interval,
)

# Table 1 of Lee, Agarwal and Kim, "Why Do Deep Neural Networks Still Not Recognize
# These Images? A Qualitative Analysis on Failure Cases of ImageNet Classification".
PAPER_COUNTS = {
    "similar_labels": 61,
    "not_salient_gt": 87,
    "challenging_image": 43,
    "incorrect_gt": 79,
    "incorrect_pc": 130,
}

# z for 95% is the 0.975 quantile of the standard normal, 1.959963984540054, so
# z**2 = 3.841458820694124.
Z2 = 3.841458820694124

SL, NS, CI, IG, IP = CATEGORY_KEYS


# --- Wilson interval ---------------------------------------------------------------


def test_wilson_paper_similar_labels() -> None:
    # p = 61/400 = 0.1525, z**2/n = 3.8414588/400 = 0.0096036, d = 1.0096036
    # center = (0.1525 + 0.0048018) / 1.0096036 = 0.1573018 / 1.0096036 = 0.1558055
    # p (1 - p) / n = 0.1525 * 0.8475 / 400 = 0.00032311
    # z**2 / (4 n**2) = 3.8414588 / 640000 = 0.0000060023
    # half = 1.959964 * sqrt(0.00032911) / 1.0096036
    #      = 1.959964 * 0.0181414 / 1.0096036 = 0.0352183
    # interval = (0.1558055 - 0.0352183, 0.1558055 + 0.0352183)
    low, high = wilson_interval(61, 400)
    assert low == pytest.approx(0.1205872, abs=1e-6)
    assert high == pytest.approx(0.1910238, abs=1e-6)


def test_wilson_zero_successes() -> None:
    # With p = 0 the bounds are 0 and z**2 / (n + z**2) = 3.8414588 / 13.8414588
    low, high = wilson_interval(0, 10)
    assert low == 0.0
    assert high == pytest.approx(Z2 / (10 + Z2), abs=1e-12)
    assert high == pytest.approx(0.2775328, abs=1e-6)


def test_wilson_all_successes() -> None:
    # With p = 1 the bounds are n / (n + z**2) = 10 / 13.8414588 and 1
    low, high = wilson_interval(10, 10)
    assert low == pytest.approx(0.7224672, abs=1e-6)
    assert high == 1.0


def test_wilson_no_trials() -> None:
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_wilson_wider_at_higher_confidence() -> None:
    low95, high95 = wilson_interval(61, 400, 0.95)
    low99, high99 = wilson_interval(61, 400, 0.99)
    assert low99 < low95
    assert high99 > high95


@pytest.mark.parametrize(
    ("successes", "n", "confidence"),
    [(-1, 10, 0.95), (11, 10, 0.95), (0, -1, 0.95), (1, 10, 0.0), (1, 10, 1.0)],
)
def test_wilson_rejects_invalid(successes: int, n: int, confidence: float) -> None:
    with pytest.raises(ValueError):
        wilson_interval(successes, n, confidence)


# --- Distribution --------------------------------------------------------------


def test_distribution_of_paper_counts() -> None:
    labels = [key for key, count in PAPER_COUNTS.items() for _ in range(count)]
    distribution = category_distribution(labels)
    assert distribution.total == 400
    # 61/400, 87/400, 43/400, 79/400, 130/400
    expected_rates = [0.1525, 0.2175, 0.1075, 0.1975, 0.325]
    for row, rate in zip(distribution.rows, expected_rates, strict=True):
        assert row.rate == pytest.approx(rate, abs=1e-15), row.category.key
        assert row.count == PAPER_COUNTS[row.category.key]


def test_distribution_rows_in_id_order() -> None:
    distribution = category_distribution([])
    assert [row.category.id for row in distribution.rows] == [1, 2, 3, 4, 5]


def test_distribution_interval_per_row() -> None:
    distribution = category_distribution(
        ["similar_labels"] * 61 + ["incorrect_pc"] * 339
    )
    row = distribution.row("similar_labels")
    assert (row.ci_low, row.ci_high) == wilson_interval(61, 400)


def test_distribution_accepts_ids_and_keys() -> None:
    # 2 labels of id 1, 1 of id 3; total 3; rate of id 1 = 2/3
    distribution = category_distribution([1, "similar_labels", "3"])
    assert distribution.total == 3
    assert distribution.row(1).count == 2
    assert distribution.row(1).rate == pytest.approx(2 / 3)
    assert distribution.row("challenging_image").count == 1
    assert distribution.row(5).count == 0


def test_distribution_empty() -> None:
    distribution = category_distribution([])
    assert distribution.total == 0
    for row in distribution.rows:
        assert row.rate == 0.0
        assert (row.ci_low, row.ci_high) == (0.0, 1.0)


def test_distribution_unknown_label_raises() -> None:
    with pytest.raises(InvalidFieldError):
        category_distribution(["similar_labels", "blurry"])


def test_distribution_from_counts_sums_aliases() -> None:
    distribution = distribution_from_counts({1: 2, "similar_labels": 3, "5": 5})
    # 2 + 3 = 5 for id 1; total 10; rate 0.5
    assert distribution.row(1).count == 5
    assert distribution.row(1).rate == 0.5


def test_distribution_from_counts_rejects_negative() -> None:
    with pytest.raises(ValueError):
        distribution_from_counts({"incorrect_pc": -1})


def test_distribution_as_dict() -> None:
    data = category_distribution(["incorrect_gt"]).as_dict()
    assert data["total"] == 1
    assert data["confidence"] == 0.95
    assert [row["category"] for row in data["categories"]] == list(CATEGORY_KEYS)
    assert set(data["categories"][3]) == set(TABLE_COLUMNS)
    assert data["categories"][3]["paper_rate"] == pytest.approx(0.1975)


# --- Chi-square against Lee, Agarwal and Kim's counts ---------------------------


def test_chi_square_of_paper_counts_is_zero() -> None:
    result = chi_square_vs_paper(PAPER_COUNTS)
    assert result.statistic == pytest.approx(0.0, abs=1e-12)
    assert result.degrees_of_freedom == 4
    assert result.p_value == pytest.approx(1.0, abs=1e-12)
    assert result.total == 400


def test_chi_square_by_hand() -> None:
    # Move 20 failures from not_salient_gt to similar_labels, n = 400.
    # Expected counts are the reference counts: 61, 87, 43, 79, 130.
    # statistic = 20**2 / 61 + 20**2 / 87 = 6.557377 + 4.597701 = 11.155078
    counts = dict(PAPER_COUNTS, similar_labels=81, not_salient_gt=67)
    result = chi_square_vs_paper(counts)
    assert result.statistic == pytest.approx(400 / 61 + 400 / 87, rel=1e-12)
    assert result.statistic == pytest.approx(11.155078, abs=1e-6)


def test_chi_square_skewed_matches_scipy() -> None:
    counts = {SL: 100, NS: 25, CI: 25, IG: 25, IP: 25}
    result = chi_square_vs_paper(counts)
    # Expected counts for n = 200: 30.5, 43.5, 21.5, 39.5, 65.0
    assert result.expected[SL] == pytest.approx(30.5)
    assert result.expected[IP] == pytest.approx(65.0)
    reference = scipy.stats.chisquare(
        [100, 25, 25, 25, 25], [30.5, 43.5, 21.5, 39.5, 65.0]
    )
    assert result.statistic == pytest.approx(float(reference.statistic), rel=1e-12)
    assert result.p_value == pytest.approx(float(reference.pvalue), rel=1e-9)


def test_chi_square_missing_categories_count_zero() -> None:
    # n = 10, all in incorrect_pc. Expected = 10 * rate: 1.525, 2.175, 1.075,
    # 1.975, 3.25. statistic = 1.525 + 2.175 + 1.075 + 1.975 + (10 - 3.25)**2 / 3.25
    #                        = 6.75 + 14.019231 = 20.769231
    result = chi_square_vs_paper({"incorrect_pc": 10})
    assert result.statistic == pytest.approx(6.75 + 6.75**2 / 3.25, rel=1e-12)


def test_chi_square_rejects_empty() -> None:
    with pytest.raises(ValueError):
        chi_square_vs_paper({})


def test_chi_square_fallback_matches_scipy(monkeypatch: pytest.MonkeyPatch) -> None:
    counts = {SL: 100, NS: 25, CI: 25, IG: 25, IP: 25}
    with_scipy = chi_square_vs_paper(counts).p_value
    monkeypatch.setattr(stats, "_scipy_chi2_sf", lambda: None)
    without_scipy = chi_square_vs_paper(counts).p_value
    assert without_scipy == pytest.approx(with_scipy, rel=1e-9)


def test_chi2_sf_fallback_at_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stats, "_scipy_chi2_sf", lambda: None)
    assert chi2_sf(0.0, 4) == 1.0


def test_chi2_sf_uses_scipy_when_present() -> None:
    assert stats._scipy_chi2_sf() is not None


@pytest.mark.parametrize(("statistic", "degrees_of_freedom"), [(-1.0, 4), (1.0, 0)])
def test_chi2_sf_rejects_invalid(statistic: float, degrees_of_freedom: int) -> None:
    with pytest.raises(ValueError):
        chi2_sf(statistic, degrees_of_freedom)


# --- Fallback incomplete gamma -------------------------------------------------

GAMMA_A = [0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 5.0, 10.0, 25.0, 50.0, 100.0]
GAMMA_X = [
    0.0,
    1e-6,
    0.01,
    0.1,
    0.5,
    1.0,
    1.5,
    2.0,
    3.0,
    5.0,
    10.0,
    20.0,
    50.0,
    100.0,
    150.0,
]


@pytest.mark.parametrize("a", GAMMA_A)
def test_upper_gamma_matches_scipy(a: float) -> None:
    for x in GAMMA_X:
        expected = float(scipy.special.gammaincc(a, x))
        actual = regularized_upper_gamma(a, x)
        assert math.isclose(actual, expected, rel_tol=1e-9, abs_tol=1e-9), (a, x)


def test_upper_gamma_exponential_case() -> None:
    # Q(1, x) = exp(-x), so Q(1, 2) = 0.1353352832
    assert regularized_upper_gamma(1.0, 2.0) == pytest.approx(math.exp(-2.0), rel=1e-13)


def test_upper_gamma_small_tail_relative() -> None:
    # Deep in the tail the continued fraction keeps relative precision.
    expected = float(scipy.special.gammaincc(2.0, 200.0))
    assert regularized_upper_gamma(2.0, 200.0) == pytest.approx(expected, rel=1e-9)


def test_upper_gamma_infinite_x() -> None:
    assert regularized_upper_gamma(2.0, math.inf) == 0.0


@pytest.mark.parametrize(("a", "x"), [(0.0, 1.0), (-1.0, 1.0), (1.0, -0.5)])
def test_upper_gamma_rejects_invalid(a: float, x: float) -> None:
    with pytest.raises(ValueError):
        regularized_upper_gamma(a, x)


# --- Cohen's kappa -------------------------------------------------------------

# Ten failures labelled by two annotators, over three categories:
#   (SL, SL) x4, (SL, NS) x1, (NS, NS) x3, (CI, CI) x1, (CI, SL) x1
COHEN_PAIRS = [(SL, SL)] * 4 + [(SL, NS)] + [(NS, NS)] * 3 + [(CI, CI)] + [(CI, SL)]


def test_cohen_kappa_by_hand() -> None:
    # p_o = (4 + 3 + 1) / 10 = 0.8
    # first annotator: SL 5, NS 3, CI 2; second: SL 5, NS 4, CI 1
    # p_e = (5*5 + 3*4 + 2*1) / 100 = 39 / 100 = 0.39
    # kappa = (0.8 - 0.39) / (1 - 0.39) = 0.41 / 0.61 = 0.6721311
    assert cohen_kappa(COHEN_PAIRS) == pytest.approx(0.41 / 0.61, rel=1e-12)


def test_cohen_kappa_two_by_two() -> None:
    # 2x2 table: (SL, SL) 20, (SL, IP) 5, (IP, SL) 10, (IP, IP) 15; n = 50
    # p_o = 35 / 50 = 0.7; first: SL 25, IP 25; second: SL 30, IP 20
    # p_e = (25*30 + 25*20) / 2500 = 1250 / 2500 = 0.5; kappa = 0.2 / 0.5 = 0.4
    pairs = [(SL, SL)] * 20 + [(SL, IP)] * 5 + [(IP, SL)] * 10 + [(IP, IP)] * 15
    assert cohen_kappa(pairs) == pytest.approx(0.4, rel=1e-12)


def test_cohen_kappa_perfect_agreement() -> None:
    pairs = [(SL, SL), (NS, NS), (CI, CI), (IG, IG), (IP, IP), (IP, IP)]
    assert cohen_kappa(pairs) == 1.0


def test_cohen_kappa_accepts_ids() -> None:
    # (1, 2) and (2, 1): p_o = 0; p_e = (1*1 + 1*1) / 4 = 0.5; kappa = -0.5 / 0.5
    assert cohen_kappa([(1, "2"), ("not_salient_gt", 1)]) == -1.0


def test_cohen_kappa_undefined_cases() -> None:
    assert cohen_kappa([]) is None
    # Both annotators used only SL, so p_e = 1.
    assert cohen_kappa([(SL, SL), (SL, SL)]) is None


def test_cohen_kappa_rejects_unknown_label() -> None:
    with pytest.raises(InvalidFieldError):
        cohen_kappa([(SL, "dog")])


def test_cohen_per_category_by_hand() -> None:
    result = cohen_kappa_per_category(COHEN_PAIRS)
    # SL vs rest: both SL 4, both not SL 4 (NS-NS 3, CI-CI 1); p_o = 0.8
    # first SL 5/10, second SL 5/10; p_e = 0.5*0.5 + 0.5*0.5 = 0.5
    # kappa = 0.3 / 0.5 = 0.6
    assert result[SL] == pytest.approx(0.6, rel=1e-12)
    # NS vs rest: both NS 3, both not NS 6; p_o = 0.9
    # first NS 3/10, second NS 4/10; p_e = 0.3*0.4 + 0.7*0.6 = 0.54
    # kappa = 0.36 / 0.46 = 0.7826087
    assert result[NS] == pytest.approx(0.36 / 0.46, rel=1e-12)
    # CI vs rest: both CI 1, both not CI 8; p_o = 0.9
    # first CI 2/10, second CI 1/10; p_e = 0.2*0.1 + 0.8*0.9 = 0.74
    # kappa = 0.16 / 0.26 = 0.6153846
    assert result[CI] == pytest.approx(0.16 / 0.26, rel=1e-12)
    # Neither annotator used IG or IP, so p_e = 1 and kappa is undefined.
    assert result[IG] is None
    assert result[IP] is None


# --- Fleiss' kappa -------------------------------------------------------------

# Five failures, three annotators each.
FLEISS_TABLE = [
    [SL, SL, SL],
    [SL, SL, NS],
    [NS, NS, NS],
    [CI, CI, SL],
    [NS, CI, SL],
]


def test_fleiss_kappa_by_hand() -> None:
    # n = 3, N = 5. P_i = (sum_j n_ij**2 - n) / (n (n - 1)):
    #   (9 - 3)/6 = 1, (4 + 1 - 3)/6 = 1/3, 1, 1/3, (1 + 1 + 1 - 3)/6 = 0
    # P-bar = (1 + 1/3 + 1 + 1/3 + 0) / 5 = 8/15
    # category totals: SL 7, NS 5, CI 3 of 15 labels
    # P_e = (49 + 25 + 9) / 225 = 83/225
    # kappa = (120/225 - 83/225) / (142/225) = 37/142 = 0.2605634
    assert fleiss_kappa(FLEISS_TABLE) == pytest.approx(37 / 142, rel=1e-12)


def test_fleiss_per_category_by_hand() -> None:
    result = fleiss_kappa_per_category(FLEISS_TABLE)
    # kappa_j = 1 - sum_i n_ij (n - n_ij) / (N n (n - 1) p_j q_j), N n (n - 1) = 30
    # SL: n_i = 3, 2, 0, 1, 1 -> sum = 0 + 2 + 0 + 2 + 2 = 6
    #     p q = 7/15 * 8/15 = 56/225; kappa = 1 - 6 / (30 * 56/225) = 11/56
    assert result[SL] == pytest.approx(11 / 56, rel=1e-12)
    # NS: n_i = 0, 1, 3, 0, 1 -> sum = 2 + 2 = 4
    #     p q = 5/15 * 10/15 = 50/225; kappa = 1 - 4 / (30 * 50/225) = 0.4
    assert result[NS] == pytest.approx(0.4, rel=1e-12)
    # CI: n_i = 0, 0, 0, 2, 1 -> sum = 2 + 2 = 4
    #     p q = 3/15 * 12/15 = 36/225; kappa = 1 - 4 / (30 * 36/225) = 1/6
    assert result[CI] == pytest.approx(1 / 6, rel=1e-12)
    assert result[IG] is None
    assert result[IP] is None


def test_fleiss_overall_is_weighted_per_category() -> None:
    # Fleiss' kappa is the p_j q_j weighted mean of the per-category kappas:
    # (56 * 11/56 + 50 * 0.4 + 36 * 1/6) / (56 + 50 + 36) = 37/142
    per_category = fleiss_kappa_per_category(FLEISS_TABLE)
    weights = {SL: 56, NS: 50, CI: 36}
    weighted = sum(weights[k] * per_category[k] for k in weights) / sum(
        weights.values()
    )
    assert weighted == pytest.approx(fleiss_kappa(FLEISS_TABLE), rel=1e-12)


def test_fleiss_kappa_perfect_agreement() -> None:
    table = [[SL, SL, SL], [IP, IP, IP], [IG, IG, IG]]
    assert fleiss_kappa(table) == 1.0


def test_fleiss_skips_incomplete_items() -> None:
    # The last two rows lack a label, so only FLEISS_TABLE counts.
    table = [*FLEISS_TABLE, [SL, None, NS], [IP, IP]]
    assert fleiss_kappa(table) == pytest.approx(37 / 142, rel=1e-12)


def test_fleiss_undefined_cases() -> None:
    assert fleiss_kappa([]) is None
    assert fleiss_kappa([[SL], [NS]]) is None
    assert fleiss_kappa([[SL, SL, SL], [SL, SL, SL]]) is None
    assert fleiss_kappa([[SL, None, NS]]) is None


def test_fleiss_per_category_no_items() -> None:
    assert fleiss_kappa_per_category([]) == dict.fromkeys(CATEGORY_KEYS)


def test_per_category_kappa_two_raters_is_cohen() -> None:
    table = [list(pair) for pair in COHEN_PAIRS]
    assert per_category_kappa(table) == cohen_kappa_per_category(COHEN_PAIRS)


def test_per_category_kappa_three_raters_is_fleiss() -> None:
    assert per_category_kappa(FLEISS_TABLE) == fleiss_kappa_per_category(FLEISS_TABLE)


# --- Agreement report ----------------------------------------------------------


def test_agreement_two_annotators_uses_cohen() -> None:
    annotations: dict[object, dict[str, str]] = {
        f"f{i}": {"ana": first, "ben": second}
        for i, (first, second) in enumerate(COHEN_PAIRS)
    }
    annotations["only-ana"] = {"ana": IP}
    annotations["only-ben"] = {"ben": IG}
    report = agreement_report(annotations)
    assert report.method == "cohen"
    assert report.annotators == ("ana", "ben")
    assert report.shared_items == 10
    assert report.kappa == pytest.approx(0.41 / 0.61, rel=1e-12)
    assert report.observed_agreement == pytest.approx(0.8)
    assert report.per_category == cohen_kappa_per_category(COHEN_PAIRS)


def test_agreement_three_annotators_uses_fleiss() -> None:
    annotations: dict[object, dict[str, str]] = {
        i: {"ana": row[0], "ben": row[1], "cem": row[2]}
        for i, row in enumerate(FLEISS_TABLE)
    }
    annotations[99] = {"ana": IP, "ben": IP}
    report = agreement_report(annotations)
    assert report.method == "fleiss"
    assert report.annotators == ("ana", "ben", "cem")
    assert report.shared_items == 5
    assert report.kappa == pytest.approx(37 / 142, rel=1e-12)
    # P-bar from the hand computation above: 8/15
    assert report.observed_agreement == pytest.approx(8 / 15)
    assert report.per_category[NS] == pytest.approx(0.4, rel=1e-12)


def test_agreement_single_annotator() -> None:
    report = agreement_report({1: {"ana": SL}, 2: {"ana": NS}})
    assert report.method is None
    assert report.annotators == ("ana",)
    assert report.shared_items == 0
    assert report.kappa is None
    assert report.per_category == dict.fromkeys(CATEGORY_KEYS)


def test_agreement_no_shared_failures() -> None:
    report = agreement_report({1: {"ana": SL}, 2: {"ben": NS}})
    assert report.method == "cohen"
    assert report.shared_items == 0
    assert report.kappa is None
    assert report.observed_agreement is None


def test_agreement_as_dict() -> None:
    data = agreement_report({1: {"ana": SL, "ben": SL}}).as_dict()
    assert data["annotators"] == ["ana", "ben"]
    assert data["shared_items"] == 1
    assert set(data["per_category"]) == set(CATEGORY_KEYS)


# --- Confusion pairs -------------------------------------------------------------


def test_confusion_pairs_most_frequent_first() -> None:
    rows = [
        ("oboe", "flute"),
        ("tick", "spider"),
        ("oboe", "flute"),
        ("monitor", "desktop computer"),
        ("tick", "spider"),
        ("oboe", "flute"),
        ("tench", "tench"),
    ]
    pairs = confusion_pairs(rows)
    assert [(p.ground_truth, p.predicted_class, p.count) for p in pairs] == [
        ("oboe", "flute", 3),
        ("tick", "spider", 2),
        ("monitor", "desktop computer", 1),
    ]


def test_confusion_pairs_limit() -> None:
    rows = [(1, 2), (1, 2), (3, 4), (5, 6)]
    pairs = confusion_pairs(rows, limit=2)
    # Ties keep first appearance: (3, 4) before (5, 6).
    assert [(p.ground_truth, p.predicted_class) for p in pairs] == [(1, 2), (3, 4)]


def test_confusion_pairs_rejects_negative_limit() -> None:
    with pytest.raises(ValueError):
        confusion_pairs([], limit=-1)


# --- Suggestions against an annotator ------------------------------------------

REFERENCE = [1, 1, 2, 2, 3, 5, 5, 5]
SUGGESTED = [1, 2, 2, 2, 5, 5, 5, 1]


def test_confusion_matrix_by_hand() -> None:
    # Pairs: (1,1) (1,2) (2,2) (2,2) (3,5) (5,5) (5,5) (5,1)
    assert confusion_matrix(REFERENCE, SUGGESTED) == [
        [1, 1, 0, 0, 0],
        [0, 2, 0, 0, 0],
        [0, 0, 0, 0, 1],
        [0, 0, 0, 0, 0],
        [1, 0, 0, 0, 2],
    ]


def test_precision_recall_by_hand() -> None:
    scores = precision_recall(REFERENCE, SUGGESTED)
    # SL: TP 1, suggested 2, reference 2 -> precision 1/2, recall 1/2, F1 1/2
    assert scores[SL].precision == pytest.approx(0.5)
    assert scores[SL].recall == pytest.approx(0.5)
    assert scores[SL].f1 == pytest.approx(0.5)
    assert scores[SL].support == 2
    # NS: TP 2, suggested 3, reference 2 -> precision 2/3, recall 1,
    # F1 = 2 * 2/3 * 1 / (5/3) = 0.8
    assert scores[NS].precision == pytest.approx(2 / 3)
    assert scores[NS].recall == pytest.approx(1.0)
    assert scores[NS].f1 == pytest.approx(0.8)
    # CI: never suggested, reference 1 -> precision undefined, recall 0
    assert scores[CI].precision is None
    assert scores[CI].recall == 0.0
    assert scores[CI].f1 is None
    # IG: in neither list
    assert scores[IG].precision is None
    assert scores[IG].recall is None
    assert scores[IG].support == 0
    # IP: TP 2, suggested 3, reference 3 -> 2/3, 2/3, F1 2/3
    assert scores[IP].precision == pytest.approx(2 / 3)
    assert scores[IP].recall == pytest.approx(2 / 3)
    assert scores[IP].f1 == pytest.approx(2 / 3)


def test_precision_recall_zero_f1() -> None:
    # SL suggested once, wrongly, and missed once: precision 0, recall 0, F1 0
    scores = precision_recall([SL, NS], [NS, SL])
    assert scores[SL].f1 == 0.0


def test_precision_recall_rejects_length_mismatch() -> None:
    with pytest.raises(ValueError):
        precision_recall([1, 2], [1])


def test_confusion_matrix_rejects_length_mismatch() -> None:
    with pytest.raises(ValueError):
        confusion_matrix([1], [1, 2])


# --- Tables ---------------------------------------------------------------------


def _paper_distribution() -> stats.CategoryDistribution:
    return distribution_from_counts(PAPER_COUNTS)


def test_csv_has_header_and_five_rows() -> None:
    rows = list(csv.reader(io.StringIO(to_csv(_paper_distribution()))))
    assert rows[0] == list(TABLE_COLUMNS)
    assert len(rows) == 6
    assert [row[1] for row in rows[1:]] == list(CATEGORY_KEYS)


def test_csv_values_of_paper_counts() -> None:
    rows = list(csv.DictReader(io.StringIO(to_csv(_paper_distribution()))))
    first = rows[0]
    assert first["id"] == "1"
    assert first["count"] == "61"
    assert first["rate"] == "0.152500"
    # Wilson interval of 61/400 from the hand computation above.
    assert first["ci_low"] == "0.120587"
    assert first["ci_high"] == "0.191024"
    assert first["paper_count"] == "61"
    assert rows[4]["paper_rate"] == "0.325000"


def test_markdown_table_shape() -> None:
    lines = to_markdown(_paper_distribution()).splitlines()
    assert lines[0] == "| " + " | ".join(TABLE_COLUMNS) + " |"
    assert lines[1] == "|---:|---|---:|---:|---:|---:|---:|---:|"
    assert len(lines) == 7
    assert (
        lines[2]
        == "| 1 | similar_labels | 61 | 0.1525 | 0.1206 | 0.1910 | 61 | 0.1525 |"
    )


def test_text_table_aligns_columns() -> None:
    lines = to_text_table(_paper_distribution()).splitlines()
    assert len(lines) == 7
    assert lines[0].split() == list(TABLE_COLUMNS)
    # Every row but the footer has its last column ending at the same place.
    assert len({len(line) for line in lines[:6]}) == 1
    assert lines[5].split()[1] == "incorrect_pc"
    assert lines[6] == "total: 400 annotated failures, 95% Wilson intervals"
