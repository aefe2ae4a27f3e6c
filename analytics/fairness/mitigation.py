"""What group thresholds would do to a model's decisions: fairlearn's ThresholdOptimizer (issue 7, item 4).

A compliance reviewer sees, side by side, a model's decisions at one operating threshold
("before") and the decisions of fairlearn's ``ThresholdOptimizer`` (Hardt, Price and Srebro
2016, "Equality of Opportunity in Supervised Learning") under demographic parity or equalized
odds ("after"), with accuracy and AUC against the disparities. Nothing is applied: the result
is a read-out, and the reviewer's decision is recorded by the page.

How the comparison is made (:func:`compare_thresholds`)
-------------------------------------------------------
1. The rows are split into a fit part and an evaluation part with scikit-learn's
   ``train_test_split(np.arange(n), train_size=fit_share, stratify=group x outcome,
   random_state=random_state)``; each part keeps the original row order. The thresholds are
   learned on the fit part and judged on the evaluation part only, so the "after" figures are
   not flattered by fitting and scoring the same rows.
2. ``ThresholdOptimizer(prefit=True, predict_method="predict_proba")`` wraps a pass-through
   classifier (:class:`_ScoreAsProbability`) whose one feature is the model's score, so
   fairlearn post-processes exactly the scores given, without refitting anything.
3. "Before" is ``score >= threshold`` (the audit's convention, as in
   :func:`analytics.fairness.metrics.model_group_counts`); "after" is
   ``optimizer.predict(X, sensitive_features=..., random_state=random_state)``.
4. Both sets of decisions go through Tailor's own :func:`analytics.fairness.metrics.group_counts`,
   :func:`~analytics.fairness.metrics.group_metrics` and :func:`~analytics.fairness.metrics.disparities`, so
   the figures are those the fairness audit would show for the same decisions.

Decisions
---------
* **AUC after.** The mitigated rule is randomised: inside a band of scores a customer is
  selected with some probability, the same for everyone in the band of that group. fairlearn
  0.15 has no public method for that probability (``ThresholdOptimizer._pmf_predict`` is
  private), so it is computed here from the public fitted attribute
  ``interpolated_thresholder_.interpolation_dict`` (per group: ``p0``/``operation0``,
  ``p1``/``operation1`` and, for equalized odds, ``p_ignore``/``prediction_constant``; the
  operations' public ``operator`` and ``threshold``), and "AUC after" is the AUC of that
  probability of selection: how well the mitigated rule ranks positives above negatives.
  "AUC before" is the AUC of the model's score. The AUC of yes/no decisions equals their
  balanced accuracy, which both sides report as well. The tests check the probability
  against fairlearn's private ``_pmf_predict`` to 1e-12.
* **Operating point.** ThresholdOptimizer does not keep ``threshold``: it picks the point
  that maximises ``objective`` under the constraint, so the overall selection rate can move a
  long way (on a churn model with a top-10% threshold, accuracy is best when almost nobody is
  flagged). The result says so in its notes when the overall selection rate changes by more
  than :data:`SELECTION_SHIFT_NOTE` (absolute) so that a fall in disparity is not mistaken for
  a free lunch.
* **The protected attribute at decision time.** Group thresholds need the customer's group
  whenever a decision is made; the notes always say so, since that is a legal question
  (disparate treatment) for the reviewer, not a statistical one.
* **Errors.** fairlearn's own messages are terse or missing: a group with one outcome gives
  "Degenerate labels for sensitive feature value b", labels "Labels other than 0/1 were
  provided.", lengths scikit-learn's "Found input variables with inconsistent numbers of
  samples"; a single group, NaN or out-of-range scores and a threshold outside (0, 1) are not
  refused at all. The ``MSG_*`` constants below name the parameter, the row or the group.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

import numpy as np
import polars as pl
from fairlearn.postprocessing import ThresholdOptimizer
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.utils.validation import check_is_fitted, validate_data

from analytics.fairness import metrics as fairness

Constraint = Literal["demographic_parity", "equalized_odds"]
CONSTRAINTS: tuple[str, ...] = get_args(Constraint)

Objective = Literal["accuracy_score", "balanced_accuracy_score"]
OBJECTIVES: tuple[str, ...] = get_args(Objective)
"""The objectives fairlearn allows under both constraints."""

SELECTION_SHIFT_NOTE = 0.02
"""An overall selection rate moving by more than this (absolute) earns a note on the operating point."""

MSG_UNKNOWN_CONSTRAINT = "Unknown constraint {name!r}: choose from {choices}."
MSG_UNKNOWN_OBJECTIVE = "Unknown objective {name!r}: choose from {choices}."
MSG_BAD_THRESHOLD = "The threshold must be strictly between 0 and 1, got {threshold}."
MSG_BAD_FIT_SHARE = "fit_share must be strictly between 0 and 1, got {fit_share}."
MSG_LENGTHS = (
    "y_true, score and sensitive must hold one value per customer; they hold {y_true}, {score} "
    "and {sensitive} values."
)
MSG_NO_ROWS = "No rows were given: y_true, score and sensitive are empty."
MSG_BAD_LABEL = "y_true must hold only 0 and 1 (or true/false); row {row} holds {value!r}."
MSG_BAD_SCORE = "score must be a probability between 0 and 1; row {row} holds {value!r}."
MSG_SINGLE_GROUP = "sensitive holds a single group ({group}): there is nothing to equalise."
MSG_TINY_STRATUM = (
    "Group {group!r} has a single customer with outcome {label}: the split by group and outcome "
    "needs at least two (one to fit, one to evaluate). Merge the group with another or leave it out."
)
MSG_SPLIT = "The {n} rows cannot be split {fit:.1%} / {rest:.1%} by group and outcome: {reason}"
MSG_ONE_SCORE_COLUMN = "X must be the one score column, got {columns} columns."
MSG_ONE_CLASS_IN_FIT = (
    "Group {group!r} has {positives} positive and {negatives} negative outcomes among its {n} rows "
    "in the fit part: ThresholdOptimizer needs both outcomes in every group to learn its thresholds. "
    "Use more rows or a larger fit_share, or merge the group with another."
)


@dataclass(frozen=True)
class DecisionQuality:
    """Accuracy, ranking and disparity of one set of decisions on the evaluation rows.

    Parameters
    ----------
    accuracy : float
        Share of correct decisions.
    balanced_accuracy : float or None
        Mean of the true positive and true negative rates (the AUC of the yes/no decisions);
        None when the evaluation rows hold one outcome only.
    auc : float or None
        Before: AUC of the model's score. After: AUC of each customer's probability of being
        selected by the group thresholds (module docstring). None with one outcome only.
    selection_rate : float
        Share of customers selected.
    demographic_parity_difference : float or None
        Largest minus smallest selection rate over the groups
        (:func:`analytics.fairness.metrics.disparities`).
    equalized_odds_difference : float or None
        The larger of the true and false positive rate differences (groups where a rate is
        undefined are left out, as in the audit).
    four_fifths_ratio : float or None
        Smallest over largest selection rate.
    four_fifths_passed : bool or None
        The audit's four-fifths verdict (None when undecided: fewer than two groups of 30, or an
        interval reaching below 0.8).
    """

    accuracy: float
    balanced_accuracy: float | None
    auc: float | None
    selection_rate: float
    demographic_parity_difference: float | None
    equalized_odds_difference: float | None
    four_fifths_ratio: float | None
    four_fifths_passed: bool | None


@dataclass(frozen=True)
class MitigationResult:
    """Decisions at one threshold against ThresholdOptimizer's group thresholds, on held-out rows.

    Parameters
    ----------
    constraint : str
        :data:`Constraint` the thresholds were fitted under.
    objective : str
        :data:`Objective` they maximise.
    threshold : float
        The single operating threshold of the "before" decisions (score >= threshold).
    fit_share : float
        Share of the rows the thresholds were fitted on.
    random_state : int
        Seed of the split and of the randomised "after" decisions.
    n_fit, n_eval : int
        Rows in the fit and evaluation parts.
    before, after : DecisionQuality
        The two sets of decisions on the evaluation rows.
    group_thresholds : polars.DataFrame
        What ThresholdOptimizer learned, per group: ``group``, ``rule`` (in words, e.g.
        "select when score > 0.68; when 0.654 < score ≤ 0.68, select with probability 0.69"),
        ``p0``, ``operator0``, ``threshold0``, ``p1``, ``operator1``, ``threshold1`` (fairlearn's
        interpolation: with probability p0 apply ``score <operator0> threshold0``, else the
        other), ``p_ignore`` and ``prediction_constant`` (equalized odds only: that share of
        decisions is replaced by a random one selecting with that probability; None otherwise).
    by_group : polars.DataFrame
        ``group``, ``n`` (evaluation rows), ``positives`` (actual positives among them),
        ``selection_rate_before``/``_after``,
        ``true_positive_rate_before``/``_after``, ``false_positive_rate_before``/``_after``
        (None where undefined).
    notes : tuple of str
        What the reviewer should know before deciding.
    """

    constraint: str
    objective: str
    threshold: float
    fit_share: float
    random_state: int
    n_fit: int
    n_eval: int
    before: DecisionQuality
    after: DecisionQuality
    group_thresholds: pl.DataFrame
    by_group: pl.DataFrame
    notes: tuple[str, ...]


class _ScoreAsProbability(ClassifierMixin, BaseEstimator):
    """A classifier whose probability of class 1 is its single feature: a model's score, passed through.

    Follows scikit-learn's estimator contract so that ThresholdOptimizer(prefit=True) can wrap
    it: nothing is learned but ``classes_`` and ``n_features_in_``. scikit-learn's generic
    ``parametrize_with_checks`` does not apply (its checks fit random many-column data and expect
    the classifier to learn it); the contract is tested directly.

    Parameters
    ----------
    threshold : float
        ``predict`` returns 1 where the score is at or above it.
    """

    def __init__(self, threshold: float = 0.5) -> None:
        self.threshold = threshold

    def fit(self, X, y=None) -> _ScoreAsProbability:
        """Check X is one column of scores; set ``classes_`` to [0, 1]; return self."""
        self._scores(X, reset=True)
        self.classes_ = np.array([0, 1])
        return self

    def _scores(self, X, *, reset: bool) -> np.ndarray:
        X = validate_data(self, X, reset=reset, dtype=np.float64)
        if X.shape[1] != 1:
            raise ValueError(MSG_ONE_SCORE_COLUMN.format(columns=X.shape[1]))
        return X[:, 0]

    def predict_proba(self, X) -> np.ndarray:
        """Columns: 1 - score, score."""
        check_is_fitted(self)
        score = self._scores(X, reset=False)
        return np.column_stack([1.0 - score, score])

    def predict(self, X) -> np.ndarray:
        """1 where score >= threshold."""
        return (self.predict_proba(X)[:, 1] >= self.threshold).astype(np.int64)


def _series(values: Any, name: str) -> pl.Series:
    if isinstance(values, pl.Series):
        return values.rename(name)
    array = np.asarray(values)
    if array.dtype != object:
        return pl.Series(name, array)
    # Numbers and text mixed: kept as text, so the checks below can name the odd row.
    return pl.Series(name, [None if v is None else str(v) for v in array.tolist()], dtype=pl.String)


def _labels(values: pl.Series) -> np.ndarray:
    series = values.cast(pl.Int64) if values.dtype == pl.Boolean else values
    numbers = series.cast(pl.Float64, strict=False)
    bad = (numbers.is_null() | ~numbers.is_in([0.0, 1.0])).fill_null(True)
    if bad.any():
        row = int(bad.arg_max())
        raise ValueError(MSG_BAD_LABEL.format(row=row + 1, value=values[row]))
    return numbers.cast(pl.Int64).to_numpy()


def _scores(values: pl.Series) -> np.ndarray:
    numbers = values.cast(pl.Float64, strict=False)
    bad = (numbers.is_null() | numbers.is_nan() | (numbers < 0) | (numbers > 1)).fill_null(True)
    if bad.any():
        row = int(bad.arg_max())
        raise ValueError(MSG_BAD_SCORE.format(row=row + 1, value=values[row]))
    return numbers.to_numpy().astype(np.float64)


def _split(
    y: np.ndarray, codes: np.ndarray, names: np.ndarray, *, fit_share: float, random_state: int
) -> tuple[np.ndarray, np.ndarray]:
    """Stratified split by group x outcome; each part in the original row order."""
    strata = codes * 2 + y
    sizes = np.bincount(strata, minlength=2 * names.size)
    lonely = np.flatnonzero(sizes == 1)
    if lonely.size:
        raise ValueError(MSG_TINY_STRATUM.format(group=str(names[lonely[0] // 2]), label=lonely[0] % 2))
    try:
        fit_rows, eval_rows = train_test_split(
            np.arange(y.size), train_size=fit_share, stratify=strata, random_state=random_state
        )
    except ValueError as error:
        message = MSG_SPLIT.format(n=y.size, fit=fit_share, rest=1 - fit_share, reason=error)
        raise ValueError(message) from error
    return np.sort(fit_rows), np.sort(eval_rows)


def _rule_holds(operator: str, threshold: float, score: np.ndarray) -> np.ndarray:
    """One of fairlearn's ThresholdOperations: strict ``>`` or ``<``."""
    return score > threshold if operator == ">" else score < threshold


def _interpolation_rows(interpolation: Mapping[Any, Any]) -> list[dict]:
    """The public fields of ``interpolated_thresholder_.interpolation_dict``, one row per group."""
    rows = []
    for group, bunch in interpolation.items():
        has_ignore = "p_ignore" in bunch
        rows.append(
            {
                "group": str(group),
                "p0": float(bunch.p0),
                "operator0": str(bunch.operation0.operator),
                "threshold0": float(bunch.operation0.threshold),
                "p1": float(bunch.p1),
                "operator1": str(bunch.operation1.operator),
                "threshold1": float(bunch.operation1.threshold),
                "p_ignore": float(bunch.p_ignore) if has_ignore else None,
                "prediction_constant": float(bunch.prediction_constant) if has_ignore else None,
            }
        )
    return sorted(rows, key=lambda row: row["group"])


def _selection_probability(rows: list[dict], score: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Each customer's probability of being selected by the group thresholds.

    fairlearn's interpolation, written out because its only implementation is the private
    ``_pmf_predict``: p0 * [rule 0 holds] + p1 * [rule 1 holds], then for equalized odds a
    share p_ignore of decisions replaced by a coin that selects with probability
    prediction_constant.
    """
    probability = np.zeros(score.size)
    for row in rows:
        inside = groups == row["group"]
        s = score[inside]
        p = row["p0"] * _rule_holds(row["operator0"], row["threshold0"], s) + row["p1"] * _rule_holds(
            row["operator1"], row["threshold1"], s
        )
        if row["p_ignore"] is not None:
            p = row["p_ignore"] * row["prediction_constant"] + (1 - row["p_ignore"]) * p
        probability[inside] = p
    return probability


def _number(value: float) -> str:
    return f"{value:.4g}"


def _one_rule(operator: str, threshold: float) -> str:
    if math.isinf(threshold):
        everyone = (operator == ">") == (threshold < 0)
        return "select everyone" if everyone else "select nobody"
    return f"select when score {operator} {_number(threshold)}"


def _describe(row: dict) -> str:
    """A group's interpolation in words."""
    p_ignore, constant = row["p_ignore"], row["prediction_constant"]
    if p_ignore is not None and p_ignore >= 1 - 1e-9:
        # Every decision is the coin: the thresholds never apply.
        if constant <= 1e-12 or constant >= 1 - 1e-12:
            return "select nobody" if constant <= 1e-12 else "select everyone"
        return f"select at random with probability {constant:.3f}"
    weights = [
        (row["p0"], row["operator0"], row["threshold0"]),
        (row["p1"], row["operator1"], row["threshold1"]),
    ]
    used = [(p, op, t) for p, op, t in weights if p > 1e-9]
    if len(used) == 1 or (len(used) == 2 and used[0][1:] == used[1][1:]):
        text = _one_rule(used[0][1], used[0][2])
    elif all(op == ">" for _, op, _ in used):
        (_, _, high), (p_low, _, low) = sorted(used, key=lambda w: w[2], reverse=True)
        # Above the higher threshold both rules select; between the two only the lower one does.
        parts = [] if math.isinf(high) else [f"select when score > {_number(high)}"]
        if math.isinf(low) and math.isinf(high):
            band = "for everyone"
        elif math.isinf(low):
            band = f"when score ≤ {_number(high)}"
        elif math.isinf(high):
            band = f"when score > {_number(low)}"
        else:
            band = f"when {_number(low)} < score ≤ {_number(high)}"
        parts.append(f"{band}, select with probability {p_low:.2f}")
        text = "; ".join(parts)
    else:
        text = "; ".join(f"with probability {p:.2f}: {_one_rule(op, t)}" for p, op, t in used)
    if p_ignore:
        text += (
            f"; then {p_ignore:.1%} of decisions are replaced by a random one that selects "
            f"with probability {constant:.3f}"
        )
    return text


_BY_GROUP_RATES = ("selection_rate", "true_positive_rate", "false_positive_rate")


def _quality(
    y: np.ndarray, decision: np.ndarray, groups: np.ndarray, ranking: np.ndarray
) -> tuple[DecisionQuality, pl.DataFrame]:
    """The audit's figures for one set of decisions, and its per-group rates."""
    frame = pl.DataFrame({"group": groups, "y": y, "p": decision})
    counts = fairness.group_counts(frame, y_true="y", y_pred="p", groups=["group"])
    found = {d.name: d for d in fairness.disparities(counts)}
    tp, fp, tn, fn = (int(counts.get_column(c).sum()) for c in fairness.COUNT_COLUMNS)
    n = tp + fp + tn + fn
    both = tp + fn > 0 and tn + fp > 0
    quality = DecisionQuality(
        accuracy=(tp + tn) / n,
        balanced_accuracy=(tp / (tp + fn) + tn / (tn + fp)) / 2 if both else None,
        auc=float(roc_auc_score(y, ranking)) if both else None,
        selection_rate=(tp + fp) / n,
        demographic_parity_difference=found["demographic_parity_difference"].value,
        equalized_odds_difference=found["equalized_odds_difference"].value,
        four_fifths_ratio=found["four_fifths_rule"].value,
        four_fifths_passed=found["four_fifths_rule"].passed,
    )
    positives = counts.select("group", positives=pl.col("tp") + pl.col("fn"))
    rates = fairness.group_metrics(counts).select("group", "n", *_BY_GROUP_RATES)
    return quality, rates.join(positives, on="group").select("group", "n", "positives", *_BY_GROUP_RATES)


def _notes(
    *,
    constraint: str,
    objective: str,
    before: DecisionQuality,
    after: DecisionQuality,
    probability: np.ndarray,
    by_group: pl.DataFrame,
    n_eval: int,
    random_state: int,
) -> tuple[str, ...]:
    target = {
        "demographic_parity": "demographic_parity_difference",
        "equalized_odds": "equalized_odds_difference",
    }[constraint]
    label = target.replace("_", " ")
    b, a = getattr(before, target), getattr(after, target)
    notes = []
    if b is not None and a is not None:
        notes.append(
            f"On the {n_eval} held-out rows the {label} goes from {b:.3f} to {a:.3f} and accuracy "
            f"from {before.accuracy:.3f} to {after.accuracy:.3f}."
        )
        if a >= b:
            notes.append(
                f"The group thresholds did not reduce the {label} on the held-out rows: the decisions "
                "may already meet the constraint, or the fit part is too small to learn it."
            )
    if abs(after.selection_rate - before.selection_rate) > SELECTION_SHIFT_NOTE:
        notes.append(
            f"ThresholdOptimizer does not keep the threshold: it picks the operating point that "
            f"maximises {objective} under {constraint}, so the overall selection rate moves from "
            f"{before.selection_rate:.1%} to {after.selection_rate:.1%}. Part of the change in accuracy "
            "and disparity comes from selecting a different number of customers."
        )
    notes.append(
        "Group thresholds use the protected attribute whenever a decision is made (a different rule "
        "per group): whether that is allowed for this decision is a legal question, not a statistical one."
    )
    if ((probability > 0) & (probability < 1)).any():
        notes.append(
            "Some decisions after mitigation are random (customers in a band of scores are selected with "
            f"a probability); they are reproducible with random_state={random_state}."
        )
    notes.append(
        "AUC before is the model score's; AUC after ranks customers by their probability of being "
        "selected under the group thresholds. Balanced accuracy is the AUC of the yes/no decisions."
    )
    least = fairness.MIN_GROUP_SIZE
    for group, n, positives in by_group.select("group", "n", "positives").iter_rows():
        if n < least:
            notes.append(
                f"Group {group!r} has {n} customers among the held-out rows (under {least}): its rates "
                "are uncertain and the four-fifths verdict is withheld."
            )
        elif min(positives, n - positives) < least:
            notes.append(
                f"Group {group!r} has {positives} actual positives and {n - positives} actual negatives "
                f"among the held-out rows: with under {least} of one kind its true or false positive "
                "rate, and so equalized odds, is uncertain."
            )
    return tuple(notes)


def compare_thresholds(
    y_true: Any,
    score: Any,
    sensitive: Any,
    *,
    constraint: Constraint,
    threshold: float,
    objective: Objective = "accuracy_score",
    fit_share: float = 0.5,
    random_state: int = 0,
) -> MitigationResult:
    """Compare decisions at one threshold with fairlearn's ThresholdOptimizer under a fairness constraint.

    The rows are split (stratified by group x outcome) into a fit part, on which
    ThresholdOptimizer learns one randomised threshold rule per group, and an evaluation part,
    on which "before" (``score >= threshold``) and "after" (the optimizer's decisions) are
    compared with the fairness audit's own functions. See the module docstring for the
    choices made (AUC after, the operating point).

    Parameters
    ----------
    y_true : numpy.ndarray or polars.Series
        Outcomes, 0/1 (or booleans).
    score : numpy.ndarray or polars.Series
        The model's probability of a 1, in [0, 1].
    sensitive : numpy.ndarray or polars.Series
        Each row's protected group (cast to text; missing values form the group
        "(missing)"). For an intersection pass the joined labels.
    constraint : {"demographic_parity", "equalized_odds"}
        Equal selection rates, or equal true and false positive rates, across groups.
    threshold : float
        The current operating threshold, strictly between 0 and 1.
    objective : {"accuracy_score", "balanced_accuracy_score"}
        What ThresholdOptimizer maximises under the constraint.
    fit_share : float
        Share of the rows used to fit the thresholds, strictly between 0 and 1.
    random_state : int
        Seed of the split and of the randomised decisions.

    Returns
    -------
    MitigationResult
        Before and after on the evaluation rows, the learned rules, rates by group and notes.

    Raises
    ------
    ValueError
        Unknown constraint or objective, threshold or fit_share outside (0, 1), lengths that
        differ, labels outside {0, 1}, scores outside [0, 1] or missing (naming the row), a
        single group, a group and outcome with one customer, or a group with one outcome in the
        fit part (naming the group).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> group = rng.choice(["a", "b"], 4000)
    >>> y = rng.binomial(1, 0.4, 4000)
    >>> score = np.clip(0.2 + 0.4 * y + np.where(group == "a", 0.15, -0.05) + rng.normal(0, 0.15, 4000), 0, 1)
    >>> result = compare_thresholds(y, score, group, constraint="demographic_parity", threshold=0.5)
    >>> before, after = result.before, result.after
    >>> round(before.demographic_parity_difference, 2), round(after.demographic_parity_difference, 2)
    (0.2, 0.01)
    """
    if constraint not in CONSTRAINTS:
        raise ValueError(MSG_UNKNOWN_CONSTRAINT.format(name=constraint, choices=", ".join(CONSTRAINTS)))
    if objective not in OBJECTIVES:
        raise ValueError(MSG_UNKNOWN_OBJECTIVE.format(name=objective, choices=", ".join(OBJECTIVES)))
    if not 0 < threshold < 1:
        raise ValueError(MSG_BAD_THRESHOLD.format(threshold=threshold))
    if not 0 < fit_share < 1:
        raise ValueError(MSG_BAD_FIT_SHARE.format(fit_share=fit_share))
    labels, scores = _series(y_true, "y_true"), _series(score, "score")
    groups = _series(sensitive, "sensitive")
    if not labels.len() == scores.len() == groups.len():
        raise ValueError(MSG_LENGTHS.format(y_true=labels.len(), score=scores.len(), sensitive=groups.len()))
    if labels.len() == 0:
        raise ValueError(MSG_NO_ROWS)
    y, s = _labels(labels), _scores(scores)
    g = groups.cast(pl.String).fill_null("(missing)").to_numpy().astype(object)
    names, codes = np.unique(g, return_inverse=True)
    if names.size < 2:
        raise ValueError(MSG_SINGLE_GROUP.format(group=names[0]))
    fit_rows, eval_rows = _split(y, codes, names, fit_share=fit_share, random_state=random_state)
    fit_codes, fit_y = codes[fit_rows], y[fit_rows]
    for index, name in enumerate(names):
        part = fit_y[fit_codes == index]
        if part.size == 0 or part.min() == part.max():
            positives = int(part.sum())
            raise ValueError(
                MSG_ONE_CLASS_IN_FIT.format(
                    group=str(name), positives=positives, negatives=part.size - positives, n=part.size
                )
            )

    x_fit = s[fit_rows].reshape(-1, 1)
    optimizer = ThresholdOptimizer(
        estimator=_ScoreAsProbability(threshold=threshold).fit(x_fit, fit_y),
        constraints=constraint,
        objective=objective,
        prefit=True,
        predict_method="predict_proba",
    ).fit(x_fit, fit_y, sensitive_features=g[fit_rows])

    y_eval, s_eval, g_eval = y[eval_rows], s[eval_rows], g[eval_rows]
    decided = optimizer.predict(s_eval.reshape(-1, 1), sensitive_features=g_eval, random_state=random_state)
    rows = _interpolation_rows(optimizer.interpolated_thresholder_.interpolation_dict)
    probability = _selection_probability(rows, s_eval, g_eval)
    before, rates_before = _quality(y_eval, (s_eval >= threshold).astype(np.int64), g_eval, s_eval)
    after, rates_after = _quality(y_eval, np.asarray(decided, dtype=np.int64), g_eval, probability)

    by_group = rates_before.rename({r: f"{r}_before" for r in _BY_GROUP_RATES}).join(
        rates_after.drop("n", "positives").rename({r: f"{r}_after" for r in _BY_GROUP_RATES}),
        on="group",
        how="left",
    )
    by_group = by_group.select(
        "group", "n", "positives", *(f"{r}_{when}" for r in _BY_GROUP_RATES for when in ("before", "after"))
    ).sort("group")
    group_thresholds = pl.DataFrame(
        [
            {"group": row["group"], "rule": _describe(row), **{k: v for k, v in row.items() if k != "group"}}
            for row in rows
        ],
        schema={
            "group": pl.String,
            "rule": pl.String,
            "p0": pl.Float64,
            "operator0": pl.String,
            "threshold0": pl.Float64,
            "p1": pl.Float64,
            "operator1": pl.String,
            "threshold1": pl.Float64,
            "p_ignore": pl.Float64,
            "prediction_constant": pl.Float64,
        },
    )
    return MitigationResult(
        constraint=constraint,
        objective=objective,
        threshold=float(threshold),
        fit_share=float(fit_share),
        random_state=int(random_state),
        n_fit=int(fit_rows.size),
        n_eval=int(eval_rows.size),
        before=before,
        after=after,
        group_thresholds=group_thresholds,
        by_group=by_group,
        notes=_notes(
            constraint=constraint,
            objective=objective,
            before=before,
            after=after,
            probability=probability,
            by_group=by_group,
            n_eval=int(eval_rows.size),
            random_state=random_state,
        ),
    )
