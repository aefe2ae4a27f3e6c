"""What the KPIs are: names, labels, units, which way is good, bases, messages, result types.

Everything here is a constant or a frozen dataclass, so the queries (:mod:`analytics.kpis.cubes`),
the formulas (:mod:`analytics.kpis.formulas`), the executive summary
(:mod:`analytics.kpis.summary`), the pages and the CLI all name a KPI the same way
(docs/kpis.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import polars as pl

from analytics.kpis.rollups import CUBE_COUNT_COLUMNS, CUBE_KEYS
from analytics.store.contracts import KPI_CUBE

KpiName = Literal[
    "nps",
    "csat",
    "retention_rate",
    "churn_rate",
    "clv",
    "engagement",
    "cross_sell",
    "ctr",
    "conversion_rate",
    "active_customers",
]
KPI_NAMES: tuple[str, ...] = get_args(KpiName)
"""Every KPI, in display order (loyalty, retention, value, engagement, campaigns, size)."""

KPI_LABELS: dict[str, str] = {
    "nps": "Net Promoter Score",
    "csat": "Customer satisfaction (CSAT)",
    "retention_rate": "Customer retention rate",
    "churn_rate": "Churn rate",
    "clv": "Customer lifetime value",
    "engagement": "Engagement score",
    "cross_sell": "Products per customer",
    "ctr": "Campaign click-through rate",
    "conversion_rate": "Campaign conversion rate",
    "active_customers": "Monthly active customers",
}
KPI_UNITS: dict[str, Literal["score", "pct", "eur", "ratio", "count"]] = {
    "nps": "score",
    "csat": "pct",
    "retention_rate": "pct",
    "churn_rate": "pct",
    "clv": "eur",
    "engagement": "score",
    "cross_sell": "ratio",
    "ctr": "pct",
    "conversion_rate": "pct",
    "active_customers": "count",
}
HIGHER_IS_BETTER: dict[str, bool] = {name: name != "churn_rate" for name in KPI_NAMES}

TESTED_KPIS: frozenset[str] = frozenset(
    {"nps", "csat", "retention_rate", "churn_rate", "ctr", "conversion_rate"}
)
"""KPIs that are sample estimates with a two-sample test for the change (the rest have none)."""

BREAKDOWN_DIMENSIONS: tuple[str, ...] = ("region", "age_band", "product")

DEFAULT_CLV_DISCOUNT_RATE = 0.10
DEFAULT_CLV_HORIZON_YEARS = 5
DEFAULT_TREND_MONTHS = 12
CONFIDENCE_LEVEL = 0.95
SIGNIFICANCE_LEVEL = 0.05

MOVERS_TOP = 10
MOVERS_MAX_PER_KPI = 3
"""At most this many rows of one KPI in the top list (so it is not all campaign rates by product)."""
MOVERS_MIN_CUSTOMERS = 30
"""Groups smaller than this in either period are left out of the movers (too noisy to rank)."""
MOVERS_MIN_RELATIVE_CHANGE = 0.05
"""An untested KPI (CLV, engagement, cross-sell, actives) is a mover only past this relative change."""

MSG_NO_CUSTOMERS = "no customers match the filters in the period"
MSG_NO_NPS = "no NPS answers in the period"
MSG_NO_CSAT = "no CSAT answers in the period"
MSG_NO_START_CUSTOMERS = "no customers at the start of the period"
MSG_NO_OFFERS = "no offers sent in the period"
MSG_BAD_LEVEL = "The confidence level must be strictly between 0 and 1, got {level}."
MSG_BAD_MONTHS = "The number of months must be at least 1, got {months}."

SUM_COLUMNS: tuple[str, ...] = (
    "customers",
    "customer_months",
    "months",
    "active",
    "at_start",
    "at_end",
    "new",
    "closed",
    "closed_at_start",
    "margin",
    "products",
    "engagement_sum",
    *CUBE_COUNT_COLUMNS,
)
"""Per-group sums every KPI is computed from (see :func:`kpis_from_sums`); all but ``months``
are sums of cube rows, so additive over groups.

``customers`` = ``at_start + new`` (everyone who was a customer at some point in the period);
``customer_months`` customer-month rows; ``months`` months in the period (the same for
every group, not summed); ``active`` customer-months with a transaction or a session;
``at_start`` S, rows in the first month not new in it; ``at_end`` E, rows in the last month
not closed in it; ``new`` N, rows new in the period; ``closed`` rows closed in it;
``closed_at_start`` closures of customers who joined before the period (closures among S);
``margin`` fee plus holding margin in EUR; ``products`` sum over customer-months of
products held; ``engagement_sum`` sum of monthly engagement scores; then survey and
offer counts.
"""

MEASURES: tuple[str, ...] = tuple(n for n in KPI_CUBE.schema.names() if n not in CUBE_KEYS)
"""Columns of the cubes summed as they are."""
SUM_SCHEMA = pl.Schema(
    {name: pl.Float64 if name in {"margin", "engagement_sum"} else pl.Int64 for name in SUM_COLUMNS}
)

BASE_COLUMN: dict[str, str] = {
    "nps": "nps_responses",
    "csat": "csat_responses",
    "retention_rate": "at_start",
    "churn_rate": "at_start",
    "clv": "customers",
    "engagement": "customer_months",
    "cross_sell": "customer_months",
    "ctr": "offers_sent",
    "conversion_rate": "offers_sent",
    "active_customers": "customers",
}
UNDEFINED_NOTE: dict[str, str] = {
    "nps": MSG_NO_NPS,
    "csat": MSG_NO_CSAT,
    "retention_rate": MSG_NO_START_CUSTOMERS,
    "churn_rate": MSG_NO_START_CUSTOMERS,
    "clv": MSG_NO_CUSTOMERS,
    "engagement": MSG_NO_CUSTOMERS,
    "cross_sell": MSG_NO_CUSTOMERS,
    "ctr": MSG_NO_OFFERS,
    "conversion_rate": MSG_NO_OFFERS,
    "active_customers": MSG_NO_CUSTOMERS,
}
# Successes and trials of the KPIs that are proportions (for intervals and tests).
PROPORTIONS: dict[str, tuple[str, str]] = {
    "csat": ("csat_satisfied", "csat_responses"),
    "retention_rate": ("retained", "at_start"),
    "churn_rate": ("closed_at_start", "at_start"),
    "ctr": ("offers_clicked", "offers_sent"),
    "conversion_rate": ("offers_converted", "offers_sent"),
}

MOVERS_SCHEMA = pl.Schema(
    {
        "dimension": pl.String,
        "value": pl.String,
        "kpi": pl.String,
        "previous": pl.Float64,
        "current": pl.Float64,
        "change": pl.Float64,
        "significant": pl.Boolean,
        "z": pl.Float64,
        "relative_change": pl.Float64,
    }
)


@dataclass(frozen=True)
class KpiValue:
    """One KPI tile.

    Parameters
    ----------
    name, label, unit : str
        Key in :data:`KPI_NAMES`, display name, and unit (:data:`KPI_UNITS`).
    value : float or None
        The KPI; None when undefined (no base), never NaN.
    n : int
        Base size: answers for NPS/CSAT, customers at the start for retention/churn,
        offers sent for the campaign rates, customer-months for engagement and cross-sell,
        customers (S + N) otherwise.
    ci_low, ci_high : float or None
        95% interval where the KPI is a sample estimate (NPS, CSAT and the rates).
    previous : float or None
        The same KPI in the previous period.
    change : float or None
        ``value - previous`` (NPS in points, shares in fraction units).
    change_significant : bool or None
        Two-sample test at 5% for the KPIs in :data:`TESTED_KPIS`; None otherwise.
    note : str or None
        Why the value is undefined.
    """

    name: str
    label: str
    unit: str
    value: float | None
    n: int
    ci_low: float | None = None
    ci_high: float | None = None
    previous: float | None = None
    change: float | None = None
    change_significant: bool | None = None
    note: str | None = None
