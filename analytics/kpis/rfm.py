"""RFM: recency, frequency and monetary value of debit transactions, scored and named.

Every customer at the end of a period gets quintile scores 1..5 for how recently, how often
and how much they spent (:func:`compute_rfm`), and one of eleven named groups from the
practitioners' R vs FM grid (:func:`label_rfm_groups`, :data:`RFM_GROUP_GRID`);
:func:`summarize_rfm_groups` sizes the groups and :func:`rfm_segments` hands the group to other
breakdowns as a segment (NPS by segment, engagement's movement by RFM group in
:mod:`analytics.kpis.engagement`).

The population is read from the rows of :func:`analytics.kpis.cubes.customer_month_rows` (so
it is the E of the retention KPI for the same filters) and the spend from ``transactions``;
the results are Polars frames. Definitions, choices and the sources of the conventions are
in docs/engagement.md.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Literal, get_args

import ibis
import polars as pl

from analytics.common.docs import shared_docs
from analytics.common.months import add_months
from analytics.common.types import KpiFilters, normalize_filters
from analytics.kpis.cubes import customer_month_rows

RfmGroup = Literal[
    "Champions",
    "Loyal Customers",
    "Potential Loyalists",
    "New Customers",
    "Promising",
    "Need Attention",
    "About to Sleep",
    "At Risk",
    "Can't Lose Them",
    "Hibernating",
    "Lost",
]
RFM_GROUPS: tuple[str, ...] = get_args(RfmGroup)
"""The eleven named RFM groups, from the best to the weakest relationship."""

RFM_GROUP_RANGES: tuple[tuple[str, int, int, int, int], ...] = (
    # group, R from, R to, FM from, FM to: rectangles of the R vs FM grid on the 0..5 plane.
    # Smaller rectangles lie on larger ones and come first (first match wins).
    ("Champions", 4, 5, 4, 5),
    ("Can't Lose Them", 0, 1, 4, 5),
    ("Hibernating", 1, 2, 1, 2),
    ("Loyal Customers", 2, 5, 3, 5),
    ("Potential Loyalists", 3, 5, 1, 3),
    ("New Customers", 4, 5, 0, 1),
    ("Promising", 3, 4, 0, 1),
    ("Need Attention", 2, 3, 2, 3),
    ("About to Sleep", 2, 3, 0, 2),
    ("At Risk", 0, 2, 2, 5),
    ("Lost", 0, 2, 0, 2),
)
"""The practitioners' R vs FM grid (docs/engagement.md, "RFM groups", for the source).

R is the recency score and FM the average of the frequency and monetary scores, both drawn
on axes from 0 to 5 where a score s fills the unit cell from s - 1 to s. A rectangle
``(from, to)`` therefore holds the scores ``from + 1 .. to``; an FM average between two
whole scores (3.5) lies inside the upper cell (4). :data:`RFM_GROUP_GRID` is the resulting
map of every (R, FM cell); the eleven rectangles cover the 25 cells exactly.
"""


def _grid_from_ranges() -> dict[tuple[int, int], str]:
    grid: dict[tuple[int, int], str] = {}
    for r in range(1, 6):
        for fm in range(1, 6):
            grid[(r, fm)] = next(
                name for name, r0, r1, f0, f1 in RFM_GROUP_RANGES if r0 < r <= r1 and f0 < fm <= f1
            )
    return grid


RFM_GROUP_GRID: dict[tuple[int, int], str] = _grid_from_ranges()
"""``(r_score, fm_cell) -> group`` with ``fm_cell = ceil((f_score + m_score) / 2)``."""

MSG_MISSING_COLUMNS = "The {what} is missing the column(s) {columns}."
MSG_BAD_SCORE = "Row {row}, column {column}: RFM score {value!r} is not a whole number from 1 to 5."

RFM_SCHEMA = pl.Schema(
    {
        "customer_id": pl.Int64,
        "recency_days": pl.Int64,
        "frequency": pl.Int64,
        "monetary": pl.Float64,
        "r_score": pl.Int64,
        "f_score": pl.Int64,
        "m_score": pl.Int64,
        "rfm_cell": pl.String,
        "rfm_group": pl.String,
    }
)
"""Columns of :func:`compute_rfm`."""

RFM_SUMMARY_SCHEMA = pl.Schema(
    {
        "rfm_group": pl.String,
        "customers": pl.Int64,
        "share": pl.Float64,
        "mean_recency_days": pl.Float64,
        "mean_frequency": pl.Float64,
        "mean_monetary": pl.Float64,
        "monetary_share": pl.Float64,
    }
)
"""Columns of :func:`summarize_rfm_groups`."""


# -- public API --------------------------------------------------------------------------------
@shared_docs
def compute_rfm(backend: ibis.BaseBackend, filters: KpiFilters) -> pl.DataFrame:
    """Recency, frequency and monetary value of every customer at the end of the period, scored 1..5.

    - Population: the customers at the end of the period within the filters: a
      ``customer_month`` row in its last month, not closed in it (the E of the retention
      KPI; under a product filter, the holders of the products at the end).
    - Transactions: the customer's ``debit`` transactions with ``ts`` in the period's
      months (timestamps are UTC; ``start <= ts < first day after the period``), whatever
      the product filter (transactions carry no product).
    - ``frequency``: their number; ``monetary``: their amounts' sum in EUR, to the cent;
      ``recency_days``: whole days from the UTC date of the last one to the period's last
      day (dates are subtracted, not timestamps: a debit at 23:59 on the last day is 0).
    - Scores: quintiles of the customers with at least one transaction, by rank, ties
      broken by customer_id (the lower id gets the lower rank): the equivalent of pandas
      ``qcut(series.rank(method="first"), 5, labels=[1, 2, 3, 4, 5])`` on the frame
      ordered by customer_id, with series ``-recency_days``, ``frequency`` and
      ``monetary``, so 5 is the most recent, most frequent, highest spend. Customers
      without a transaction have ``recency_days`` null, ``frequency`` 0, ``monetary`` 0
      and scores 1, 1, 1 (ranking them with the others would split equal zeros between
      two quintiles by customer_id whenever more than a fifth of the customers are idle).
    - ``rfm_cell``: the three scores as text ("545"); ``rfm_group``: the named group of
      :func:`label_rfm_groups`.

    Parameters
    ----------
    {backend}
    filters : KpiFilters
        Period and slices (regions, age bands, products).

    Returns
    -------
    polars.DataFrame
        Columns :data:`RFM_SCHEMA`, one row per customer, ordered by customer_id; empty
        (with its columns) when nobody matches.
    """
    filters = normalize_filters(filters)
    last_day = add_months(filters.end_month, 1) - timedelta(days=1)
    end = customer_month_rows(backend, filters, filters.end_month, filters.end_month)
    population = end.filter(~end.is_closed).select("customer_id")
    tx = backend.table("transactions")
    tx = tx.filter(
        tx.direction == "debit",
        tx.ts >= ibis.literal(_midnight(filters.start_month), type="timestamp"),
        tx.ts < ibis.literal(_midnight(add_months(filters.end_month, 1)), type="timestamp"),
    )
    per_customer = tx.group_by("customer_id").aggregate(
        frequency=tx.count(),
        monetary=tx.amount.sum(),
        last_day=tx.ts.date().max(),
    )
    joined = population.left_join(per_customer, population.customer_id == per_customer.customer_id)
    frame = (
        joined.select(population.customer_id, joined.frequency, joined.monetary, joined.last_day)
        .to_polars()
        .sort("customer_id")
    )
    return _score_rfm(frame, last_day)


def label_rfm_groups(scores: pl.DataFrame) -> pl.DataFrame:
    """Add ``rfm_cell`` and ``rfm_group`` to a frame of RFM scores.

    ``rfm_cell`` is the three scores as text; ``rfm_group`` the group of
    :data:`RFM_GROUP_GRID` for the recency score and the FM cell ``ceil((f_score +
    m_score) / 2)`` (the R vs FM grid, docs/engagement.md).

    Parameters
    ----------
    scores : polars.DataFrame
        Integer columns ``r_score``, ``f_score``, ``m_score`` in 1..5 (any other columns
        are kept).

    Returns
    -------
    polars.DataFrame
        ``scores`` with ``rfm_cell`` and ``rfm_group`` (String) appended.

    Raises
    ------
    ValueError
        When a score is missing, not whole or outside 1..5 (naming its row and column).

    Examples
    --------
    >>> frame = pl.DataFrame({"r_score": [5, 1], "f_score": [5, 1], "m_score": [4, 2]})
    >>> label_rfm_groups(frame).get_column("rfm_group").to_list()
    ['Champions', 'Lost']
    """
    names = ("r_score", "f_score", "m_score")
    require_columns(scores, list(names), what="RFM score table")
    for name in names:
        column = scores.get_column(name)
        valid = column.cast(pl.Float64, strict=False)
        bad = valid.is_null() | ~valid.is_between(1, 5) | (valid != valid.floor())
        if bad.any():
            row = int(bad.arg_true()[0])
            raise ValueError(MSG_BAD_SCORE.format(row=row + 1, column=name, value=column[row]))
    c = pl.col
    r, f, m = (c(n).cast(pl.Int64) for n in names)
    fm_cell = (f + m + 1) // 2
    keys = pl.Series([10 * r_ + fm for (r_, fm) in RFM_GROUP_GRID], dtype=pl.Int64)
    names_ = pl.Series(list(RFM_GROUP_GRID.values()), dtype=pl.String)
    return scores.with_columns(
        pl.concat_str([r.cast(pl.String), f.cast(pl.String), m.cast(pl.String)]).alias("rfm_cell"),
        (10 * r + fm_cell).replace_strict(keys, names_, return_dtype=pl.String).alias("rfm_group"),
    )


def summarize_rfm_groups(rfm: pl.DataFrame) -> pl.DataFrame:
    """Size and average behaviour of each RFM group.

    Parameters
    ----------
    rfm : polars.DataFrame
        :func:`compute_rfm`'s frame (``rfm_group``, ``recency_days``, ``frequency``,
        ``monetary``).

    Returns
    -------
    polars.DataFrame
        Columns :data:`RFM_SUMMARY_SCHEMA`, one row per group of :data:`RFM_GROUPS` in that
        order (empty groups with 0 customers and null means): ``share`` of the customers,
        means of recency (over the customers with a transaction), frequency and monetary
        value, and ``monetary_share``, the group's share of all debit spend.

    Examples
    --------
    >>> rfm = pl.DataFrame({"rfm_group": ["Lost", "Champions", "Lost"], "recency_days": [None, 2, 80],
    ...                     "frequency": [0, 9, 1], "monetary": [0.0, 900.0, 100.0]})
    >>> summarize_rfm_groups(rfm).filter(pl.col("customers") > 0).select("rfm_group", "share").rows()
    [('Champions', 0.3333333333333333), ('Lost', 0.6666666666666666)]
    """
    require_columns(rfm, ["rfm_group", "recency_days", "frequency", "monetary"], what="RFM table")
    c = pl.col
    total = rfm.height
    spend = float(rfm.get_column("monetary").sum() or 0.0)
    per_group = rfm.group_by("rfm_group").agg(
        pl.len().cast(pl.Int64).alias("customers"),
        c("recency_days").cast(pl.Float64).mean().alias("mean_recency_days"),
        c("frequency").cast(pl.Float64).mean().alias("mean_frequency"),
        c("monetary").cast(pl.Float64).mean().alias("mean_monetary"),
        c("monetary").cast(pl.Float64).sum().alias("_spend"),
    )
    order = pl.DataFrame({"rfm_group": list(RFM_GROUPS)}, schema={"rfm_group": pl.String})
    out = order.join(per_group, on="rfm_group", how="left", maintain_order="left").with_columns(
        c("customers").fill_null(0)
    )
    return out.select(
        "rfm_group",
        "customers",
        (c("customers") / total if total else pl.lit(None, dtype=pl.Float64)).alias("share"),
        "mean_recency_days",
        "mean_frequency",
        "mean_monetary",
        (c("_spend").fill_null(0.0) / spend if spend else pl.lit(None, dtype=pl.Float64)).alias(
            "monetary_share"
        ),
    ).cast(dict(RFM_SUMMARY_SCHEMA))


def rfm_segments(rfm: pl.DataFrame) -> pl.DataFrame:
    """The RFM group as a segment assignment for other breakdowns (e.g. NPS by segment).

    Parameters
    ----------
    rfm : polars.DataFrame
        :func:`compute_rfm`'s frame.

    Returns
    -------
    polars.DataFrame
        ``customer_id`` (Int64) and ``segment`` (String, the RFM group).
    """
    require_columns(rfm, ["customer_id", "rfm_group"], what="RFM table")
    return rfm.select(
        pl.col("customer_id").cast(pl.Int64), pl.col("rfm_group").cast(pl.String).alias("segment")
    )


def require_columns(frame: pl.DataFrame | None, columns: list[str], *, what: str) -> None:
    """Raise :data:`MSG_MISSING_COLUMNS` naming the ``columns`` that ``frame`` (the ``what``) lacks.

    Parameters
    ----------
    frame : polars.DataFrame or None
        The frame to check (None lacks every column).
    columns : list of str
        The columns it needs.
    what : str
        Its name in the message.

    Raises
    ------
    ValueError
        When a column is missing.
    """
    present = set(frame.columns) if frame is not None else set()
    missing = [name for name in columns if name not in present]
    if missing:
        raise ValueError(MSG_MISSING_COLUMNS.format(what=what, columns=", ".join(missing)))


# -- private -------------------------------------------------------------------------------
def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day)


def _score_rfm(frame: pl.DataFrame, last_day: date) -> pl.DataFrame:
    """Scores and groups from ``customer_id, frequency, monetary, last_day`` ordered by customer_id."""
    c = pl.col
    frame = frame.with_columns(
        c("frequency").fill_null(0).cast(pl.Int64),
        c("monetary").fill_null(0.0).cast(pl.Float64).round(2),
        (pl.lit(last_day, dtype=pl.Date) - c("last_day").cast(pl.Date))
        .dt.total_days()
        .cast(pl.Int64)
        .alias("recency_days"),
    )
    active = frame.filter(c("frequency") > 0)
    n = active.height
    scored = active.select(
        "customer_id",
        _quintile(-c("recency_days"), n).alias("r_score"),
        _quintile(c("frequency"), n).alias("f_score"),
        _quintile(c("monetary"), n).alias("m_score"),
    )
    out = frame.join(scored, on="customer_id", how="left", maintain_order="left").with_columns(
        c("r_score", "f_score", "m_score").fill_null(1)
    )
    out = label_rfm_groups(
        out.select("customer_id", "recency_days", "frequency", "monetary", "r_score", "f_score", "m_score")
    )
    return out.select(RFM_SCHEMA.names()).cast(dict(RFM_SCHEMA))


def _quintile(values: pl.Expr, n: int) -> pl.Expr:
    """Quintile 1..5 of each row by rank, ties by row order: pandas ``qcut(rank(method="first"), 5)``.

    With ranks 1..n, qcut's edges are the linear quantiles ``1 + k (n - 1) / 5`` and its
    bins are closed on the right, so rank r falls in ``ceil(5 (r - 1) / (n - 1))`` (at
    least 1), computed in integers. A single row gets 5.
    """
    if n <= 1:
        return pl.lit(5, dtype=pl.Int64)
    rank = values.rank(method="ordinal").cast(pl.Int64)
    return ((5 * (rank - 1) + (n - 2)) // (n - 1)).clip(1, 5)
