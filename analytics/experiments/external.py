"""Experiments run elsewhere, read out: per-customer rows or per-arm summaries (GrowthBook's names too).

:func:`external_arms` turns an uploaded file into the arms' sums (:data:`SUMMARY_ALIASES` names
the columns a summary may use), :func:`parse_design` reads the planned split, and
:func:`read_out_external` compares the treatments with the control as the bank's read-out does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from analytics.experiments.arms import ArmStats, MetricKind, arm_stats
from analytics.experiments.comparison import Comparison, compare
from analytics.experiments.frequentist import IntervalMethod, Srm, srm_test
from analytics.experiments.readout import compose_decision, srm_warning
from analytics.experiments.sequential import DEFAULT_TUNING_N

MSG_COLUMN_MISSING = "Column {column!r} is not in the file. Its columns are: {columns}."
MSG_NOT_NUMERIC = "Column {column!r} must hold numbers (or true/false); row {row} holds {value!r}."
MSG_MISSING_VALUE = "Column {column!r} has no value on row {row}: every customer needs one."
MSG_SUMMARY_NEGATIVE = "Arm {arm!r}: {column} is negative ({value}); counts and sums of squares cannot be."
MSG_SUMMARY_FRACTION = "Arm {arm!r}: n must be a whole number of customers, got {value}."
MSG_SUMMARY_EMPTY_ARM = "Arm {arm!r} has no customers (n = 0)."
MSG_SUMMARY_DUPLICATE = "Arm {arm!r} appears on {count} rows of the summary: give one row per arm."
MSG_BAD_DESIGN = "The design split {design!r} must give one share per arm ({arms}), e.g. 50,50."
MSG_FILE_NO_CONTROL = "The control arm {control!r} is not a value of column {column!r} (its values: {arms})."
MSG_FILE_SINGLE_ARM = "Column {column!r} holds a single arm ({arms}): there is nothing to compare."
MSG_SUMMARY_MISSING = (
    "The summary has no column for {field} (accepted names, in any case: {names}). "
    "Its columns are: {columns}."
)
MSG_SUMMARY_CONFLICT = (
    "Columns {first!r} and {second!r} both give {field} but differ on row {row} ({a} and {b}): "
    "keep one of them."
)
MSG_SUMMARY_PARTIAL = (
    "The summary gives {given} but not {missing}: the {group} sums come as a group ({fields}), all or none."
)
MSG_SUMMARY_NOT_BINARY = (
    "Arm {arm!r}: the summary has no column for {field}, which only 0/1 values can do without (their sum of "
    "squares is their sum); {sum_field} = {value} is not a whole number between 0 and n = {n}."
)
SUMMARY_COLUMNS = ("n", "sum", "sum_sq")
"""The sums every per-arm summary gives (besides the variant column), by the library's names."""
SUMMARY_ALIASES: dict[str, tuple[str, ...]] = {
    "n": ("n", "users", "count"),
    "sum": ("sum", "main_sum"),
    "sum_sq": ("sum_sq", "sum_squares", "sum_of_squares", "main_sum_squares"),
    "x_sum": ("x_sum", "covariate_sum"),
    "x_sum_sq": ("x_sum_sq", "covariate_sum_sq", "covariate_sum_squares"),
    "xy_sum": ("xy_sum", "main_covariate_sum_product"),
    "d_sum": ("d_sum", "denominator_sum"),
    "d_sum_sq": ("d_sum_sq", "denominator_sum_sq", "denominator_sum_squares"),
    "yd_sum": ("yd_sum", "main_denominator_sum_product"),
}
"""Column names accepted for each :class:`analytics.experiments.arms.ArmStats` sum of a summary file,
compared without regard to case: the library's name first, then the aliases (GrowthBook's export names
``main_sum``, ``main_sum_squares``, ``covariate_sum``, ``main_covariate_sum_product``,
``denominator_sum``, ... and ``users`` / ``count`` for the customers)."""
SUMMARY_GROUPS: dict[str, tuple[str, ...]] = {
    "covariate": ("x_sum", "x_sum_sq", "xy_sum"),
    "denominator": ("d_sum", "d_sum_sq", "yd_sum"),
}
"""Optional groups of sums: the pre-period covariate (CUPED) and the ratio metric's denominator."""


@dataclass(frozen=True)
class ExternalResult:
    """The read-out of an uploaded experiment.

    Parameters
    ----------
    metric : str
        The metric column's name.
    kind : str
        proportion (0/1 values), mean, or ratio (a summary with denominator sums).
    arms : tuple of analytics.experiments.arms.ArmStats
        Control first.
    comparisons : dict of str to analytics.experiments.comparison.Comparison
        By treatment.
    srm : analytics.experiments.frequentist.Srm
        Against the design split.
    decision : str
        The plain-language line.
    """

    metric: str
    kind: str
    arms: tuple[ArmStats, ...]
    comparisons: dict[str, Comparison]
    srm: Srm
    decision: str


def _numbers(frame: pl.DataFrame, column: str) -> np.ndarray:
    if column not in frame.columns:
        raise ValueError(MSG_COLUMN_MISSING.format(column=column, columns=", ".join(frame.columns)))
    series = frame.get_column(column)
    if series.dtype == pl.Boolean:
        series = series.cast(pl.Float64)
    if not series.dtype.is_numeric():
        cast = series.cast(pl.Float64, strict=False)
        bad = cast.is_null() & series.is_not_null()
        if bad.any():
            row = int(bad.arg_max())
            raise ValueError(MSG_NOT_NUMERIC.format(column=column, row=row + 1, value=series[row]))
        series = cast
    values = series.cast(pl.Float64)
    missing = values.is_null() | values.is_nan() | values.is_infinite()
    if missing.any():
        raise ValueError(MSG_MISSING_VALUE.format(column=column, row=int(missing.arg_max()) + 1))
    return values.to_numpy()


def external_arms(
    frame: pl.DataFrame,
    *,
    variant_col: str,
    control: str,
    metric: str,
    covariate: str | None = None,
    summary: bool = False,
) -> tuple[tuple[ArmStats, ...], MetricKind]:
    """The arms of an uploaded experiment: per-customer rows or per-arm summaries.

    Parameters
    ----------
    frame : polars.DataFrame
        Per-customer rows (a variant column, the metric, optionally a pre-period covariate),
        or with ``summary`` one row per arm with the sums of :data:`SUMMARY_ALIASES`: ``n`` and
        ``sum`` always; ``sum_sq`` unless the values are 0/1; the covariate sums (CUPED) and the
        denominator sums (a ratio metric) as whole groups, optionally.
    variant_col : str
        The column naming each row's arm.
    control : str
        The control arm's name.
    metric : str
        The metric column (per-customer rows); with ``summary``, only its name.
    covariate : str, optional
        Pre-period value of the metric, for CUPED (per-customer rows only).
    summary : bool
        Whether the rows are per-arm summaries.

    Returns
    -------
    tuple
        The arms (control first, then the others in file order) and the metric kind:
        ``ratio`` for a summary with denominator sums, else ``proportion`` when every value is
        0 or 1, else ``mean``.

    Raises
    ------
    ValueError
        Missing columns, non-numeric or missing values (naming the row), negative or empty
        summaries, two columns giving the same sum with different values, a partial group of
        sums, a missing sum of squares for values that are not 0/1, sums no data could have, a
        missing control or a single arm.
    """
    if variant_col not in frame.columns:
        raise ValueError(MSG_COLUMN_MISSING.format(column=variant_col, columns=", ".join(frame.columns)))
    variants = frame.get_column(variant_col).cast(pl.String)
    if variants.null_count():
        raise ValueError(
            MSG_MISSING_VALUE.format(column=variant_col, row=int(variants.is_null().arg_max()) + 1)
        )
    names = [str(v) for v in variants.unique(maintain_order=True).drop_nulls().to_list()]
    if control not in names:
        raise ValueError(
            MSG_FILE_NO_CONTROL.format(control=control, column=variant_col, arms=", ".join(names) or "none")
        )
    if len(names) < 2:
        raise ValueError(MSG_FILE_SINGLE_ARM.format(column=variant_col, arms=", ".join(names)))
    order = [control, *(n for n in names if n != control)]
    if summary:
        return _summary_arms(frame, variants, order)
    y = _numbers(frame, metric)
    x = _numbers(frame, covariate) if covariate else None
    mask_of = {name: (variants == name).to_numpy() for name in order}
    arms = tuple(arm_stats(name, y[mask], x=None if x is None else x[mask]) for name, mask in mask_of.items())
    kind: MetricKind = "proportion" if np.isin(y, (0.0, 1.0)).all() else "mean"
    return arms, kind


def _summary_columns(frame: pl.DataFrame) -> dict[str, list[str]]:
    """The file's columns that give each sum of :data:`SUMMARY_ALIASES`, in the aliases' order."""
    by_name: dict[str, list[str]] = {}
    for column in frame.columns:
        by_name.setdefault(column.lower(), []).append(column)
    found = {}
    for field, names in SUMMARY_ALIASES.items():
        columns = [c for name in names for c in by_name.get(name, [])]
        if columns:
            found[field] = columns
    return found


def _summary_values(frame: pl.DataFrame, field: str, columns: list[str]) -> np.ndarray:
    """One sum's values; several columns naming it (``users`` and ``count``) must agree."""
    values = _numbers(frame, columns[0])
    for other in columns[1:]:
        more = _numbers(frame, other)
        differ = ~np.isclose(values, more, rtol=1e-12, atol=0.0)
        if differ.any():
            row = int(np.flatnonzero(differ)[0])
            raise ValueError(
                MSG_SUMMARY_CONFLICT.format(
                    first=columns[0], second=other, field=field, row=row + 1, a=values[row], b=more[row]
                )
            )
    return values


def _summary_arms(
    frame: pl.DataFrame, variants: pl.Series, order: Sequence[str]
) -> tuple[tuple[ArmStats, ...], MetricKind]:
    found = _summary_columns(frame)
    for field in ("n", "sum"):
        if field not in found:
            raise ValueError(
                MSG_SUMMARY_MISSING.format(
                    field=field, names=", ".join(SUMMARY_ALIASES[field]), columns=", ".join(frame.columns)
                )
            )
    for group, fields in SUMMARY_GROUPS.items():
        # The covariate's sum of squares may be left out for 0/1 values (checked per arm below).
        needed = [f for f in fields if f != "x_sum_sq"]
        given = [f for f in fields if f in found]
        missing = [f for f in needed if f not in found]
        if given and missing:
            raise ValueError(
                MSG_SUMMARY_PARTIAL.format(
                    given=", ".join(given), missing=", ".join(missing), group=group, fields=", ".join(fields)
                )
            )
    values = {field: _summary_values(frame, field, columns) for field, columns in found.items()}
    label = {field: columns[0] for field, columns in found.items()}
    arms = []
    for name in order:
        rows = np.flatnonzero((variants == name).to_numpy())
        if rows.size > 1:
            raise ValueError(MSG_SUMMARY_DUPLICATE.format(arm=name, count=rows.size))
        i = int(rows[0])
        for field in ("n", "sum_sq", "x_sum_sq", "d_sum_sq"):
            if field in values and values[field][i] < 0:
                raise ValueError(
                    MSG_SUMMARY_NEGATIVE.format(arm=name, column=label[field], value=values[field][i])
                )
        n = values["n"][i]
        if n != round(n):
            raise ValueError(MSG_SUMMARY_FRACTION.format(arm=name, value=n))
        if n == 0:
            raise ValueError(MSG_SUMMARY_EMPTY_ARM.format(arm=name))
        sums = {field: float(column[i]) for field, column in values.items() if field != "n"}
        for square, total in (("sum_sq", "sum"), ("x_sum_sq", "x_sum")):
            if square in sums or total not in sums:
                continue
            # 0/1 values (a conversion): the sum of squares is the sum, as GrowthBook's binomial
            # exports leave it out.
            if not (sums[total].is_integer() and 0 <= sums[total] <= n):
                raise ValueError(
                    MSG_SUMMARY_NOT_BINARY.format(
                        arm=name, field=square, sum_field=label[total], value=sums[total], n=int(n)
                    )
                )
            sums[square] = sums[total]
        arms.append(ArmStats(name=name, n=int(n), **sums))
    if "d_sum" in found:
        return tuple(arms), "ratio"
    is_binary = all(a.sum_sq == a.sum and 0 <= a.sum <= a.n and a.sum.is_integer() for a in arms)
    return tuple(arms), "proportion" if is_binary else "mean"


def parse_design(text: str | None, arms: int) -> tuple[float, ...]:
    """Planned shares from text such as "50,50" (equal shares when empty).

    Parameters
    ----------
    text : str or None
        Comma-separated shares, one per arm, control first.
    arms : int
        Number of arms.

    Returns
    -------
    tuple of float
        The shares as given (percent or fractions; the SRM test normalizes them).

    Raises
    ------
    ValueError
        When the count differs from the arms or a share is not a positive number (:data:`MSG_BAD_DESIGN`).
    """
    if not text:
        return tuple([100.0 / arms] * arms)
    try:
        shares = tuple(float(part) for part in text.split(","))
    except ValueError:
        shares = ()
    if len(shares) != arms or any(not np.isfinite(s) or s <= 0 for s in shares):
        raise ValueError(MSG_BAD_DESIGN.format(design=text, arms=arms))
    return shares


def read_out_external(
    arms: Sequence[ArmStats],
    *,
    kind: MetricKind,
    metric: str,
    design: Sequence[float],
    alpha: float = 0.05,
    cuped: bool = False,
    interval_method: IntervalMethod = "z",
    sequential: bool = False,
    tuning_n: int = DEFAULT_TUNING_N,
) -> ExternalResult:
    """Compare an uploaded experiment's treatments with its control.

    Parameters
    ----------
    arms : sequence of analytics.experiments.arms.ArmStats
        Control first (:func:`external_arms`).
    kind : {"proportion", "mean", "ratio"}
        The metric's kind.
    metric : str
        Its name, for the decision line.
    design : sequence of float
        Planned shares (:func:`parse_design`).
    alpha : float
        Significance level.
    cuped : bool
        Adjust for the covariate (when the arms carry one; not for a ratio metric, for which
        CUPED is not offered).
    interval_method : {"z", "welch-t"}
        Reference distribution of a proportion's or ratio's test and intervals
        (:func:`analytics.experiments.comparison.compare`).
    sequential : bool
        Also compute the always-valid intervals and p-values.
    tuning_n : int
        Tuning sample size of the confidence sequence.

    Returns
    -------
    ExternalResult
        Comparisons, SRM and the decision line.
    """
    control = arms[0]
    adjust = cuped and kind != "ratio" and control.x_sum is not None
    comparisons = {
        arm.name: compare(
            control,
            arm,
            kind=kind,
            alpha=alpha,
            cuped=adjust,
            interval_method=interval_method,
            sequential=sequential,
            tuning_n=tuning_n,
        )
        for arm in arms[1:]
    }
    srm = srm_test([a.n for a in arms], list(design))
    name, comparison = next(iter(comparisons.items()))
    unit = "pp" if kind == "proportion" else ""
    decision = srm_warning(srm) + compose_decision(name, metric, comparison, alpha=alpha, unit=unit)
    return ExternalResult(metric, kind, tuple(arms), comparisons, srm, decision)
