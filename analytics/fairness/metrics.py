"""Fairness metrics by protected group, computed from per-group confusion counts (issue 7, part 1).

An audit needs, per group, only four counts: true and false positives and negatives of the
decision. They are a single GROUP BY (in DuckDB for the bank, in polars for an uploaded table:
:func:`group_counts`), after which every metric and disparity is arithmetic on a few numbers
(:func:`group_metrics`, :func:`disparities`), not a resampling of rows. fairlearn's
``MetricFrame`` is the reference the tests compare with, to 1e-9.

Intervals come from statsmodels: Wilson score intervals for each group's rates
(``proportion_confint(method="wilson")``), Newcombe's hybrid score interval for a difference of
two rates and the Katz log interval for a ratio (``confint_proportions_2indep``, methods
"newcomb" and "log"). A disparity's interval is that of the pair of groups that defines it (the
most and least favoured groups); the four-fifths rule compares every large-enough group with the
most favoured one, each with its own Katz interval.

A group under :data:`MIN_GROUP_SIZE` customers is marked "too small" rather than passed or
failed; a rate with nothing under it (no actual positives for the true positive rate) is None
with the reason, never 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import ibis
import ibis.expr.types as ir
import numpy as np
import polars as pl
from scipy import stats
from sklearn.metrics import roc_auc_score
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint

from analytics.common.docs import shared_docs
from analytics.common.expressions import age_band_expr

MIN_GROUP_SIZE = 30
"""Groups with fewer customers are reported but neither passed nor failed."""

FOUR_FIFTHS = (0.8, 1.25)
"""The four-fifths rule: a selection-rate ratio to the most favoured group inside this band passes."""

COUNT_COLUMNS = ("tp", "fp", "tn", "fn")


@dataclass(frozen=True)
class VerdictRule:
    """The rule a verdict reads: its name, the line it draws and the interval it judges with.

    Every verdict (an attribute's, an audit's, a credit band's, an experiment's) carries one, so
    a reader of the JSON or the report knows what "pass", "fail" and "undecided" mean.

    Parameters
    ----------
    rule : str
        The rule's name, e.g. "four-fifths" or "cochran-q".
    threshold : float
        The line it draws: the lowest acceptable selection-rate ratio for the four-fifths rule
        (0.8), the significance level for a test of heterogeneity (0.05).
    threshold_meaning : str
        What the threshold is compared with, in words.
    interval_method : str
        How the interval the verdict reads was made ("katz-log"; "katz-log, 0.5 added" when the
        deciding group had nobody selected), or "none" when the rule reads a p-value.
    confidence_level : float
        Level of that interval (or one minus the test's significance level).
    min_group_size : int
        Groups (or arms) smaller than this are reported but neither pass nor fail.

    Examples
    --------
    >>> FOUR_FIFTHS_RULE.as_dict()["rule"]
    'four-fifths'
    """

    rule: str
    threshold: float
    threshold_meaning: str
    interval_method: str
    confidence_level: float
    min_group_size: int

    def as_dict(self) -> dict[str, object]:
        """The fields under the names a verdict record uses (``rule_threshold`` for the threshold)."""
        return {
            "rule": self.rule,
            "rule_threshold": self.threshold,
            "rule_threshold_meaning": self.threshold_meaning,
            "interval_method": self.interval_method,
            "confidence_level": self.confidence_level,
            "min_group_size": self.min_group_size,
        }

    def describe(self) -> str:
        """One line for a report, e.g. "four-fifths rule: ... at least 0.8; 95% katz-log intervals; ..."."""
        interval = (
            f"{self.confidence_level:.0%} {self.interval_method} intervals"
            if self.interval_method != "none"
            else f"tested at {1 - self.confidence_level:g}"
        )
        return (
            f"{self.rule} rule: {self.threshold_meaning} {self.threshold:g}; {interval}; "
            f"groups of at least {self.min_group_size} judged"
        )


FOUR_FIFTHS_RULE = VerdictRule(
    rule="four-fifths",
    threshold=FOUR_FIFTHS[0],
    threshold_meaning="each group's selection rate over the most favoured group's, passing at or above",
    interval_method="katz-log",
    confidence_level=0.95,
    min_group_size=MIN_GROUP_SIZE,
)
"""The rule of every fairness audit's verdict (:func:`_four_fifths`)."""


MSG_MISSING_COLUMN = "Column {column!r} is not in the table. Its columns are: {columns}."
MSG_SINGLE_GROUP = "Column {column!r} has a single group ({group}): there is nothing to compare."
MSG_NOT_BINARY = "Column {column!r} must hold only 0 and 1 (or true/false); row {row} holds {value!r}."
MSG_NO_GROUPS = "No group columns were given: name at least one protected attribute."


@dataclass(frozen=True)
class Disparity:
    """One disparity between groups, with the pair that defines it.

    Parameters
    ----------
    name : str
        e.g. "demographic_parity_difference".
    value : float or None
        The disparity (None when a rate it needs is undefined in every group).
    low, high : float or None
        95% interval of the defining pair's difference or ratio (statsmodels), if computable.
    groups : tuple of str
        The (more favoured, less favoured) groups it compares; for the four-fifths rule the
        pair that decided it (see :func:`_four_fifths`).
    passed : bool or None
        For the four-fifths rule: True when every judged group's interval lies at or above 0.8,
        False when a pair's lies wholly below it, None when undecided.
    method : str
        How the interval was made: "newcombe" (a difference) or "katz-log" (a ratio), "" when
        there is none.
    """

    name: str
    value: float | None
    low: float | None
    high: float | None
    groups: tuple[str, ...]
    passed: bool | None = None
    method: str = ""


def binary_column(frame: pl.DataFrame, column: str) -> pl.Series:
    """A 0/1 (or boolean) column as integers; anything else is refused naming the column and row."""
    if column not in frame.columns:
        raise ValueError(MSG_MISSING_COLUMN.format(column=column, columns=", ".join(frame.columns)))
    series = frame.get_column(column)
    if series.dtype == pl.Boolean:
        series = series.cast(pl.Int64)
    # Compared as floats, so that a score of 0.3 is refused rather than truncated to 0.
    numbers = series.cast(pl.Float64, strict=False)
    bad = numbers.is_null() | ~numbers.is_in([0.0, 1.0])
    values = numbers.fill_null(0.0).cast(pl.Int64)
    if bad.any():
        row = int(bad.arg_max())
        raise ValueError(MSG_NOT_BINARY.format(column=column, row=row + 1, value=series[row]))
    return values


def group_counts(frame: pl.DataFrame, *, y_true: str, y_pred: str, groups: Sequence[str]) -> pl.DataFrame:
    """Confusion counts per group (and per intersection when several group columns are given).

    Parameters
    ----------
    frame : polars.DataFrame
        One row per customer.
    y_true, y_pred : str
        0/1 columns: the outcome and the decision.
    groups : sequence of str
        Protected attribute columns; the counts are per combination of their values.

    Returns
    -------
    polars.DataFrame
        ``group`` (the values joined by " · "), ``tp``, ``fp``, ``tn``, ``fn``, ``n``.

    Raises
    ------
    ValueError
        A missing column, labels outside {0, 1}, or no group column.
    """
    if not groups:
        raise ValueError(MSG_NO_GROUPS)
    for column in groups:
        if column not in frame.columns:
            raise ValueError(MSG_MISSING_COLUMN.format(column=column, columns=", ".join(frame.columns)))
    y, p = binary_column(frame, y_true), binary_column(frame, y_pred)
    data = frame.select(
        pl.concat_str(
            [pl.col(c).cast(pl.String).fill_null("(missing)") for c in groups], separator=" · "
        ).alias("group")
    ).with_columns(y=y, p=p)
    return (
        data.group_by("group")
        .agg(
            ((pl.col("y") == 1) & (pl.col("p") == 1)).sum().alias("tp"),
            ((pl.col("y") == 0) & (pl.col("p") == 1)).sum().alias("fp"),
            ((pl.col("y") == 0) & (pl.col("p") == 0)).sum().alias("tn"),
            ((pl.col("y") == 1) & (pl.col("p") == 0)).sum().alias("fn"),
            pl.len().alias("n"),
        )
        .with_columns(pl.col(*COUNT_COLUMNS, "n").cast(pl.Int64))
        .sort("group")
    )


def _rate(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def _wilson(numerator: int, denominator: int) -> tuple[float | None, float | None]:
    if not denominator:
        return None, None
    low, high = proportion_confint(numerator, denominator, alpha=0.05, method="wilson")
    return float(low), float(high)


def group_metrics(counts: pl.DataFrame) -> pl.DataFrame:
    """Per-group rates with Wilson intervals, small groups and undefined rates marked.

    Parameters
    ----------
    counts : polars.DataFrame
        :func:`group_counts`.

    Returns
    -------
    polars.DataFrame
        ``group``, ``n``, ``selection_rate`` (+ ``_low``/``_high``), ``true_positive_rate``,
        ``false_positive_rate``, ``precision``, ``accuracy`` (each with its interval),
        ``small`` (fewer than :data:`MIN_GROUP_SIZE`) and ``undefined`` (the reasons).
    """
    rows = []
    for r in counts.iter_rows(named=True):
        tp, fp, tn, fn, n = r["tp"], r["fp"], r["tn"], r["fn"], r["n"]
        parts = {
            "selection_rate": (tp + fp, n, "no customers"),
            "true_positive_rate": (tp, tp + fn, "no actual positives in the group"),
            "false_positive_rate": (fp, fp + tn, "no actual negatives in the group"),
            "precision": (tp, tp + fp, "nobody selected in the group"),
            "accuracy": (tp + tn, n, "no customers"),
        }
        row: dict = {"group": r["group"], "n": n, "small": n < MIN_GROUP_SIZE}
        reasons = []
        for name, (num, den, why) in parts.items():
            row[name] = _rate(num, den)
            row[f"{name}_low"], row[f"{name}_high"] = _wilson(num, den)
            if not den:
                reasons.append(f"{name.replace('_', ' ')} undefined: {why}")
        row["undefined"] = "; ".join(reasons)
        rows.append(row)
    return pl.DataFrame(rows)


_Z = float(stats.norm.ppf(0.975))


def _cells(counts: pl.DataFrame, numerator: str, denominator: str) -> dict[str, tuple[int, int]]:
    """Group -> (numerator, denominator) of a rate, e.g. ("tp+fp", "tp+fp+tn+fn")."""
    return {
        r["group"]: (sum(r[c] for c in numerator.split("+")), sum(r[c] for c in denominator.split("+")))
        for r in counts.iter_rows(named=True)
    }


def _pair_interval(c1: int, n1: int, c2: int, n2: int, *, compare: str) -> tuple[float | None, float | None]:
    """95% interval of c1/n1 - c2/n2 (Newcombe) or (c1/n1) / (c2/n2) (Katz log; 0.5 added when c1 = 0)."""
    if not (n1 and n2) or (compare == "ratio" and c2 == 0):
        return None, None
    # Katz's log interval needs c1 > 0; with none selected in the first group, statsmodels'
    # "log-adjusted" adds 0.5 to the counts, so a group nobody was selected from still fails.
    method = "newcomb" if compare == "diff" else ("log" if c1 else "log-adjusted")
    low, high = confint_proportions_2indep(c1, n1, c2, n2, method=method, compare=compare)
    return float(low), float(high)


def _katz_below(
    c1: np.ndarray, n1: np.ndarray, c2: np.ndarray, n2: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Katz log intervals of (c1/n1) / (c2/n2) for many pairs at once (all counts > 0).

    The closed form statsmodels' ``confint_proportions_2indep(method="log", compare="ratio")``
    computes, ``r * exp(+-z * sqrt(1/c1 - 1/n1 + 1/c2 - 1/n2))``, vectorized so that an upload
    with a hundred groups does not make ten thousand statsmodels calls; the tests compare the
    two.
    """
    ratio = (c1 / n1) / (c2 / n2)
    half = _Z * np.sqrt(1 / c1 - 1 / n1 + 1 / c2 - 1 / n2)
    return ratio * np.exp(-half), ratio * np.exp(half)


_RATE_COUNTS = {
    "selection_rate": ("tp+fp", "tp+fp+tn+fn"),
    "true_positive_rate": ("tp", "tp+fn"),
    "false_positive_rate": ("fp", "fp+tn"),
}


def _four_fifths(counts: pl.DataFrame, metrics: pl.DataFrame) -> Disparity:
    """The four-fifths rule: every group's selection rate against the more favoured groups'.

    Only groups of at least :data:`MIN_GROUP_SIZE` customers are judged (and only they can be
    the most favoured group). Groups are compared by the ratio of their selection rates and
    its Katz log interval. The rule fails when, for some pair of judged groups, the whole
    interval of the lower rate over the higher lies below 0.8 (the pair with the smallest ratio
    is reported; a group nobody was selected from fails against any group with selections),
    passes when every group's lower bound against the most favoured group is at least 0.8, and
    is undecided otherwise, or when fewer than two groups are large enough.
    """
    judged = metrics.filter(~pl.col("small") & pl.col("selection_rate").is_not_null()).sort(
        ["selection_rate", "group"]
    )
    if judged.height < 2 or not judged.row(-1, named=True)["selection_rate"]:
        return Disparity("four_fifths_rule", None, None, None, (), None, method="katz-log")
    cells = _cells(counts, *_RATE_COUNTS["selection_rate"])
    groups = judged.get_column("group").to_list()
    c = np.array([cells[g][0] for g in groups], dtype=np.float64)
    n = np.array([cells[g][1] for g in groups], dtype=np.float64)
    # Every ordered pair (lower rate i, higher rate j > i in the sort), the higher one selected.
    i, j = np.triu_indices(len(groups), k=1)
    keep = c[j] > 0
    i, j = i[keep], j[keep]
    ratio = (c[i] / n[i]) / (c[j] / n[j])
    low, high = np.full(i.size, np.nan), np.full(i.size, np.nan)
    positive = c[i] > 0
    low[positive], high[positive] = _katz_below(
        c[i][positive], n[i][positive], c[j][positive], n[j][positive]
    )
    for k in np.flatnonzero(~positive):
        low[k], high[k] = _pair_interval(
            int(c[i[k]]), int(n[i[k]]), int(c[j[k]]), int(n[j[k]]), compare="ratio"
        )
    method = "katz-log"
    failing = np.flatnonzero(high < FOUR_FIFTHS[0])
    if failing.size:
        k = failing[np.lexsort((high[failing], ratio[failing]))[0]]
        method = "katz-log" if c[i[k]] else "katz-log, 0.5 added"
        pair = (groups[j[k]], groups[i[k]])
        return Disparity(
            "four_fifths_rule", float(ratio[k]), float(low[k]), float(high[k]), pair, False, method=method
        )
    top = len(groups) - 1
    to_top = np.flatnonzero(j == top)
    passed = True if bool(np.all(low[to_top] >= FOUR_FIFTHS[0])) else None
    # A pass reports the least favoured group. An undecided rule reports, among the groups that
    # keep it open (lower bound under 0.8), the one closest to failing (lowest upper bound): not
    # always the one with the smallest ratio, whose interval may lie clear of 0.8.
    if passed:
        k = to_top[np.argmin(ratio[to_top])]
    else:
        open_ = to_top[low[to_top] < FOUR_FIFTHS[0]]
        k = open_[np.argmin(high[open_])]
    pair = (groups[top], groups[i[k]])
    return Disparity(
        "four_fifths_rule", float(ratio[k]), float(low[k]), float(high[k]), pair, passed, method=method
    )


def disparities(counts: pl.DataFrame) -> list[Disparity]:
    """Demographic parity and equalized odds (difference and ratio) and the four-fifths rule.

    Differences are the largest minus the smallest rate over the groups, ratios the smallest
    over the largest (fairlearn's definitions, small groups included); equalized odds takes the
    worse of the true and false positive rates. Each interval (95%) is statsmodels'
    score-based interval for the pair of groups that defines the disparity: Newcombe's hybrid
    score interval for a difference, Katz's log interval for a ratio. A percentile bootstrap
    of the largest-minus-smallest over many groups was tried and dropped: at tied rates it is
    biased away from equality (its interval excluded the estimate itself), see
    docs/fairness.md. The four-fifths rule is judged group by group (:func:`_four_fifths`).

    Parameters
    ----------
    counts : polars.DataFrame
        :func:`group_counts` with at least two groups.

    Returns
    -------
    list of Disparity
        demographic_parity_difference, demographic_parity_ratio, equalized_odds_difference,
        equalized_odds_ratio, four_fifths_rule.

    Raises
    ------
    ValueError
        With a single group (:data:`MSG_SINGLE_GROUP`).
    """
    if counts.height < 2:
        group = counts.get_column("group")[0] if counts.height else "none"
        raise ValueError(MSG_SINGLE_GROUP.format(column="group", group=group))
    metrics = group_metrics(counts)

    def extremes(rate: str) -> tuple[str, str, float, float] | None:
        known = metrics.filter(pl.col(rate).is_not_null()).sort([rate, "group"])
        if known.height < 2:
            return None
        low_row, high_row = known.row(0, named=True), known.row(-1, named=True)
        return high_row["group"], low_row["group"], float(high_row[rate]), float(low_row[rate])

    def pair(rate: str, top: str, bottom: str) -> tuple[tuple, tuple]:
        cells = _cells(counts, *_RATE_COUNTS[rate])
        diff = _pair_interval(*cells[top], *cells[bottom], compare="diff")
        ratio = _pair_interval(*cells[bottom], *cells[top], compare="ratio")
        return diff, ratio

    out: list[Disparity] = []
    sel = extremes("selection_rate")
    if sel is None:
        out += [Disparity("demographic_parity_difference", None, None, None, ())]
        out += [Disparity("demographic_parity_ratio", None, None, None, ())]
    else:
        top, bottom, hi, lo = sel
        (d_low, d_high), (r_low, r_high) = pair("selection_rate", top, bottom)
        ratio = lo / hi if hi else None
        out.append(
            Disparity(
                "demographic_parity_difference", hi - lo, d_low, d_high, (top, bottom), method="newcombe"
            )
        )
        out.append(
            Disparity("demographic_parity_ratio", ratio, r_low, r_high, (top, bottom), method="katz-log")
        )
    worst_diff, worst_ratio, ratio_undefined = None, None, False
    for rate in ("true_positive_rate", "false_positive_rate"):
        ext = extremes(rate)
        if ext is None:
            continue
        top, bottom, hi, lo = ext
        diff_interval, ratio_interval = pair(rate, top, bottom)
        diff = Disparity(
            "equalized_odds_difference", hi - lo, *diff_interval, (top, bottom), method="newcombe"
        )
        ratio = Disparity(
            "equalized_odds_ratio", lo / hi if hi else None, *ratio_interval, (top, bottom), method="katz-log"
        )
        # Equalized odds is the worse of the two rates: the larger difference, the smaller ratio.
        if worst_diff is None or (diff.value or 0) > (worst_diff.value or 0):
            worst_diff = diff
        if ratio.value is None:
            # 0/0: the rate is 0 in every group. fairlearn's ratio is NaN then; claiming parity
            # from the other rate alone would hide that half of equalized odds is undefined.
            ratio_undefined = True
        elif worst_ratio is None or ratio.value < worst_ratio.value:
            worst_ratio = ratio
    out.append(worst_diff or Disparity("equalized_odds_difference", None, None, None, ()))
    if ratio_undefined:
        worst_ratio = None
    out.append(worst_ratio or Disparity("equalized_odds_ratio", None, None, None, ()))
    out.append(_four_fifths(counts, metrics))
    return out


PROTECTED_ATTRIBUTES: tuple[str, ...] = ("gender", "age_band")
"""The sample bank's protected attributes, audited for every model (the models take age, not gender)."""

MSG_UNKNOWN_ATTRIBUTE = "Unknown protected attribute {name!r}: choose from {choices}."
MSG_BAD_THRESHOLD = "The threshold must be between 0 and 1, got {threshold}."


def _model_rows(backend: ibis.BaseBackend, model_id: str, *, threshold: float, as_of: date) -> ir.Table:
    """A registered model's test customers with outcome, score, decision and protected attributes.

    Only customers consenting to profiling now: the test rows hold no one else (training leaves
    them out), and a customer who withdrew since is left out too (docs/privacy.md).
    """
    scores = backend.table("model_test_scores")
    customers = backend.table("customers")
    consenting = customers.filter(customers.consent_profiling.fill_null(False))
    rows = scores.filter(scores.model_id == ibis.literal(model_id, type="string")).join(
        consenting.select("customer_id", "gender", "birth_date"), "customer_id"
    )
    return rows.select(
        "customer_id",
        y_true=rows.label,
        score=rows.score,
        y_pred=(rows.score >= ibis.literal(float(threshold))).cast("int64"),
        gender=rows.gender,
        age_band=age_band_expr(rows.birth_date, as_of),
    )


@shared_docs
def model_group_counts(
    backend: ibis.BaseBackend,
    model_id: str,
    *,
    threshold: float,
    as_of: date,
    groups: Sequence[str] = ("gender",),
) -> pl.DataFrame:
    """Confusion counts of a registered model's decisions by protected group, in the database.

    The model's test cut-off customers (``model_test_scores``) are flagged when their calibrated
    score is at or above ``threshold``; the counts are one GROUP BY of the join with
    ``customers`` (gender, and the age band on ``as_of``, the test cut-off).

    Parameters
    ----------
    {backend}
    model_id : str
        A registered model (a bound value).
    threshold : float
        The operating threshold.
    as_of : datetime.date
        Date of the age bands (the model's test cut-off).
    groups : sequence of str
        Protected attributes from :data:`PROTECTED_ATTRIBUTES`; several give their intersections.

    Returns
    -------
    polars.DataFrame
        As :func:`group_counts`.
    """
    if not groups:
        raise ValueError(MSG_NO_GROUPS)
    for name in groups:
        if name not in PROTECTED_ATTRIBUTES:
            raise ValueError(MSG_UNKNOWN_ATTRIBUTE.format(name=name, choices=", ".join(PROTECTED_ATTRIBUTES)))
    if not 0 <= threshold <= 1:
        raise ValueError(MSG_BAD_THRESHOLD.format(threshold=threshold))
    rows = _model_rows(backend, model_id, threshold=threshold, as_of=as_of)
    labels = [rows[name].cast("string").fill_null("(missing)") for name in groups]
    group = labels[0] if len(labels) == 1 else ibis.literal(" · ").join(labels)
    labelled = rows.mutate(group=group)
    y, p = labelled.y_true, labelled.y_pred
    counts = (
        labelled.group_by("group")
        .aggregate(
            tp=((y == 1) & (p == 1)).cast("int64").sum(),
            fp=((y == 0) & (p == 1)).cast("int64").sum(),
            tn=((y == 0) & (p == 0)).cast("int64").sum(),
            fn=((y == 1) & (p == 0)).cast("int64").sum(),
            n=labelled.count(),
        )
        .order_by("group")
        .to_polars()
    )
    return counts.with_columns(pl.col(*COUNT_COLUMNS, "n").cast(pl.Int64))


def score_quality(frame: pl.DataFrame, *, y_true: str, score: str, groups: Sequence[str]) -> pl.DataFrame:
    """AUC and calibration (mean score against observed rate) per group of a scored table.

    AUC needs the scores' order, not counts, so scikit-learn's ``roc_auc_score`` runs on each
    group's rows.

    Parameters
    ----------
    frame : polars.DataFrame
        One row per customer.
    y_true : str
        0/1 outcome column.
    score : str
        Score column (probabilities in [0, 1]).
    groups : sequence of str
        Group columns; several give their intersections, labelled as in :func:`group_counts`.

    Returns
    -------
    polars.DataFrame
        ``group``, ``n``, ``positives``, ``auc`` (None with one class only), ``mean_score``,
        ``observed_rate``, ``calibration_gap`` (mean score minus observed rate).
    """
    if not groups:
        raise ValueError(MSG_NO_GROUPS)
    for column in (*groups, score):
        if column not in frame.columns:
            raise ValueError(MSG_MISSING_COLUMN.format(column=column, columns=", ".join(frame.columns)))
    y = binary_column(frame, y_true).to_numpy()
    s = frame.get_column(score).cast(pl.Float64).to_numpy()
    data = pl.DataFrame(
        {
            "group": frame.select(
                pl.concat_str(
                    [pl.col(c).cast(pl.String).fill_null("(missing)") for c in groups], separator=" · "
                )
            ).to_series(),
            "y": y,
            "s": s,
        }
    )
    rows = []
    for (name,), part in data.partition_by("group", as_dict=True, maintain_order=False).items():
        gy, gs = part.get_column("y").to_numpy(), part.get_column("s").to_numpy()
        both = 0 < gy.sum() < gy.size
        rows.append(
            {
                "group": name,
                "n": int(gy.size),
                "positives": int(gy.sum()),
                "auc": float(roc_auc_score(gy, gs)) if both else None,
                "mean_score": float(gs.mean()),
                "observed_rate": float(gy.mean()),
                "calibration_gap": float(gs.mean() - gy.mean()),
            }
        )
    return pl.DataFrame(rows, schema=QUALITY_SCHEMA).sort("group")


QUALITY_SCHEMA = pl.Schema(
    {
        "group": pl.String,
        "n": pl.Int64,
        "positives": pl.Int64,
        "auc": pl.Float64,
        "mean_score": pl.Float64,
        "observed_rate": pl.Float64,
        "calibration_gap": pl.Float64,
    }
)


@shared_docs
def model_rows(backend: ibis.BaseBackend, model_id: str, *, threshold: float, as_of: date) -> pl.DataFrame:
    """A registered model's test customers: outcome, score, decision at ``threshold``, gender, age band.

    Parameters
    ----------
    {backend}
    model_id : str
        A registered model.
    threshold : float
        Operating threshold (the decision ``y_pred`` is score >= threshold).
    as_of : datetime.date
        Date of the age bands (the model's test cut-off).

    Returns
    -------
    polars.DataFrame
        ``customer_id``, ``y_true``, ``score``, ``y_pred``, ``gender``, ``age_band``.
    """
    return _model_rows(backend, model_id, threshold=threshold, as_of=as_of).to_polars()
