"""The customer_month rollup and the KPI cubes against independent Polars computations from the raw tables."""

from __future__ import annotations

from datetime import date, datetime

import polars as pl
import pytest
from polars.dataframe.group_by import GroupBy
from polars.testing import assert_frame_equal

from analytics.common.types import PRODUCT_IDS
from analytics.kpis.rollups import JOINED_BEFORE_HISTORY, month_starts
from analytics.store.contracts import CANONICAL_TABLES, CUSTOMER_MONTH, KPI_CUBE, KPI_CUBE_PRODUCT
from analytics.store.database import Database

AS_OF = date(2024, 3, 31)
HISTORY_START = date(2024, 1, 1)


def reference_customer_month(
    tables: dict[str, pl.DataFrame], *, as_of: date, history_start: date
) -> pl.DataFrame:
    """customer_month computed with Polars from the canonical tables, written from the contract."""
    months = pl.DataFrame({"month": month_starts(history_start, as_of)}, schema={"month": pl.Date})
    customers = tables["customers"].with_columns(
        pl.col("joined_at").dt.truncate("1mo").alias("joined_month"),
        pl.col("closed_at").dt.truncate("1mo").alias("closed_month"),
        # whole years on the snapshot date: one less if the birthday is still to come
        (
            as_of.year
            - pl.col("birth_date").dt.year()
            - (
                (pl.col("birth_date").dt.month() > as_of.month)
                | (
                    (pl.col("birth_date").dt.month() == as_of.month)
                    & (pl.col("birth_date").dt.day() > as_of.day)
                )
            ).cast(pl.Int32)
        ).alias("age"),
    )
    skeleton = (
        customers.join(months, how="cross")
        .filter(
            pl.col("month") >= pl.col("joined_month"),
            pl.col("closed_month").is_null() | (pl.col("month") <= pl.col("closed_month")),
        )
        .select(
            "customer_id",
            "month",
            "region",
            pl.when(pl.col("age") < 25)
            .then(pl.lit("18-24"))
            .when(pl.col("age") < 35)
            .then(pl.lit("25-34"))
            .when(pl.col("age") < 45)
            .then(pl.lit("35-44"))
            .when(pl.col("age") < 55)
            .then(pl.lit("45-54"))
            .when(pl.col("age") < 65)
            .then(pl.lit("55-64"))
            .otherwise(pl.lit("65+"))
            .alias("age_band"),
            "gender",
            (pl.col("month") == pl.col("joined_month")).alias("is_new"),
            (pl.col("closed_month").is_not_null() & (pl.col("month") == pl.col("closed_month"))).alias(
                "is_closed"
            ),
        )
    )

    def by_month(frame: pl.DataFrame, ts: str) -> GroupBy:
        return frame.with_columns(pl.col(ts).dt.truncate("1mo").cast(pl.Date).alias("month")).group_by(
            "customer_id", "month"
        )

    tx = by_month(tables["transactions"], "ts").agg(
        pl.len().alias("txn_count"),
        pl.col("amount").filter(pl.col("direction") == "debit").sum().alias("spend"),
        pl.col("fee").sum().alias("fee_margin"),
    )
    sessions = tables["digital_events"].filter(pl.col("event_type") == "session")
    ev = by_month(sessions, "ts").agg(
        pl.len().alias("sessions"), pl.col("duration_seconds").cast(pl.Int64).sum().alias("session_seconds")
    )
    of = by_month(tables["offers"], "sent_at").agg(
        pl.len().alias("offers_sent"),
        pl.col("opened_at").is_not_null().sum().alias("offers_opened"),
        pl.col("clicked_at").is_not_null().sum().alias("offers_clicked"),
        pl.col("converted_at").is_not_null().sum().alias("offers_converted"),
    )
    nps = pl.col("survey_type") == "nps"
    csat = pl.col("survey_type") == "csat"
    sv = by_month(tables["surveys"], "ts").agg(
        nps.sum().alias("nps_responses"),
        (nps & (pl.col("score") >= 9)).sum().alias("nps_promoters"),
        (nps & (pl.col("score") <= 6)).sum().alias("nps_detractors"),
        csat.sum().alias("csat_responses"),
        (csat & (pl.col("score") >= 4)).sum().alias("csat_satisfied"),
    )
    ho = (
        skeleton.select("customer_id", "month")
        .join(tables["holdings"], on="customer_id")
        .filter(
            pl.col("opened_at").dt.truncate("1mo") <= pl.col("month"),
            pl.col("closed_at").is_null() | (pl.col("closed_at").dt.truncate("1mo") >= pl.col("month")),
        )
        .group_by("customer_id", "month")
        .agg(
            pl.col("product_id").n_unique().alias("products_held"),
            pl.col("monthly_margin").sum().alias("holding_margin"),
        )
    )
    out = skeleton
    for part in (tx, ev, of, sv, ho):
        out = out.join(part, on=["customer_id", "month"], how="left")
    fills = [
        pl.col(name).fill_null(0.0 if dtype.is_float() else 0).cast(dtype)
        for name, dtype in CUSTOMER_MONTH.schema.items()
        if name not in {"customer_id", "month", "region", "age_band", "gender", "is_new", "is_closed"}
    ]
    return out.with_columns(fills).select(CUSTOMER_MONTH.schema.names()).sort("customer_id", "month")


def _customer(cid, region, born, joined, closed=None, gender="female"):
    return {
        "customer_id": cid,
        "first_name": "a",
        "last_name": "b",
        "email": None,
        "phone": None,
        "birth_date": born,
        "gender": gender,
        "region": region,
        "city": None,
        "occupation": None,
        "annual_income": 30000.0,
        "credit_score": 650,
        "preferred_channel": "web",
        "joined_at": joined,
        "closed_at": closed,
        "closure_reason": None if closed is None else "moved",
        "consent_marketing": True,
        "consent_profiling": False,
        "consent_updated_at": None,
    }


def _rows(name: str, rows: list[tuple]) -> pl.DataFrame:
    spec = next(s for s in CANONICAL_TABLES if s.name == name)
    return pl.DataFrame(rows, schema=spec.schema, orient="row")


def _edge_case_tables() -> dict[str, pl.DataFrame]:
    spec = {s.name: s for s in CANONICAL_TABLES}
    tables = {name: pl.DataFrame(schema=s.schema) for name, s in spec.items()}
    tables["customers"] = pl.DataFrame(
        [
            _customer(1, "North", date(1990, 4, 1), date(2015, 5, 5)),  # before history: rows Jan-Mar
            _customer(2, "South", date(1959, 3, 31), date(2024, 2, 14)),  # new in Feb; 65 on the snapshot day
            _customer(3, "East", date(1959, 4, 1), date(2023, 7, 1), date(2024, 2, 29)),  # closes in Feb; 64
            _customer(
                4, "West", date(2000, 1, 1), date(2024, 3, 3), date(2024, 3, 20)
            ),  # joins and leaves in Mar
            _customer(5, "Capital", date(1980, 1, 1), date(2024, 4, 2)),  # joins after the snapshot: no rows
            _customer(
                6, "Central", date(1970, 1, 1), date(2010, 1, 1), date(2023, 11, 30)
            ),  # gone before history
        ],
        schema=spec["customers"].schema,
    )
    tables["holdings"] = _rows(
        "holdings",
        [
            (1, 1, "current_account", date(2015, 5, 5), None, 10.0, 4.0),
            (2, 1, "savings", date(2024, 2, 10), date(2024, 2, 20), 0.0, 1.0),  # one month only
            (3, 1, "savings", date(2024, 2, 25), None, 50.0, 1.5),  # same product again in Feb
            (4, 2, "credit_card", date(2024, 2, 14), None, 900.0, 6.0),
            (5, 3, "mortgage", date(2023, 7, 1), date(2024, 2, 29), 100000.0, 80.0),
            (6, 3, "insurance", date(2023, 7, 1), date(2023, 12, 31), 0.0, 3.0),  # closed before history
            (7, 4, "current_account", date(2024, 3, 3), date(2024, 3, 20), 0.0, 2.0),
            (8, 6, "current_account", date(2010, 1, 1), date(2023, 11, 30), 0.0, 2.0),
        ],
    )
    tables["transactions"] = _rows(
        "transactions",
        [
            (1, 1, datetime(2024, 1, 1, 0, 0, 0), 10.0, "debit", "groceries", "atm", "NL", 0.5),
            (2, 1, datetime(2024, 1, 31, 23, 59, 59), 20.0, "credit", "salary", "transfer", "NL", 0.0),
            (3, 1, datetime(2024, 2, 1, 0, 0, 0), 30.0, "debit", "travel", "card_online", "FR", 1.25),
            (
                4,
                1,
                datetime(2023, 12, 31, 23, 59, 59),
                99.0,
                "debit",
                "travel",
                "card_online",
                "NL",
                9.0,
            ),  # before
            (
                5,
                1,
                datetime(2024, 4, 1, 0, 0, 0),
                99.0,
                "debit",
                "travel",
                "card_online",
                "NL",
                9.0,
            ),  # after as_of
            (
                6,
                2,
                datetime(2024, 2, 1, 8),
                40.0,
                "debit",
                "groceries",
                "card_present",
                "NL",
                0.1,
            ),  # before joining
            (
                7,
                2,
                datetime(2024, 1, 20, 8),
                40.0,
                "debit",
                "groceries",
                "card_present",
                "NL",
                0.1,
            ),  # month before
            (
                8,
                3,
                datetime(2024, 3, 5),
                40.0,
                "debit",
                "groceries",
                "card_present",
                "NL",
                0.1,
            ),  # after closing
            (9, 3, datetime(2024, 2, 29, 12), 15.5, "debit", "utilities", "direct_debit", "NL", 0.0),
            (10, 4, datetime(2024, 3, 10), 5.0, "debit", "groceries", "card_present", "NL", 0.05),
        ],
    )
    tables["digital_events"] = _rows(
        "digital_events",
        [
            (1, 1, datetime(2024, 1, 3), "mobile_app", "session", 120, 3),
            (2, 1, datetime(2024, 1, 4), "web", "session", None, 1),  # unknown length still a session
            (3, 2, datetime(2024, 3, 31, 23, 59), "mobile_app", "session", 600, 8),
            (4, 3, datetime(2024, 3, 1), "mobile_app", "session", 60, 1),  # after closing
            (5, 1, datetime(2024, 1, 9), "mobile_app", "push_open", 30, 1),  # not a session
        ],
    )
    tables["offers"] = _rows(
        "offers",
        [
            (
                1,
                1,
                1,
                "savings",
                datetime(2024, 1, 31, 22),
                datetime(2024, 2, 1, 7),
                datetime(2024, 2, 1, 8),
                datetime(2024, 2, 10),
            ),
            (2, 1, 1, "savings", datetime(2024, 2, 15), None, None, None),
            (3, 1, 2, "savings", datetime(2024, 3, 1), datetime(2024, 3, 1), None, None),
        ],
    )
    tables["surveys"] = _rows(
        "surveys",
        [
            (1, 1, datetime(2024, 1, 5), "nps", 6, "email", "relationship", None),
            (2, 1, datetime(2024, 1, 6), "nps", 7, "email", "relationship", None),
            (3, 1, datetime(2024, 1, 7), "nps", 9, "email", "relationship", None),
            (4, 1, datetime(2024, 1, 8), "csat", 3, "web", "support", None),
            (5, 2, datetime(2024, 3, 8), "csat", 4, "web", "support", "Fine"),
            (6, 3, datetime(2024, 2, 2), "nps", 0, "phone", "branch_visit", "Bad"),
        ],
    )
    tables["campaigns"] = _rows(
        "campaigns",
        [(1, "Savings push", "savings", "email", date(2024, 1, 1), date(2024, 3, 31), "cross_sell")],
    )
    # The loader checks that every product referenced exists in the catalogue.
    tables["products"] = _rows(
        "products",
        [(p, p.replace("_", " ").title(), "deposit", 0.0, 0.01) for p in PRODUCT_IDS],
    )
    return tables


@pytest.fixture(scope="module")
def edge_db():
    db = Database(":memory:", threads=1)
    tables = _edge_case_tables()
    db.load_dataset(tables, meta={"as_of": AS_OF.isoformat(), "history_start": HISTORY_START.isoformat()})
    yield db, tables
    db.close()


def _rollup(db: Database) -> pl.DataFrame:
    return db.backend().table("customer_month").order_by(["customer_id", "month"]).to_polars()


def test_rollup_matches_reference_on_edge_cases(edge_db):
    db, tables = edge_db
    expected = reference_customer_month(tables, as_of=AS_OF, history_start=HISTORY_START)
    actual = _rollup(db)
    assert actual.schema == CUSTOMER_MONTH.schema
    assert_frame_equal(actual, expected, check_exact=False, abs_tol=1e-9)


def test_rollup_edge_cases_by_hand(edge_db):
    db, _ = edge_db
    rows = {(r["customer_id"], r["month"].month): r for r in _rollup(db).iter_rows(named=True)}
    # customers 1 (Jan-Mar), 2 (Feb-Mar), 3 (Jan-Feb), 4 (Mar); 5 joins later, 6 left earlier
    assert sorted(rows) == [(1, 1), (1, 2), (1, 3), (2, 2), (2, 3), (3, 1), (3, 2), (4, 3)]
    assert rows[(2, 2)]["is_new"] and not rows[(2, 3)]["is_new"]
    assert rows[(4, 3)]["is_new"] and rows[(4, 3)]["is_closed"]
    assert rows[(3, 2)]["is_closed"] and not rows[(1, 1)]["is_new"]
    # January: 00:00:00 on the 1st and 23:59:59 on the 31st both count; only the debit is spend
    assert (rows[(1, 1)]["txn_count"], rows[(1, 1)]["spend"], rows[(1, 1)]["fee_margin"]) == (2, 10.0, 0.5)
    # Feb: the current account and savings (two holdings of it): 2 products, margin 4 + 1 + 1.5
    assert (rows[(1, 2)]["products_held"], rows[(1, 2)]["holding_margin"]) == (2, 6.5)
    # 1 Feb transaction of customer 2, before they joined on 14 Feb, counts in their first month
    assert rows[(2, 2)]["txn_count"] == 1
    # an offer sent on 31 Jan counts in January even though it was opened and converted in February
    assert (rows[(1, 1)]["offers_sent"], rows[(1, 1)]["offers_converted"]) == (1, 1)
    assert (rows[(1, 1)]["nps_responses"], rows[(1, 1)]["nps_promoters"], rows[(1, 1)]["nps_detractors"]) == (
        3,
        1,
        1,
    )
    # customer 2 turns 65 on the snapshot day; customer 3 turns 65 the day after
    assert (rows[(2, 2)]["age_band"], rows[(3, 1)]["age_band"]) == ("65+", "55-64")
    # two sessions (one of unknown length); the push_open event is not a session
    assert rows[(1, 1)]["sessions"] == 2 and rows[(1, 1)]["session_seconds"] == 120


def test_rollup_matches_reference_on_sample_bank(sample_db):
    tables = {
        name: sample_db.backend().table(name).to_polars()
        for name in ("customers", "holdings", "transactions", "digital_events", "offers", "surveys")
    }
    expected = reference_customer_month(
        tables, as_of=sample_db.snapshot_date(), history_start=sample_db.history_start()
    )
    actual = _rollup(sample_db)
    assert actual.height == expected.height
    assert_frame_equal(actual, expected, check_exact=False, rel_tol=1e-9, abs_tol=1e-6)


# -- the KPI cubes -------------------------------------------------------------------------------
def _product_spans(tables: dict[str, pl.DataFrame], customer_month: pl.DataFrame) -> pl.DataFrame:
    """customer_month rows inside each (customer, product) span, with product-level flags.

    The span of a product runs from the month of its first opening to the month of its last
    closing (open-ended while a holding is open), gaps included, clipped to the customer's
    months; new = the span's first month (not before joining), closed = its last month when
    it ended or the customer left; ``jm`` becomes the span's start month.
    """
    spans = (
        tables["holdings"]
        .group_by("customer_id", "product_id")
        .agg(
            pl.col("opened_at").dt.truncate("1mo").min().alias("first"),
            pl.when(pl.col("closed_at").is_null().any())
            .then(None)
            .otherwise(pl.col("closed_at").dt.truncate("1mo").max())
            .alias("last"),
        )
    )
    rows = customer_month.join(spans, on="customer_id").filter(
        pl.col("month") >= pl.col("first"), pl.col("last").is_null() | (pl.col("month") <= pl.col("last"))
    )
    start = pl.max_horizontal("first", "jm")
    return rows.with_columns(
        (pl.col("month") == start).alias("is_new"),
        (pl.col("is_closed") | (pl.col("month") == pl.col("last")).fill_null(False)).alias("is_closed"),
        start.alias("jm"),
    ).drop("first", "last")


def reference_cube(
    tables: dict[str, pl.DataFrame],
    customer_month: pl.DataFrame,
    *,
    history_start: date,
    by_product: bool = False,
) -> pl.DataFrame:
    """kpi_cube (or kpi_cube_product, over each product's span) aggregated with Polars from customer_month."""
    joined = tables["customers"].select("customer_id", pl.col("joined_at").dt.truncate("1mo").alias("jm"))
    rows = customer_month.join(joined, on="customer_id")
    spec = KPI_CUBE
    if by_product:
        rows = _product_spans(tables, rows)
        spec = KPI_CUBE_PRODUCT
    rows = rows.with_columns(
        pl.when(pl.col("is_new") | pl.col("is_closed"))
        .then(
            pl.when(pl.col("jm") < history_start).then(pl.lit(JOINED_BEFORE_HISTORY)).otherwise(pl.col("jm"))
        )
        .alias("joined_bucket")
    )
    s = pl.col("sessions").cast(pl.Float64)
    minutes = pl.when(s > 0).then(pl.col("session_seconds") / s / 60).otherwise(0.0)
    sent = pl.col("offers_sent")
    interaction = (
        pl.when(sent > 0)
        .then(
            pl.min_horizontal((pl.col("offers_opened") + pl.col("offers_clicked")) / (2 * sent), pl.lit(1.0))
        )
        .otherwise(0.5)
    )
    score = 100 * (
        0.30 * pl.min_horizontal(s / 8, pl.lit(1.0))
        + 0.20 * pl.min_horizontal(minutes / 6, pl.lit(1.0))
        + 0.30 * pl.min_horizontal(pl.col("products_held") / 5, pl.lit(1.0))
        + 0.20 * interaction
    )
    counts = [
        "nps_responses",
        "nps_promoters",
        "nps_detractors",
        "csat_responses",
        "csat_satisfied",
        "offers_sent",
        "offers_opened",
        "offers_clicked",
        "offers_converted",
    ]
    keys = [
        n for n in spec.schema.names() if n in {"month", "product_id", "region", "age_band", "joined_bucket"}
    ]
    out = rows.group_by(keys).agg(
        pl.len().alias("customer_months"),
        pl.col("is_new").sum().alias("new"),
        pl.col("is_closed").sum().alias("closed"),
        ((pl.col("txn_count") > 0) | (pl.col("sessions") > 0)).sum().alias("active"),
        (pl.col("fee_margin") + pl.col("holding_margin")).sum().alias("margin"),
        pl.col("products_held").sum().alias("products"),
        score.sum().alias("engagement_sum"),
        *(pl.col(c).sum() for c in counts),
    )
    return out.select(spec.schema.names()).cast(dict(spec.schema)).sort(keys, nulls_last=True)


def _cube(db: Database, spec) -> pl.DataFrame:
    keys = [
        n for n in spec.schema.names() if n in {"month", "product_id", "region", "age_band", "joined_bucket"}
    ]
    return db.backend().table(spec.name).to_polars().sort(keys, nulls_last=True)


def test_cubes_match_an_aggregation_of_the_raw_tables_on_edge_cases(edge_db):
    db, tables = edge_db
    raw_months = reference_customer_month(tables, as_of=AS_OF, history_start=HISTORY_START)
    for spec, by_product in ((KPI_CUBE, False), (KPI_CUBE_PRODUCT, True)):
        expected = reference_cube(tables, raw_months, history_start=HISTORY_START, by_product=by_product)
        actual = _cube(db, spec)
        assert actual.schema == spec.schema
        assert_frame_equal(actual, expected, check_exact=False, abs_tol=1e-9)


def test_cube_edge_cases_by_hand(edge_db):
    db, _ = edge_db
    cube = _cube(db, KPI_CUBE)
    # customer 3 (joined 2023-07, before the history) closes in February: bucket "before history"
    feb_east = cube.filter((pl.col("month") == date(2024, 2, 1)) & (pl.col("region") == "East"))
    assert feb_east.get_column("joined_bucket").to_list() == [JOINED_BEFORE_HISTORY]
    assert feb_east.get_column("closed").to_list() == [1]
    # customer 4 joins and leaves in March: one row, new and closed, bucket March
    west = cube.filter(pl.col("region") == "West").row(0, named=True)
    assert (west["joined_bucket"], west["new"], west["closed"]) == (date(2024, 3, 1), 1, 1)
    # rows that are neither new nor closed have no bucket; customer-months add up to the rollup
    assert cube.get_column("customer_months").sum() == 8
    # February: customer 1 holds the current account and savings, so it counts under both products
    products = _cube(db, KPI_CUBE_PRODUCT).filter(
        (pl.col("month") == date(2024, 2, 1)) & (pl.col("region") == "North")
    )
    assert sorted(products.get_column("product_id").to_list()) == ["current_account", "savings"]
    # product-level flags: customer 1 takes savings up in February (new under savings, not at
    # the bank), customer 3 gives up the mortgage in February, and the insurance span ended
    # (2023-12) before the history, so it has no rows
    by_product = _cube(db, KPI_CUBE_PRODUCT)
    savings = by_product.filter(pl.col("product_id") == "savings")
    assert savings.filter(pl.col("new") == 1).select("month", "joined_bucket").rows() == [
        (date(2024, 2, 1), date(2024, 2, 1))
    ]
    mortgage = by_product.filter((pl.col("product_id") == "mortgage") & (pl.col("closed") == 1))
    assert mortgage.select("month", "joined_bucket").rows() == [(date(2024, 2, 1), JOINED_BEFORE_HISTORY)]
    assert by_product.filter(pl.col("product_id") == "insurance").height == 0


def test_cubes_match_an_aggregation_of_customer_month_on_sample_bank(sample_db):
    tables = {name: sample_db.backend().table(name).to_polars() for name in ("customers", "holdings")}
    customer_month = _rollup(sample_db)
    for spec, by_product in ((KPI_CUBE, False), (KPI_CUBE_PRODUCT, True)):
        expected = reference_cube(
            tables, customer_month, history_start=sample_db.history_start(), by_product=by_product
        )
        actual = _cube(sample_db, spec)
        assert actual.height == expected.height
        assert_frame_equal(actual, expected, check_exact=False, rel_tol=1e-9, abs_tol=1e-6)
