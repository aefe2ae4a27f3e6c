"""Consent coverage against counts made independently with polars on the customers table."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from analytics.privacy import coverage


def _current(sample_db) -> tuple[pl.DataFrame, date]:
    as_of = sample_db.snapshot_date()
    customers = sample_db.query("select * from customers")
    current = customers.filter(
        (pl.col("joined_at") <= as_of) & (pl.col("closed_at").is_null() | (pl.col("closed_at") > as_of))
    )
    return current, as_of


def test_overall_coverage_equals_a_count_of_the_flags(sample_db):
    current, as_of = _current(sample_db)
    got = coverage.consent_coverage(sample_db.backend(), as_of=as_of)
    assert got.get_column("purpose").to_list() == ["marketing", "profiling"]
    for row in got.iter_rows(named=True):
        column = coverage.PURPOSES[row["purpose"]]
        assert row["customers"] == current.height
        assert row["consenting"] == current.get_column(column).fill_null(False).sum()
        assert row["share"] == pytest.approx(row["consenting"] / current.height)
    # The sample bank plants refusals: neither purpose is unanimous.
    assert all(0.5 < s < 1 for s in got.get_column("share"))


def test_coverage_by_region_adds_up_to_the_whole(sample_db):
    current, as_of = _current(sample_db)
    by_region = coverage.consent_coverage(sample_db.backend(), as_of=as_of, by="region")
    expected = (
        current.group_by("region")
        .agg(pl.len().alias("customers"), pl.col("consent_profiling").fill_null(False).sum().alias("n"))
        .sort("region")
    )
    profiling = by_region.filter(pl.col("purpose") == "profiling").sort("region")
    assert profiling.get_column("region").to_list() == expected.get_column("region").to_list()
    assert profiling.get_column("customers").to_list() == expected.get_column("customers").to_list()
    assert profiling.get_column("consenting").to_list() == expected.get_column("n").to_list()
    ages = coverage.consent_coverage(sample_db.backend(), as_of=as_of, by="age_band")
    assert ages.filter(pl.col("purpose") == "marketing").get_column("customers").sum() == current.height


def test_an_unknown_group_is_refused_by_name(sample_db):
    with pytest.raises(ValueError, match="cannot be split by 'shoe_size'"):
        coverage.consent_coverage(sample_db.backend(), as_of=sample_db.snapshot_date(), by="shoe_size")


# -- coverage over time, from the consent history ---------------------------------------------
def _coverage_by_polars(customers: pl.DataFrame, events: pl.DataFrame, days: list[date]) -> pl.DataFrame:
    """The latest event on or before each day, per customer and purpose, counted over current customers."""
    rows = []
    ordered = events.sort("changed_at", "event_id")
    for day in days:
        current = customers.filter(
            (pl.col("joined_at") <= day) & (pl.col("closed_at").is_null() | (pl.col("closed_at") > day))
        ).select("customer_id")
        latest = ordered.filter(pl.col("changed_at") <= day).group_by("customer_id", "purpose").last()
        for purpose in ("marketing", "profiling"):
            agreed = latest.filter((pl.col("purpose") == purpose) & pl.col("granted")).select("customer_id")
            rows.append((day, purpose, current.height, current.join(agreed, on="customer_id").height))
    return pl.DataFrame(
        rows, schema=["month_end", "purpose", "customers", "consenting"], orient="row"
    ).with_columns(pl.col("customers").cast(pl.Int64), pl.col("consenting").cast(pl.Int64))


def test_coverage_over_time_equals_a_polars_replay_of_the_history(sample_db):
    as_of = sample_db.snapshot_date()
    got = coverage.consent_coverage_over_time(sample_db.backend(), as_of=as_of)
    days = coverage.coverage_days(as_of, 24)
    assert got.height == 48 and got.get_column("month_end").unique().sort().to_list() == days
    expected = _coverage_by_polars(
        sample_db.query("select * from customers"), sample_db.query("select * from consent_events"), days
    )
    assert got.select("month_end", "purpose", "customers", "consenting").equals(expected)
    assert got.get_column("share").to_list() == pytest.approx(
        (expected.get_column("consenting") / expected.get_column("customers")).to_list()
    )
    # Today's point is the coverage of the customers table's flags (the history ends in them).
    now = coverage.consent_coverage(sample_db.backend(), as_of=as_of)
    last = got.filter(pl.col("month_end") == as_of).select("purpose", "customers", "consenting")
    assert last.equals(now.select("purpose", "customers", "consenting"))


def test_coverage_over_time_follows_a_grant_then_a_withdrawal():
    from analytics.store.contracts import CONSENT_EVENTS, CUSTOMERS
    from analytics.store.database import Database
    from tests.banks import customers as customer_rows
    from tests.banks import empty_tables

    old, closed = date(2020, 1, 1), date(2025, 2, 20)
    people = customer_rows(
        [1, 2, 3],
        joined_at=[old, date(2025, 2, 15), old],
        closed_at=[None, None, closed],
        consent_profiling=[False, True, True],
    ).cast(dict(CUSTOMERS.schema))
    events = pl.DataFrame(
        [
            (1, 1, "profiling", True, date(2025, 1, 10), "app_settings"),  # granted in January
            (2, 1, "profiling", False, date(2025, 3, 5), "app_settings"),  # withdrawn in March
            (3, 1, "marketing", True, old, "onboarding"),
            (4, 2, "profiling", True, date(2025, 2, 15), "onboarding"),
            (5, 2, "marketing", False, date(2025, 2, 15), "onboarding"),
            (6, 2, "marketing", True, date(2025, 2, 15), "app_settings"),  # same day, later event wins
            (7, 3, "profiling", True, old, "onboarding"),
            (8, 3, "marketing", True, old, "onboarding"),
        ],
        schema=CONSENT_EVENTS.schema,
        orient="row",
    )
    db = Database(":memory:")
    db.load_dataset(
        empty_tables() | {"customers": people, "consent_events": events}, meta={"as_of": "2025-03-31"}
    )
    got = coverage.consent_coverage_over_time(db.backend(), as_of=date(2025, 3, 31), months=4)
    assert got.select("month_end", "purpose", "customers", "consenting").rows() == [
        (date(2024, 12, 31), "marketing", 2, 2),
        (date(2024, 12, 31), "profiling", 2, 1),  # customer 1 has not chosen yet: not consenting
        (date(2025, 1, 31), "marketing", 2, 2),
        (date(2025, 1, 31), "profiling", 2, 2),
        (date(2025, 2, 28), "marketing", 2, 2),  # customer 3 closed, customer 2 joined
        (date(2025, 2, 28), "profiling", 2, 2),
        (date(2025, 3, 31), "marketing", 2, 2),
        (date(2025, 3, 31), "profiling", 2, 1),  # customer 1 withdrew
    ]
    assert got.get_column("share").to_list() == [1.0, 0.5, 1.0, 1.0, 1.0, 1.0, 1.0, 0.5]
    mid_month = coverage.consent_coverage_over_time(db.backend(), as_of=date(2025, 3, 4), months=1)
    assert mid_month.get_column("month_end").to_list() == [date(2025, 3, 4)] * 2
    assert mid_month.get_column("consenting").to_list() == [2, 2]  # the withdrawal is the next day
    with pytest.raises(ValueError, match="at least one month"):
        coverage.consent_coverage_over_time(db.backend(), as_of=date(2025, 3, 31), months=0)
