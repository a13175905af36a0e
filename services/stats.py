"""Statistics over failure-category annotations.

Counts, rates and Wilson intervals per category, a chi-square test against the counts
of Lee, Agarwal and Kim, "Why Do Deep Neural Networks Still Not Recognize These
Images? A Qualitative Analysis on Failure Cases of ImageNet Classification",
agreement between annotators (Cohen's and Fleiss' kappa), the most frequent
ground-truth and predicted-class pairs, precision and recall of suggested categories,
and tables of a distribution as CSV, Markdown or plain text.

Every label argument accepts what ``parse_category`` accepts (a key, an id, a string
of digits or a Category), and an unknown label raises InvalidFieldError. Where a
statistic is undefined for the data, such as a kappa over no items, the function
returns None instead of a number.
"""

from __future__ import annotations

import csv
import io
import math
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import cache
from statistics import NormalDist
from typing import Any

from services.categories import CATEGORIES, CATEGORY_KEYS, Category, parse_category

CategoryLabel = str | int | Category

# Columns of the CSV, Markdown and text tables of a distribution, in order.
TABLE_COLUMNS: tuple[str, ...] = (
    "id",
    "category",
    "count",
    "rate",
    "ci_low",
    "ci_high",
    "paper_count",
    "paper_rate",
)

_MAX_ITERATIONS = 10_000
_RELATIVE_TOLERANCE = 1e-15
_TINY = 1e-300


def _category_key(label: CategoryLabel) -> str:
    return parse_category(label).key


# --- Counts, rates and intervals -------------------------------------------------


def wilson_interval(
    successes: int, n: int, confidence: float = 0.95
) -> tuple[float, float]:
    """Compute the Wilson score interval for a binomial proportion.

    With n = 0 there is no information, so the interval is the whole range
    (0.0, 1.0). With no successes the lower bound is exactly 0.0, and with n
    successes the upper bound is exactly 1.0. Raise ValueError when the counts or
    the confidence are out of range.
    """
    if n < 0:
        raise ValueError(f"n must be at least 0, got {n}")
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be between 0 and n={n}, got {successes}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(
            f"confidence must be strictly between 0 and 1, got {confidence}"
        )
    if n == 0:
        return (0.0, 1.0)

    z = NormalDist().inv_cdf(0.5 + confidence / 2.0)
    z2 = z * z
    p = successes / n
    denominator = 1.0 + z2 / n
    center = (p + z2 / (2.0 * n)) / denominator
    half_width = z * math.sqrt(p * (1.0 - p) / n + z2 / (4.0 * n * n)) / denominator

    # NOTE: at p = 0 or p = 1 the center and half width are equal in exact
    # arithmetic, but floating point leaves a residue of about 1e-17 at the bound.
    low = 0.0 if successes == 0 else max(0.0, center - half_width)
    high = 1.0 if successes == n else min(1.0, center + half_width)
    return (low, high)


@dataclass(frozen=True)
class CategoryCount:
    """Count, rate and Wilson interval of one category in a distribution."""

    category: Category
    count: int
    rate: float
    ci_low: float
    ci_high: float

    def as_dict(self) -> dict[str, Any]:
        """Return the row with the keys of TABLE_COLUMNS."""
        return {
            "id": self.category.id,
            "category": self.category.key,
            "count": self.count,
            "rate": self.rate,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "paper_count": self.category.paper_count,
            "paper_rate": self.category.paper_rate,
        }


@dataclass(frozen=True)
class CategoryDistribution:
    """Per-category counts of a set of annotations, one row per category by id."""

    rows: tuple[CategoryCount, ...]
    total: int
    confidence: float

    def row(self, label: CategoryLabel) -> CategoryCount:
        """Return the row of a category given by key, id or Category."""
        key = _category_key(label)
        return next(row for row in self.rows if row.category.key == key)

    def as_dict(self) -> dict[str, Any]:
        """Return the total, the confidence and the rows as plain values."""
        return {
            "total": self.total,
            "confidence": self.confidence,
            "categories": [row.as_dict() for row in self.rows],
        }


def _sum_counts(counts: Mapping[CategoryLabel, int]) -> dict[str, int]:
    totals = dict.fromkeys(CATEGORY_KEYS, 0)
    for label, count in counts.items():
        if count < 0:
            raise ValueError(f"count of category {label!r} is negative: {count}")
        totals[_category_key(label)] += count
    return totals


def distribution_from_counts(
    counts: Mapping[CategoryLabel, int], confidence: float = 0.95
) -> CategoryDistribution:
    """Build the distribution of per-category counts.

    A category missing from ``counts`` has a count of 0. Labels that name the same
    category, such as ``1`` and ``"similar_labels"``, are added together. With a
    total of 0 every rate is 0.0 and every interval is (0.0, 1.0).
    """
    totals = _sum_counts(counts)
    total = sum(totals.values())
    rows = []
    for category in CATEGORIES:
        count = totals[category.key]
        low, high = wilson_interval(count, total, confidence)
        rate = count / total if total else 0.0
        rows.append(CategoryCount(category, count, rate, low, high))
    return CategoryDistribution(tuple(rows), total, confidence)


def category_distribution(
    labels: Iterable[CategoryLabel], confidence: float = 0.95
) -> CategoryDistribution:
    """Count one category label per annotated failure and build the distribution."""
    counts = Counter(_category_key(label) for label in labels)
    return distribution_from_counts(counts, confidence)


# --- Chi-square test against the reference counts --------------------------------


def _log_gamma_prefactor(a: float, x: float) -> float:
    # log of x**a * exp(-x) / Gamma(a), the factor common to the series and the
    # continued fraction.
    return a * math.log(x) - x - math.lgamma(a)


def _lower_gamma_series(a: float, x: float) -> float:
    # P(a, x) = x**a e**-x / Gamma(a) * sum over k >= 0 of
    # x**k / (a (a + 1) ... (a + k)). The terms shrink quickly when x < a + 1.
    term = 1.0 / a
    total = term
    denominator = a
    for _ in range(_MAX_ITERATIONS):
        denominator += 1.0
        term *= x / denominator
        total += term
        if abs(term) < abs(total) * _RELATIVE_TOLERANCE:
            return total * math.exp(_log_gamma_prefactor(a, x))
    raise ArithmeticError(f"gamma series did not converge for a={a}, x={x}")


def _upper_gamma_continued_fraction(a: float, x: float) -> float:
    # Q(a, x) = x**a e**-x / Gamma(a) * 1 / (x + 1 - a - 1 (1 - a) / (x + 3 - a -
    # 2 (2 - a) / (x + 5 - a - ...))), evaluated with the modified Lentz method.
    # It converges quickly when x >= a + 1.
    b = x + 1.0 - a
    c = 1.0 / _TINY
    d = 1.0 / b
    fraction = d
    for i in range(1, _MAX_ITERATIONS):
        numerator = -i * (i - a)
        b += 2.0
        d = numerator * d + b
        if abs(d) < _TINY:
            d = _TINY
        c = b + numerator / c
        if abs(c) < _TINY:
            c = _TINY
        d = 1.0 / d
        delta = d * c
        fraction *= delta
        if abs(delta - 1.0) < _RELATIVE_TOLERANCE:
            return fraction * math.exp(_log_gamma_prefactor(a, x))
    raise ArithmeticError(f"gamma continued fraction did not converge for a={a}, x={x}")


def regularized_upper_gamma(a: float, x: float) -> float:
    """Compute Q(a, x) = Gamma(a, x) / Gamma(a) without SciPy.

    Use the power series of P(a, x) = 1 - Q(a, x) when x < a + 1 and a continued
    fraction for Q otherwise. Raise ValueError unless a > 0 and x >= 0.
    """
    if not a > 0.0:
        raise ValueError(f"a must be positive, got {a}")
    if not x >= 0.0:
        raise ValueError(f"x must be at least 0, got {x}")
    if x == 0.0:
        return 1.0
    if math.isinf(x):
        return 0.0
    if x < a + 1.0:
        return 1.0 - _lower_gamma_series(a, x)
    return _upper_gamma_continued_fraction(a, x)


@cache
def _scipy_chi2_sf() -> Callable[[float, float], float] | None:
    try:
        from scipy.stats import chi2
    except ImportError:
        return None
    return lambda statistic, df: float(chi2.sf(statistic, df))


def chi2_sf(statistic: float, degrees_of_freedom: int) -> float:
    """Return the chi-square survival function, the p-value of ``statistic``.

    Use ``scipy.stats.chi2.sf`` when SciPy is importable and otherwise
    ``regularized_upper_gamma(degrees_of_freedom / 2, statistic / 2)``.
    """
    if degrees_of_freedom < 1:
        raise ValueError(
            f"degrees_of_freedom must be at least 1, got {degrees_of_freedom}"
        )
    if statistic < 0.0:
        raise ValueError(f"statistic must be at least 0, got {statistic}")
    scipy_sf = _scipy_chi2_sf()
    if scipy_sf is not None:
        return scipy_sf(statistic, degrees_of_freedom)
    return regularized_upper_gamma(degrees_of_freedom / 2.0, statistic / 2.0)


@dataclass(frozen=True)
class ChiSquareResult:
    """Pearson's chi-square goodness of fit of counts to the reference proportions."""

    statistic: float
    degrees_of_freedom: int
    p_value: float
    total: int
    # Expected count per category key: total * paper_count / 400.
    expected: dict[str, float]


def chi_square_vs_paper(counts: Mapping[CategoryLabel, int]) -> ChiSquareResult:
    """Test whether per-category counts fit Lee, Agarwal and Kim's 400 failures.

    The expected count of a category is total * paper_rate, and the test has
    4 degrees of freedom (five categories, none estimated from the data). A category
    missing from ``counts`` has a count of 0. Raise ValueError when the total is 0.
    """
    totals = _sum_counts(counts)
    total = sum(totals.values())
    if total == 0:
        raise ValueError("chi-square test needs at least one annotated failure")

    expected = {category.key: total * category.paper_rate for category in CATEGORIES}
    statistic = 0.0
    for key in CATEGORY_KEYS:
        difference = totals[key] - expected[key]
        statistic += difference * difference / expected[key]
    degrees_of_freedom = len(CATEGORIES) - 1
    p_value = chi2_sf(statistic, degrees_of_freedom)
    return ChiSquareResult(statistic, degrees_of_freedom, p_value, total, expected)


# --- Agreement between annotators ------------------------------------------------


def _kappa_of_pairs(
    pairs: Sequence[tuple[Hashable, Hashable]],
) -> tuple[float | None, float | None]:
    # Return Cohen's kappa and the observed agreement. With A agreeing items among n
    # and E the sum over labels of the two raters' marginal counts multiplied,
    # p_o = A / n, p_e = E / n**2 and kappa = (n A - E) / (n**2 - E).
    n = len(pairs)
    if n == 0:
        return (None, None)
    agreeing = sum(1 for first, second in pairs if first == second)
    first_counts = Counter(first for first, _ in pairs)
    second_counts = Counter(second for _, second in pairs)
    expected = sum(first_counts[label] * second_counts[label] for label in first_counts)
    observed = agreeing / n
    if expected == n * n:
        # Both raters gave every item the same single label, so p_e = 1.
        return (None, observed)
    return ((n * agreeing - expected) / (n * n - expected), observed)


def _key_pairs(
    pairs: Iterable[tuple[CategoryLabel, CategoryLabel]],
) -> list[tuple[str, str]]:
    return [(_category_key(first), _category_key(second)) for first, second in pairs]


def cohen_kappa(pairs: Iterable[tuple[CategoryLabel, CategoryLabel]]) -> float | None:
    """Compute Cohen's kappa of two annotators over the five categories.

    Each pair contains the first and the second annotator's category of one failure.
    Return None when kappa is undefined: no pairs, or both annotators using one and
    the same category for every failure.
    """
    kappa, _ = _kappa_of_pairs(_key_pairs(pairs))
    return kappa


def cohen_kappa_per_category(
    pairs: Iterable[tuple[CategoryLabel, CategoryLabel]],
) -> dict[str, float | None]:
    """Compute Cohen's kappa of each category against the other four together.

    The value for a category is None when kappa is undefined for it, such as when
    neither annotator used it.
    """
    key_pairs = _key_pairs(pairs)
    result: dict[str, float | None] = {}
    for key in CATEGORY_KEYS:
        binary = [(first == key, second == key) for first, second in key_pairs]
        result[key], _ = _kappa_of_pairs(binary)
    return result


def _complete_items(
    table: Sequence[Sequence[CategoryLabel | None]],
) -> tuple[list[list[str]], int]:
    # Return the rows that every rater labelled, as keys, and the number of raters.
    # The rater count is the longest row, and None marks a missing label.
    raters = max((len(row) for row in table), default=0)
    complete = [
        [_category_key(label) for label in row if label is not None]
        for row in table
        if len(row) == raters and all(label is not None for label in row)
    ]
    return complete, raters


@dataclass(frozen=True)
class _FleissCounts:
    items: int
    raters: int
    # Per item, the number of raters who chose each category key.
    item_counts: list[Counter[str]]
    # Per category key, the number of labels over all items.
    totals: Counter[str]


def _fleiss_counts(rows: list[list[str]], raters: int) -> _FleissCounts:
    item_counts = [Counter(row) for row in rows]
    totals: Counter[str] = Counter()
    for counts in item_counts:
        totals.update(counts)
    return _FleissCounts(len(rows), raters, item_counts, totals)


def _fleiss_kappa_of(counts: _FleissCounts) -> tuple[float | None, float | None]:
    # Return Fleiss' kappa and the mean agreement P-bar over N items and n raters.
    # With M = N n labels, S the sum of squared item counts and T the sum of squared
    # category totals: P-bar = (S - M) / (M (n - 1)), P_e = T / M**2 and
    # kappa = (P-bar - P_e) / (1 - P_e).
    n = counts.raters
    if counts.items == 0 or n < 2:
        return (None, None)
    labels = counts.items * n
    squared_items = sum(c * c for item in counts.item_counts for c in item.values())
    squared_totals = sum(t * t for t in counts.totals.values())
    mean_agreement = Fraction(squared_items - labels, labels * (n - 1))
    if squared_totals == labels * labels:
        # Every label is the same category, so P_e = 1.
        return (None, float(mean_agreement))
    chance = Fraction(squared_totals, labels * labels)
    kappa = (mean_agreement - chance) / (1 - chance)
    return (float(kappa), float(mean_agreement))


def fleiss_kappa(table: Sequence[Sequence[CategoryLabel | None]]) -> float | None:
    """Compute Fleiss' kappa of two or more annotators over the five categories.

    ``table`` has one row per failure and one column per annotator, with None where
    an annotator gave no label. Fleiss' kappa needs the same number of ratings for
    every item, so only rows with a label from every annotator count, and the number
    of annotators is the length of the longest row. Return None when kappa is
    undefined: no complete rows, fewer than two annotators, or one category for
    every label.
    """
    rows, raters = _complete_items(table)
    kappa, _ = _fleiss_kappa_of(_fleiss_counts(rows, raters))
    return kappa


def fleiss_kappa_per_category(
    table: Sequence[Sequence[CategoryLabel | None]],
) -> dict[str, float | None]:
    """Compute Fleiss' kappa of each category over the rows labelled by everyone.

    Follow Fleiss (1971): kappa_j = 1 - sum_i n_ij (n - n_ij) / (N n (n - 1) p_j
    q_j), where n_ij is the number of raters who chose category j for item i and p_j
    is the share of all labels in category j. The value is None when p_j is 0 or 1.
    """
    rows, raters = _complete_items(table)
    counts = _fleiss_counts(rows, raters)
    result: dict[str, float | None] = dict.fromkeys(CATEGORY_KEYS)
    if counts.items == 0 or raters < 2:
        return result
    labels = counts.items * raters
    for key in CATEGORY_KEYS:
        category_total = counts.totals[key]
        if category_total in (0, labels):
            continue
        disagreement = sum(
            item[key] * (raters - item[key]) for item in counts.item_counts
        )
        # N n (n - 1) p_j q_j = (n - 1) T_j (M - T_j) / M with M = N n labels.
        kappa = 1 - Fraction(
            disagreement * labels,
            (raters - 1) * category_total * (labels - category_total),
        )
        result[key] = float(kappa)
    return result


def per_category_kappa(
    table: Sequence[Sequence[CategoryLabel | None]],
) -> dict[str, float | None]:
    """Compute a kappa per category over the rows labelled by every annotator.

    With two annotators, as columns of ``table``, use Cohen's kappa of each category
    against the rest. With three or more, use Fleiss' per-category kappa. With fewer
    than two, every value is None.
    """
    rows, raters = _complete_items(table)
    if raters == 2:
        return cohen_kappa_per_category([(row[0], row[1]) for row in rows])
    return fleiss_kappa_per_category(rows)


@dataclass(frozen=True)
class AgreementReport:
    """Agreement between the annotators of a set of failures."""

    # "cohen" for two annotators, "fleiss" for three or more, None for fewer.
    method: str | None
    annotators: tuple[str, ...]
    # Failures that every annotator labelled, the only ones the kappa covers.
    shared_items: int
    kappa: float | None
    # Share of agreeing pairs: the fraction of shared failures with the same
    # category for Cohen, the mean pairwise agreement P-bar for Fleiss.
    observed_agreement: float | None
    per_category: dict[str, float | None]

    def as_dict(self) -> dict[str, Any]:
        """Return the report as plain values."""
        return {
            "method": self.method,
            "annotators": list(self.annotators),
            "shared_items": self.shared_items,
            "kappa": self.kappa,
            "observed_agreement": self.observed_agreement,
            "per_category": dict(self.per_category),
        }


def agreement_report(
    annotations: Mapping[Hashable, Mapping[str, CategoryLabel]],
) -> AgreementReport:
    """Measure agreement between annotators from each failure's labels.

    ``annotations`` maps a failure to {annotator: category}. With exactly two
    annotators in all, compute Cohen's kappa over the failures both labelled. With
    three or more, compute Fleiss' kappa over the failures that all of them
    labelled, so one annotator who skipped a failure removes it from the report.
    """
    annotators = tuple(
        sorted({name for labels in annotations.values() for name in labels})
    )
    shared = [
        labels
        for labels in annotations.values()
        if all(name in labels for name in annotators)
    ]
    if len(annotators) < 2:
        return AgreementReport(
            None, annotators, 0, None, None, dict.fromkeys(CATEGORY_KEYS)
        )

    table = [[labels[name] for name in annotators] for labels in shared]
    if len(annotators) == 2:
        key_pairs = _key_pairs((row[0], row[1]) for row in table)
        kappa, observed = _kappa_of_pairs(key_pairs)
        return AgreementReport(
            "cohen",
            annotators,
            len(shared),
            kappa,
            observed,
            cohen_kappa_per_category(key_pairs),
        )

    rows = [[_category_key(label) for label in row] for row in table]
    kappa, observed = _fleiss_kappa_of(_fleiss_counts(rows, len(annotators)))
    return AgreementReport(
        "fleiss",
        annotators,
        len(shared),
        kappa,
        observed,
        fleiss_kappa_per_category(rows),
    )


# --- Confusion pairs and suggestion quality --------------------------------------


@dataclass(frozen=True)
class ConfusionPair:
    """A ground-truth class, the class predicted for it, and how often."""

    ground_truth: Hashable
    predicted_class: Hashable
    count: int


def confusion_pairs(
    rows: Iterable[tuple[Hashable, Hashable]], limit: int | None = None
) -> list[ConfusionPair]:
    """Count (ground truth, predicted class) pairs, most frequent first.

    Rows whose prediction equals the ground truth are not confusions and are
    skipped. Pairs with equal counts keep the order in which they first appear.
    ``limit`` caps the number of pairs returned, and None returns all of them.
    """
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be at least 0, got {limit}")
    counts = Counter(
        (ground_truth, predicted)
        for ground_truth, predicted in rows
        if ground_truth != predicted
    )
    return [
        ConfusionPair(ground_truth, predicted, count)
        for (ground_truth, predicted), count in counts.most_common(limit)
    ]


def _paired_keys(
    reference: Sequence[CategoryLabel], suggested: Sequence[CategoryLabel]
) -> list[tuple[str, str]]:
    if len(reference) != len(suggested):
        raise ValueError(
            f"reference has {len(reference)} labels but suggested has "
            f"{len(suggested)}: pass one suggestion per reference label"
        )
    return _key_pairs(zip(reference, suggested, strict=True))


def confusion_matrix(
    reference: Sequence[CategoryLabel], suggested: Sequence[CategoryLabel]
) -> list[list[int]]:
    """Count reference and suggested category pairs as a 5 x 5 matrix.

    Row i is the reference category with id i + 1 and column j the suggested
    category with id j + 1. Raise ValueError when the lists differ in length.
    """
    index = {key: i for i, key in enumerate(CATEGORY_KEYS)}
    matrix = [[0] * len(CATEGORY_KEYS) for _ in CATEGORY_KEYS]
    for expected, actual in _paired_keys(reference, suggested):
        matrix[index[expected]][index[actual]] += 1
    return matrix


@dataclass(frozen=True)
class CategoryScores:
    """Precision, recall and F1 of suggestions for one category."""

    category: Category
    # None when the category was never suggested.
    precision: float | None
    # None when the category never occurs in the reference.
    recall: float | None
    # None when precision or recall is None.
    f1: float | None
    # Number of reference labels in the category.
    support: int


def precision_recall(
    reference: Sequence[CategoryLabel], suggested: Sequence[CategoryLabel]
) -> dict[str, CategoryScores]:
    """Score suggested categories against one annotator's labels, per category key.

    Raise ValueError when the lists differ in length.
    """
    pairs = _paired_keys(reference, suggested)
    scores: dict[str, CategoryScores] = {}
    for category in CATEGORIES:
        key = category.key
        true_positives = sum(1 for e, a in pairs if e == key and a == key)
        support = sum(1 for e, _ in pairs if e == key)
        suggested_count = sum(1 for _, a in pairs if a == key)
        precision = true_positives / suggested_count if suggested_count else None
        recall = true_positives / support if support else None
        f1: float | None = None
        if precision is not None and recall is not None:
            f1 = 0.0
            if precision + recall > 0:
                f1 = 2 * precision * recall / (precision + recall)
        scores[key] = CategoryScores(category, precision, recall, f1, support)
    return scores


# --- Tables of a distribution ----------------------------------------------------


def _table_cells(distribution: CategoryDistribution, decimals: int) -> list[list[str]]:
    cells = []
    for row in distribution.rows:
        values = row.as_dict()
        cells.append(
            [
                str(values["id"]),
                values["category"],
                str(values["count"]),
                f"{values['rate']:.{decimals}f}",
                f"{values['ci_low']:.{decimals}f}",
                f"{values['ci_high']:.{decimals}f}",
                str(values["paper_count"]),
                f"{values['paper_rate']:.{decimals}f}",
            ]
        )
    return cells


def to_csv(distribution: CategoryDistribution) -> str:
    """Render the distribution as CSV with a header and one row per category.

    Rates and interval bounds have 6 decimals. Lines end in CRLF, as RFC 4180 specifies.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(TABLE_COLUMNS)
    writer.writerows(_table_cells(distribution, decimals=6))
    return buffer.getvalue()


def to_markdown(distribution: CategoryDistribution) -> str:
    """Render the distribution as a Markdown table, one row per category.

    Rates and interval bounds have 4 decimals, and numeric columns align right.
    """
    alignments = ["---" if c == "category" else "---:" for c in TABLE_COLUMNS]
    lines = [
        "| " + " | ".join(TABLE_COLUMNS) + " |",
        "|" + "|".join(alignments) + "|",
    ]
    for cells in _table_cells(distribution, decimals=4):
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def to_text_table(distribution: CategoryDistribution) -> str:
    """Render the distribution as an aligned plain-text table for a terminal.

    The last line gives the total and the interval's confidence level.
    """
    rows = [list(TABLE_COLUMNS), *_table_cells(distribution, decimals=4)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(TABLE_COLUMNS))]
    lines = []
    for row in rows:
        cells = [
            cell.ljust(width) if column == "category" else cell.rjust(width)
            for cell, width, column in zip(row, widths, TABLE_COLUMNS, strict=True)
        ]
        lines.append("  ".join(cells).rstrip())
    lines.append(
        f"total: {distribution.total} annotated failures, "
        f"{distribution.confidence * 100:g}% Wilson intervals"
    )
    return "\n".join(lines) + "\n"
