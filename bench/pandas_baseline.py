"""The executive KPIs written the plain pandas way: groupbys on the raw canonical tables.

This is the baseline of the benchmark (what an analyst would write without the
``customer_month`` rollup) and, because it never reads the rollup, the independent
reference the KPI tests compare :func:`analytics.kpis.summary.compute_executive_summary` against.
It follows the definitions in docs/kpis.md, written again from the raw tables:

- a customer is in month m from the month of ``joined_at`` to the month of ``closed_at``
  (or the snapshot month), within the data set's history;
- transactions, sessions (``event_type = 'session'`` only), offers (by ``sent_at``) and
  survey answers count in their calendar month, only while the customer is a customer;
- a holding counts in every month from the month it was opened to the month it was closed;
- every KPI is a sum over the customer-months of the period: engagement is the mean
  monthly score, active customers the monthly average, customers S + N, churn the closures
  of customers who joined before the period, over S;
- under a product filter P (and per product in the product breakdown, P = {p}) the
  customer-months are those inside the customer's P-span: from the month of the earliest
  opening among their holdings in P to the month of the latest closing (open-ended while
  one is open), gaps included; "new" is the span's first month, "closed" its last when
  the span ended (or the customer left the bank), and the join month of the churn test
  is the span's first month.

Months are handled as integers ``year * 12 + month - 1``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from analytics.common.types import AGE_BANDS, KpiFilters
from analytics.kpis.definitions import KPI_NAMES
from analytics.store.database import Database

# The columns each raw table is read with (all the baseline needs, nothing more).
RAW_COLUMNS: dict[str, tuple[str, ...]] = {
    "customers": ("customer_id", "region", "birth_date", "joined_at", "closed_at"),
    "holdings": ("customer_id", "product_id", "opened_at", "closed_at", "monthly_margin"),
    "transactions": ("customer_id", "ts", "fee"),
    "digital_events": ("customer_id", "ts", "event_type", "duration_seconds"),
    "offers": ("customer_id", "sent_at", "opened_at", "clicked_at", "converted_at"),
    "surveys": ("customer_id", "ts", "survey_type", "score"),
}


@dataclass
class RawData:
    """The raw tables as pandas frames, plus the data set's snapshot and history start."""

    tables: dict[str, pd.DataFrame]
    as_of: date
    history_start: date


@dataclass
class PandasSummary:
    """The baseline's numbers: tiles now and before, trend, breakdowns (now and before)."""

    customers_matched: int
    current: dict[str, float | None]
    previous: dict[str, float | None]
    trend: pd.DataFrame
    breakdown: dict[str, pd.DataFrame]
    breakdown_previous: dict[str, pd.DataFrame]


def load_raw(path: str) -> RawData:
    """Read the raw tables of a Tailor database into pandas (columns of :data:`RAW_COLUMNS`)."""
    db = Database(path, read_only=True)
    try:
        tables = {}
        with db.cursor() as cur:
            for name, columns in RAW_COLUMNS.items():
                select = ", ".join(f'"{c}"' for c in columns)
                tables[name] = cur.sql(f'select {select} from "{name}"').df()
        return RawData(tables=tables, as_of=db.snapshot_date(), history_start=db.history_start())
    finally:
        db.close()


def _month_index(values: pd.Series) -> pd.Series:
    values = pd.to_datetime(values)
    return (values.dt.year * 12 + values.dt.month - 1).astype("Int64")


def _index(d: date) -> int:
    return d.year * 12 + d.month - 1


def _date(index: int) -> date:
    return date(index // 12, index % 12 + 1, 1)


def _age_bands(birth: pd.Series, as_of: date) -> pd.Series:
    birth = pd.to_datetime(birth)
    before_birthday = (birth.dt.month > as_of.month) | (
        (birth.dt.month == as_of.month) & (birth.dt.day > as_of.day)
    )
    age = as_of.year - birth.dt.year - before_birthday.astype(int)
    edges = [-np.inf, 25, 35, 45, 55, 65, np.inf]
    return pd.cut(age, bins=edges, right=False, labels=list(AGE_BANDS)).astype(str)


def build_panel(raw: RawData, first: int, last: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Customer x month panel for months ``first..last`` (month indices) and the held products.

    Returns the panel (one row per customer and month while a customer, with the monthly
    sums) and ``held`` (customer_id, m, product_id, monthly_margin) per holding and month.
    """
    t = raw.tables
    history = max(first, _index(raw.history_start))
    snapshot = _index(raw.as_of)
    c = t["customers"]
    joined = _month_index(c["joined_at"])
    closed = _month_index(c["closed_at"])
    start = np.maximum(joined.to_numpy(dtype="int64"), history)
    end = np.minimum(closed.fillna(snapshot).to_numpy(dtype="int64"), min(last, snapshot))
    span = np.clip(end - start + 1, 0, None)
    rows = np.repeat(np.arange(len(c)), span)
    offset = np.arange(span.sum()) - np.repeat(np.cumsum(span) - span, span)
    panel = pd.DataFrame(
        {
            "customer_id": c["customer_id"].to_numpy()[rows],
            "m": start[rows] + offset,
            "region": c["region"].to_numpy()[rows],
            "age_band": _age_bands(c["birth_date"], raw.as_of).to_numpy()[rows],
        }
    )
    panel["joined_m"] = joined.to_numpy(dtype="int64")[rows]
    panel["is_new"] = panel["m"].to_numpy() == panel["joined_m"].to_numpy()
    closed_rows = closed.to_numpy(dtype="float64", na_value=np.nan)[rows]
    panel["is_closed"] = panel["m"].to_numpy() == closed_rows

    def monthly(frame: pd.DataFrame, ts: str) -> pd.DataFrame:
        m = _month_index(frame[ts])
        keep = (m >= history) & (m <= last)
        return frame.loc[keep.to_numpy()].assign(m=m[keep].astype("int64"))

    tx = (
        monthly(t["transactions"], "ts")
        .groupby(["customer_id", "m"])
        .agg(txn_count=("fee", "size"), fee_margin=("fee", "sum"))
    )
    events = t["digital_events"]
    ev = (
        monthly(events[events["event_type"] == "session"], "ts")
        .groupby(["customer_id", "m"])
        .agg(sessions=("duration_seconds", "size"), session_seconds=("duration_seconds", "sum"))
    )
    of = monthly(t["offers"], "sent_at")
    of = (
        of.assign(
            opened=of["opened_at"].notna(),
            clicked=of["clicked_at"].notna(),
            converted=of["converted_at"].notna(),
        )
        .groupby(["customer_id", "m"])
        .agg(
            offers_sent=("opened", "size"),
            offers_opened=("opened", "sum"),
            offers_clicked=("clicked", "sum"),
            offers_converted=("converted", "sum"),
        )
    )
    sv = monthly(t["surveys"], "ts")
    nps = sv["survey_type"] == "nps"
    csat = sv["survey_type"] == "csat"
    sv = (
        sv.assign(
            nps_responses=nps,
            nps_promoters=nps & (sv["score"] >= 9),
            nps_detractors=nps & (sv["score"] <= 6),
            csat_responses=csat,
            csat_satisfied=csat & (sv["score"] >= 4),
        )
        .groupby(["customer_id", "m"])[
            ["nps_responses", "nps_promoters", "nps_detractors", "csat_responses", "csat_satisfied"]
        ]
        .sum()
    )

    h = t["holdings"]
    opened = _month_index(h["opened_at"]).to_numpy(dtype="int64")
    h_closed = _month_index(h["closed_at"]).fillna(last).to_numpy(dtype="int64")
    h_start = np.maximum(opened, history)
    h_end = np.minimum(h_closed, last)
    h_span = np.clip(h_end - h_start + 1, 0, None)
    h_rows = np.repeat(np.arange(len(h)), h_span)
    h_offset = np.arange(h_span.sum()) - np.repeat(np.cumsum(h_span) - h_span, h_span)
    held = pd.DataFrame(
        {
            "customer_id": h["customer_id"].to_numpy()[h_rows],
            "m": h_start[h_rows] + h_offset,
            "product_id": h["product_id"].to_numpy()[h_rows],
            "monthly_margin": h["monthly_margin"].to_numpy()[h_rows],
        }
    )
    # Only months in which the owner is a customer.
    held = held.merge(panel[["customer_id", "m"]], on=["customer_id", "m"], how="inner")
    ho = held.groupby(["customer_id", "m"]).agg(
        products_held=("product_id", "nunique"), holding_margin=("monthly_margin", "sum")
    )

    panel = panel.set_index(["customer_id", "m"])
    for part in (tx, ev, of, sv, ho):
        panel = panel.join(part, how="left")
    counts = [c for c in panel.columns if c not in {"region", "age_band", "joined_m", "is_new", "is_closed"}]
    panel[counts] = panel[counts].fillna(0)
    return panel.reset_index(), held


def _engagement(rows: pd.DataFrame) -> pd.Series:
    """The monthly engagement score of each customer-month row."""
    sessions = rows["sessions"]
    minutes = np.where(sessions > 0, rows["session_seconds"] / sessions.where(sessions > 0) / 60, 0)
    sent = rows["offers_sent"]
    interaction = np.where(
        sent > 0,
        np.minimum((rows["offers_opened"] + rows["offers_clicked"]) / (2 * sent.where(sent > 0)), 1.0),
        0.5,
    )
    # Caps as documented in docs/kpis.md: 8 sessions a month, 6 minutes, 5 products.
    return 100 * (
        0.30 * np.minimum(sessions / 8.0, 1.0)
        + 0.20 * np.minimum(minutes / 6.0, 1.0)
        + 0.30 * np.minimum(rows["products_held"] / 5.0, 1.0)
        + 0.20 * interaction
    )


_SUMMED = (
    "products_held",
    "margin",
    "engagement",
    "offers_sent",
    "offers_opened",
    "offers_clicked",
    "offers_converted",
    "nps_responses",
    "nps_promoters",
    "nps_detractors",
    "csat_responses",
    "csat_satisfied",
)


def _group_sums(rows: pd.DataFrame, by: str | list[str], first, last, months) -> pd.DataFrame:
    """Per-group sums over customer-month rows of a period first..last (scalars or columns)."""
    rows = rows.assign(
        margin=rows["fee_margin"] + rows["holding_margin"],
        at_start=(rows["m"] == first) & ~rows["is_new"],
        at_end=(rows["m"] == last) & ~rows["is_closed"],
        closed_at_start=rows["is_closed"] & (rows["joined_m"] < first),
        active=(rows["txn_count"] > 0) | (rows["sessions"] > 0),
        engagement=_engagement(rows),
        months=months,
    )
    g = rows.groupby(by, sort=True).agg(
        customer_months=("m", "size"),
        months=("months", "first"),
        at_start=("at_start", "sum"),
        at_end=("at_end", "sum"),
        new=("is_new", "sum"),
        closed=("is_closed", "sum"),
        closed_at_start=("closed_at_start", "sum"),
        active=("active", "sum"),
        **{name: (name, "sum") for name in _SUMMED},
    )
    g["customers"] = g["at_start"] + g["new"]
    return g


def _kpi_frame(g: pd.DataFrame, discount: float, horizon: int) -> pd.DataFrame:
    """KPI columns from per-group sums (NaN where the base is zero)."""

    def ratio(a: pd.Series, b: pd.Series) -> pd.Series:
        return (a / b.where(b > 0)).astype("float64")

    months = g["customer_months"].astype("float64")
    m = 12 * ratio(g["margin"], months)
    r = (1 - ratio(g["closed"], months)) ** 12
    multiple = sum(r ** (t - 1) / (1 + discount) ** t for t in range(1, horizon + 1))
    out = pd.DataFrame(index=g.index)
    out["customers"] = g["customers"]
    out["nps"] = ratio(100 * (g["nps_promoters"] - g["nps_detractors"]), g["nps_responses"])
    out["csat"] = ratio(g["csat_satisfied"], g["csat_responses"])
    out["retention_rate"] = ratio(g["at_end"] - g["new"], g["at_start"])
    out["churn_rate"] = ratio(g["closed_at_start"], g["at_start"])
    out["clv"] = m * multiple
    out["engagement"] = ratio(g["engagement"], months)
    out["cross_sell"] = ratio(g["products_held"], months)
    out["ctr"] = ratio(g["offers_clicked"], g["offers_sent"])
    out["conversion_rate"] = ratio(g["offers_converted"], g["offers_sent"])
    out["active_customers"] = ratio(g["active"], g["months"]).where(months > 0)
    return out


def _total(rows: pd.DataFrame, first: int, last: int, discount: float, horizon: int) -> tuple[dict, int]:
    g = _group_sums(rows.assign(_all=0), "_all", first, last, last - first + 1)
    frame = _kpi_frame(g, discount, horizon)
    if frame.empty:
        return dict.fromkeys(KPI_NAMES), 0
    row = frame.iloc[0]
    values = {name: None if pd.isna(row[name]) else float(row[name]) for name in KPI_NAMES}
    return values, int(g["customers"].iloc[0])


def _in_months(panel: pd.DataFrame, filters: KpiFilters, first: int, last: int) -> pd.DataFrame:
    rows = panel[(panel["m"] >= first) & (panel["m"] <= last)]
    if filters.regions:
        rows = rows[rows["region"].isin(filters.regions)]
    if filters.age_bands:
        rows = rows[rows["age_band"].isin(filters.age_bands)]
    return rows


def _spans(holdings: pd.DataFrame, products, *, by_product: bool) -> pd.DataFrame:
    """Each customer's span of a product set: ``span_first``, ``span_last`` (NaN while open).

    ``by_product`` makes one span per product held (P = {p} for every p, keyed by ``product``).
    """
    h = holdings[holdings["product_id"].isin(products)] if products else holdings
    keys = ["customer_id", "product"] if by_product else ["customer_id"]
    h = pd.DataFrame(
        {
            "customer_id": h["customer_id"].to_numpy(),
            "product": h["product_id"].to_numpy(),
            "opened": _month_index(h["opened_at"]).to_numpy(dtype="float64", na_value=np.nan),
            "closed": _month_index(h["closed_at"]).to_numpy(dtype="float64", na_value=np.nan),
        }
    )
    h["still_open"] = np.isnan(h["closed"].to_numpy())
    g = h.groupby(keys, sort=False).agg(
        span_first=("opened", "min"), span_last=("closed", "max"), still_open=("still_open", "any")
    )
    g.loc[g["still_open"], "span_last"] = np.nan
    return g.drop(columns="still_open").reset_index()


def _in_span(rows: pd.DataFrame, spans: pd.DataFrame) -> pd.DataFrame:
    """Customer-month rows inside each customer's span, with the span's new / closed / start month."""
    rows = rows.merge(spans, on="customer_id")
    m = rows["m"].to_numpy(dtype="float64")
    first, last = rows["span_first"].to_numpy(), rows["span_last"].to_numpy()
    rows = rows[(m >= first) & (np.isnan(last) | (m <= last))]
    start = np.maximum(rows["span_first"].to_numpy(), rows["joined_m"].to_numpy(dtype="float64"))
    m = rows["m"].to_numpy(dtype="float64")
    return rows.assign(
        is_new=m == start,
        is_closed=rows["is_closed"].to_numpy() | (m == rows["span_last"].to_numpy()),
        joined_m=start,
    ).drop(columns=["span_first", "span_last"])


def _select(panel: pd.DataFrame, spans: pd.DataFrame | None, filters: KpiFilters, first: int, last: int):
    """Customer-months of first..last in the slices; a product filter keeps those in the products' span."""
    rows = _in_months(panel, filters, first, last)
    if filters.products:
        rows = _in_span(rows, spans)
    return rows


def _breakdown(
    panel: pd.DataFrame,
    spans: dict[str, pd.DataFrame | None],
    filters: KpiFilters,
    first: int,
    last: int,
    discount: float,
    horizon: int,
) -> dict[str, pd.DataFrame]:
    out = {}
    rows = _select(panel, spans["filter"], filters, first, last)
    for dimension in ("region", "age_band"):
        frame = _kpi_frame(_group_sums(rows, dimension, first, last, last - first + 1), discount, horizon)
        out[dimension] = frame.rename_axis(dimension).reset_index()
    # Every product whose span holds the customer-month (under a product filter, the selected ones).
    by_product = _in_span(_in_months(panel, filters, first, last), spans["product"])
    frame = _kpi_frame(_group_sums(by_product, "product", first, last, last - first + 1), discount, horizon)
    out["product"] = frame.rename_axis("product").reset_index()
    return out


def _trend(
    panel: pd.DataFrame,
    spans: pd.DataFrame | None,
    filters: KpiFilters,
    first: int,
    last: int,
    discount: float,
    horizon: int,
) -> pd.DataFrame:
    # Each month is its own one-month period.
    rows = _select(panel, spans, filters, first, last)
    frame = _kpi_frame(_group_sums(rows, "m", rows["m"], rows["m"], 1), discount, horizon)
    grid = pd.DataFrame({"m": range(first, last + 1)})
    frame = grid.merge(frame.reset_index(), on="m", how="left")
    frame.insert(0, "month", [_date(m) for m in frame["m"]])
    return frame[["month", *KPI_NAMES]]


def compute_summary(
    raw: RawData,
    filters: KpiFilters,
    *,
    clv_discount_rate: float = 0.10,
    clv_horizon_years: int = 5,
    trend_months: int = 12,
) -> PandasSummary:
    """The executive summary's numbers from the raw tables, with pandas only."""
    first, last = _index(filters.start_month), _index(filters.end_month)
    length = last - first + 1
    prev_first, prev_last = first - length, first - 1
    trend_first = min(first, last - (trend_months - 1))
    trend_first = max(trend_first, min(_index(raw.history_start), first))
    panel, _ = build_panel(raw, min(prev_first, trend_first), last)
    options = (clv_discount_rate, clv_horizon_years)
    holdings = raw.tables["holdings"]
    spans = {
        "filter": _spans(holdings, filters.products, by_product=False) if filters.products else None,
        "product": _spans(holdings, filters.products, by_product=True),
    }

    current, matched = _total(_select(panel, spans["filter"], filters, first, last), first, last, *options)
    previous, _ = _total(
        _select(panel, spans["filter"], filters, prev_first, prev_last), prev_first, prev_last, *options
    )
    return PandasSummary(
        customers_matched=matched,
        current=current,
        previous=previous,
        trend=_trend(panel, spans["filter"], filters, trend_first, last, *options),
        breakdown=_breakdown(panel, spans, filters, first, last, *options),
        breakdown_previous=_breakdown(panel, spans, filters, prev_first, prev_last, *options),
    )


def compare(summary, baseline: PandasSummary, *, tol: float = 1e-6) -> tuple[int, float, list[str]]:
    """Compare :class:`analytics.kpis.summary.ExecutiveSummary` with the baseline, value by value.

    Two numbers agree when both are undefined or ``|a - b| <= tol * max(1, |b|)``.

    Returns
    -------
    tuple
        ``(values compared, largest relative difference, descriptions of mismatches)``.
    """
    checked, worst, problems = 0, 0.0, []

    def check(where: str, ours, theirs) -> None:
        nonlocal checked, worst
        checked += 1
        theirs = (
            None if theirs is None or (isinstance(theirs, float) and math.isnan(theirs)) else float(theirs)
        )
        ours = None if ours is None else float(ours)
        if ours is None or theirs is None:
            if ours is not theirs and not (ours is None and theirs is None):
                problems.append(f"{where}: ours {ours} vs pandas {theirs}")
            return
        diff = abs(ours - theirs) / max(1.0, abs(theirs))
        worst = max(worst, diff)
        if diff > tol:
            problems.append(f"{where}: ours {ours!r} vs pandas {theirs!r}")

    check("customers_matched", summary.customers_matched, baseline.customers_matched)
    for tile in summary.tiles:
        check(f"tile {tile.name}", tile.value, baseline.current[tile.name])
        check(f"previous {tile.name}", tile.previous, baseline.previous[tile.name])
    ours_trend = summary.trend.to_pandas()
    ours_months = summary.trend.get_column("month").to_list()
    if ours_months != list(baseline.trend["month"]):
        problems.append(f"trend months differ: {ours_months} vs {list(baseline.trend['month'])}")
    else:
        for i, month in enumerate(baseline.trend["month"]):
            for name in KPI_NAMES:
                check(f"trend {month} {name}", _cell(ours_trend, i, name), _cell(baseline.trend, i, name))
    for dimension, theirs in baseline.breakdown.items():
        ours = summary.breakdown[dimension].to_pandas()
        if list(ours[dimension]) != list(theirs[dimension]):
            problems.append(
                f"{dimension} groups differ: {list(ours[dimension])} vs {list(theirs[dimension])}"
            )
            continue
        for i, key in enumerate(theirs[dimension]):
            for name in ("customers", *KPI_NAMES):
                check(f"{dimension}={key} {name}", _cell(ours, i, name), _cell(theirs, i, name))
    return checked, worst, problems


def _cell(frame: pd.DataFrame, i: int, column: str) -> float | None:
    value = frame[column].iloc[i]
    return None if pd.isna(value) else float(value)
