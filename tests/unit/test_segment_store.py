"""Saved segments: versions, members, refusals, exports per role; KPIs filtered by a segment
against the same customers selected by the cube's own slices."""

from __future__ import annotations

import json
import math
from datetime import date

import polars as pl
import pytest

from analytics.common.types import KpiFilters
from analytics.kpis import definitions
from analytics.kpis import summary as kpis
from analytics.segments import store as segment_store
from analytics.store.database import Database

PERIOD = KpiFilters(start_month=date(2026, 8, 1), end_month=date(2026, 10, 1))


@pytest.fixture(scope="module")
def bank(sample_bank_path, tmp_path_factory):
    path = tmp_path_factory.mktemp("segments") / "bank.duckdb"
    path.write_bytes(sample_bank_path.read_bytes())
    db = Database(path)
    yield db
    db.close()


def _ids(db: Database, where: str = "true") -> list[int]:
    return (
        db.query(f"SELECT customer_id FROM customers WHERE {where} ORDER BY 1")
        .get_column("customer_id")
        .to_list()
    )


# A segment is a profile: it holds only customers who consented to profiling (docs/privacy.md),
# so these tests pick consenting customers where they count members.
NORTH = "region = 'North' AND consent_profiling"


def test_saving_twice_makes_versions_and_audits(bank):
    first = segment_store.save_segment(
        bank, name="  North  ", customer_ids=_ids(bank, NORTH), source="upload", created_by="ana"
    )
    second = segment_store.save_segment(
        bank,
        name="North",
        customer_ids=_ids(bank, NORTH)[:40],
        source="upload",
        created_by="ana",
    )
    assert (first.name, first.version, second.version) == ("North", 1, 2)
    assert second.warnings == (segment_store.MSG_SMALL_SEGMENT.format(count=40, least=50),)
    listed = segment_store.list_segments(bank.backend(), as_of=bank.snapshot_date()).filter(
        pl.col("name") == "North"
    )
    assert listed.get_column("version").to_list() == [2, 1]
    assert listed.get_column("latest").to_list() == [True, False]
    assert listed.get_column("current").all()
    members = segment_store.segment_members(bank.backend(), first.segment_id)
    assert members.to_list() == _ids(bank, NORTH)
    audit = bank.query("SELECT target, details FROM audit_log WHERE action = 'save_segment'")
    assert first.segment_id in audit.get_column("target").to_list()
    assert json.loads(audit.row(0)[1])["name"] == "North"


def test_refusals_write_nothing(bank):
    before = bank.query("SELECT count(*) FROM segments").item()
    with pytest.raises(ValueError, match="Give the segment a name"):
        segment_store.save_segment(bank, name=" ", customer_ids=[100001], source="upload", created_by="ana")
    with pytest.raises(ValueError, match="at most 80 characters; this one has 81"):
        segment_store.save_segment(
            bank, name="x" * 81, customer_ids=[100001], source="upload", created_by="ana"
        )
    with pytest.raises(ValueError, match="no customers"):
        segment_store.save_segment(bank, name="empty", customer_ids=[], source="upload", created_by="ana")
    with pytest.raises(ValueError, match=r"1 of the customers are not in the bank's data \(e.g. 42\)"):
        segment_store.save_segment(
            bank, name="ghost", customer_ids=[100001, 42], source="upload", created_by="ana"
        )
    refused = _ids(bank, "NOT consent_profiling")[:3]
    with pytest.raises(ValueError, match="None of the 3 customers consented to profiling"):
        segment_store.save_segment(bank, name="none", customer_ids=refused, source="upload", created_by="ana")
    with pytest.raises(ValueError, match="Unknown segment source 'lasso'"):
        segment_store.save_segment(bank, name="x", customer_ids=[100001], source="lasso", created_by="ana")
    assert bank.query("SELECT count(*) FROM segments").item() == before
    with pytest.raises(ValueError, match="No saved segment 'ffffffffffff'"):
        segment_store.segment_members(bank.backend(), "ffffffffffff")


def test_export_applies_consent_masks_and_audits(bank):
    saved = segment_store.save_segment(
        bank, name="Capital", customer_ids=_ids(bank, "region = 'Capital'"), source="upload", created_by="ana"
    )
    # The segment keeps the profiling-consenting customers only; its export, a marketing list,
    # also leaves out those without marketing consent and closed accounts (docs/privacy.md).
    capital = bank.query(
        "SELECT count(*) AS n, count(*) FILTER (WHERE consent_profiling) AS profiled,"
        " count(*) FILTER (WHERE consent_profiling AND consent_marketing AND closed_at IS NULL) AS reachable"
        " FROM customers WHERE region = 'Capital'"
    ).row(0, named=True)
    assert saved.customers == capital["profiled"] < capital["n"]
    assert saved.warnings[0] == segment_store.MSG_LEFT_OUT_NO_CONSENT.format(
        count=capital["n"] - capital["profiled"]
    )
    shown, left_out = segment_store.export_segment(
        bank, saved.segment_id, username="ana", role="marketing_analyst"
    )
    assert left_out == capital["profiled"] - capital["reachable"] > 0
    assert shown.height == capital["reachable"]
    assert shown.get_column("customer_id").str.starts_with("C-").all()
    assert not shown.get_column("email").str.contains("^[^*]+@").any()
    raw, _ = segment_store.export_segment(bank, saved.segment_id, username="root", role="admin")
    assert raw.get_column("customer_id").dtype == pl.Int64
    details = [
        json.loads(d)
        for d in bank.query("SELECT details FROM audit_log WHERE action = 'export_segment'")["details"]
    ]
    assert [d["raw"] for d in details] == [False, True]


def _assert_summaries_equal(a: kpis.ExecutiveSummary, b: kpis.ExecutiveSummary) -> None:
    assert a.customers_matched == b.customers_matched
    for x, y in zip(a.tiles, b.tiles, strict=True):
        for field in ("value", "previous", "ci_low", "ci_high"):
            u, v = getattr(x, field), getattr(y, field)
            assert (u is None and v is None) or math.isclose(u, v, rel_tol=1e-9, abs_tol=1e-9), (
                x.name,
                field,
            )
    for dimension in definitions.BREAKDOWN_DIMENSIONS:
        left, right = a.breakdown[dimension], b.breakdown[dimension]
        assert left.get_column(dimension).to_list() == right.get_column(dimension).to_list()
        for name in definitions.KPI_NAMES:
            for u, v in zip(left[name].to_list(), right[name].to_list(), strict=True):
                assert (u is None and v is None) or math.isclose(u, v, rel_tol=1e-9, abs_tol=1e-9), (
                    dimension,
                    name,
                )


@pytest.mark.parametrize(
    ("where", "slices"),
    [
        ("region = 'North'", {"regions": ("North",)}),
        ("region IN ('South', 'East')", {"regions": ("South", "East"), "products": ("savings",)}),
    ],
)
def test_a_segment_filters_the_kpis_like_the_same_customers_sliced_in_the_cube(bank, where, slices):
    # A segment keeps only customers who consented to profiling (docs/privacy.md) and the cube
    # has no consent slice, so the compared customers are first all given profiling consent.
    bank.execute(f"UPDATE customers SET consent_profiling = TRUE WHERE {where}")  # noqa: S608 - fixed test text
    saved = segment_store.save_segment(
        bank, name=f"seg {where}", customer_ids=_ids(bank, where), source="upload", created_by="t"
    )
    products = slices.get("products", ())
    by_segment = kpis.compute_executive_summary(
        bank.backend(),
        KpiFilters(PERIOD.start_month, PERIOD.end_month, products=products, segment_id=saved.segment_id),
    )
    by_cube = kpis.compute_executive_summary(
        bank.backend(), KpiFilters(PERIOD.start_month, PERIOD.end_month, **slices)
    )
    _assert_summaries_equal(by_segment, by_cube)


def test_a_segment_reference_that_is_not_an_id_is_refused(bank):
    with pytest.raises(ValueError, match="Unknown segment reference"):
        kpis.compute_executive_summary(
            bank.backend(), KpiFilters(PERIOD.start_month, PERIOD.end_month, segment_id="x' OR 1=1")
        )
