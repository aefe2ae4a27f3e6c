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


def test_changes_by_month_count_each_current_customer_once_per_purpose(sample_db):
    current, as_of = _current(sample_db)
    changes = coverage.consent_changes_by_month(sample_db.backend(), as_of=as_of)
    for purpose in coverage.PURPOSES:
        rows = changes.filter(pl.col("purpose") == purpose)
        assert rows.get_column("customers").sum() == current.height
    assert changes.get_column("month").is_sorted()


def test_an_unknown_group_is_refused_by_name(sample_db):
    with pytest.raises(ValueError, match="cannot be split by 'shoe_size'"):
        coverage.consent_coverage(sample_db.backend(), as_of=sample_db.snapshot_date(), by="shoe_size")
