"""Contracts of the derived tables the store rebuilds after every load: rollups, cubes, customer features."""

from __future__ import annotations

import polars as pl

from analytics.common.types import PRODUCT_IDS
from analytics.store.contracts.spec import TableSpec

CUSTOMER_MONTH = TableSpec(
    name="customer_month",
    description=(
        "Derived rollup, one row per customer and calendar month in which the customer"
        " was a customer; rebuilt by analytics.store.database.refresh_rollups after every load."
    ),
    schema=pl.Schema(
        {
            "customer_id": pl.Int64,
            "month": pl.Date,
            "region": pl.String,
            "age_band": pl.String,
            "gender": pl.String,
            "is_new": pl.Boolean,
            "is_closed": pl.Boolean,
            "txn_count": pl.Int64,
            "spend": pl.Float64,
            "fee_margin": pl.Float64,
            "holding_margin": pl.Float64,
            "products_held": pl.Int64,
            "sessions": pl.Int64,
            "session_seconds": pl.Int64,
            "offers_sent": pl.Int64,
            "offers_opened": pl.Int64,
            "offers_clicked": pl.Int64,
            "offers_converted": pl.Int64,
            "nps_responses": pl.Int64,
            "nps_promoters": pl.Int64,
            "nps_detractors": pl.Int64,
            "csat_responses": pl.Int64,
            "csat_satisfied": pl.Int64,
        }
    ),
    columns={
        "customer_id": "Customer.",
        "month": "First day of the calendar month.",
        "region": "customers.region.",
        "age_band": "Age band on the data set's snapshot date.",
        "gender": "customers.gender.",
        "is_new": "The customer joined in this month.",
        "is_closed": "The customer closed all accounts in this month.",
        "txn_count": "Transactions posted in the month.",
        "spend": "Sum of debit amounts in EUR.",
        "fee_margin": "Sum of transaction fees in EUR.",
        "holding_margin": "Sum of monthly_margin of products held at some point in the month.",
        "products_held": "Products held at some point in the month.",
        "sessions": "Digital sessions.",
        "session_seconds": "Total session time.",
        "offers_sent": "Offers sent.",
        "offers_opened": "Offers sent this month that were opened.",
        "offers_clicked": "Offers sent this month that were clicked.",
        "offers_converted": "Offers sent this month that converted.",
        "nps_responses": "NPS answers.",
        "nps_promoters": "NPS answers of 9 or 10.",
        "nps_detractors": "NPS answers of 0 to 6.",
        "csat_responses": "CSAT answers.",
        "csat_satisfied": "CSAT answers of 4 or 5.",
    },
    primary_key=("customer_id", "month"),
)

_CUBE_MEASURES: dict[str, tuple[pl.DataType, str]] = {
    "customer_months": (pl.Int64, "customer_month rows."),
    "new": (pl.Int64, "Rows with is_new (the customer joined in the month)."),
    "closed": (pl.Int64, "Rows with is_closed (the customer left in the month)."),
    "active": (pl.Int64, "Rows with at least one transaction or digital session."),
    "margin": (pl.Float64, "Sum of fee_margin + holding_margin in EUR."),
    "products": (pl.Int64, "Sum of products_held."),
    "engagement_sum": (pl.Float64, "Sum of the monthly Customer Engagement Score (0-100) of each row."),
    "nps_responses": (pl.Int64, "Sum of nps_responses."),
    "nps_promoters": (pl.Int64, "Sum of nps_promoters."),
    "nps_detractors": (pl.Int64, "Sum of nps_detractors."),
    "csat_responses": (pl.Int64, "Sum of csat_responses."),
    "csat_satisfied": (pl.Int64, "Sum of csat_satisfied."),
    "offers_sent": (pl.Int64, "Sum of offers_sent."),
    "offers_opened": (pl.Int64, "Sum of offers_opened."),
    "offers_clicked": (pl.Int64, "Sum of offers_clicked."),
    "offers_converted": (pl.Int64, "Sum of offers_converted."),
}
_JOINED_BUCKET_DOC = (
    "On rows that are is_new or is_closed: the customer's join month (1900-01-01 for a join"
    " before the history starts); null on other rows. Lets churn count closures among the"
    " customers present at a period's start."
)
_CUBE_KEY_DOCS = {
    "month": "First day of the calendar month.",
    "region": "customers.region.",
    "age_band": "Age band on the data set's snapshot date.",
    "joined_bucket": _JOINED_BUCKET_DOC,
}

KPI_CUBE = TableSpec(
    name="kpi_cube",
    description=(
        "Derived cube of customer_month: additive KPI sums per month, region, age band and"
        " joined bucket; rebuilt by analytics.store.database.refresh_rollups after every load."
    ),
    schema=pl.Schema(
        {
            "month": pl.Date,
            "region": pl.String,
            "age_band": pl.String,
            "joined_bucket": pl.Date,
            **{name: dtype for name, (dtype, _) in _CUBE_MEASURES.items()},
        }
    ),
    columns={**_CUBE_KEY_DOCS, **{name: doc for name, (_, doc) in _CUBE_MEASURES.items()}},
    primary_key=("month", "region", "age_band", "joined_bucket"),
)

_PRODUCT_FLAG_DOCS = {
    "new": (
        pl.Int64,
        "Rows in the first month of the customer's span of the product (took it up, or joined"
        " the bank with it).",
    ),
    "closed": (
        pl.Int64,
        "Rows in the last month of an ended span (gave up every holding of the product, or left"
        " the bank while holding it).",
    ),
}

KPI_CUBE_PRODUCT = TableSpec(
    name="kpi_cube_product",
    description=(
        "Derived cube like kpi_cube over each product's holders: a customer-month counts under"
        " a product when it lies in the customer's span of it (first month holding it to the"
        " last, gaps included; analytics.kpis.rollups.product_span_rows), with product-level new,"
        " closed and joined bucket; per month, product, region, age band and joined bucket."
        " Rebuilt by analytics.store.database.refresh_rollups after every load."
    ),
    schema=pl.Schema(
        {
            "month": pl.Date,
            "product_id": pl.String,
            "region": pl.String,
            "age_band": pl.String,
            "joined_bucket": pl.Date,
            **{name: dtype for name, (dtype, _) in _CUBE_MEASURES.items()},
        }
    ),
    columns={
        **_CUBE_KEY_DOCS,
        "joined_bucket": (
            "On rows that are new or closed: the first month of the customer's span of the"
            " product (1900-01-01 when it began before the history starts); null on other rows."
        ),
        "product_id": "Product whose span holds the customer-month (products.product_id).",
        **{name: doc for name, (_, doc) in {**_CUBE_MEASURES, **_PRODUCT_FLAG_DOCS}.items()},
    },
    primary_key=("month", "product_id", "region", "age_band", "joined_bucket"),
)

COHORT_CUBE = TableSpec(
    name="cohort_cube",
    description=(
        "Derived cube of customer_month for the cohort heat maps: customers who joined inside the"
        " history, counted per join month, calendar month, region and age band; rebuilt by"
        " analytics.store.database.refresh_rollups after every load."
    ),
    schema=pl.Schema(
        {
            "cohort_month": pl.Date,
            "month": pl.Date,
            "region": pl.String,
            "age_band": pl.String,
            "customers": pl.Int64,
            "margin": pl.Float64,
        }
    ),
    columns={
        "cohort_month": "Month the customers joined (first day), on or after the history's start.",
        "month": "Calendar month (first day) of the count.",
        "region": "Customers' region.",
        "age_band": "Customers' age band on the snapshot date.",
        "customers": "Members of the cohort who were customers in the month (customer_month rows).",
        "margin": "Their fee plus holding margin in the month, EUR.",
    },
    primary_key=("cohort_month", "month", "region", "age_band"),
)

FEATURE_MERCHANT_CATEGORIES: tuple[str, ...] = (
    "groceries",
    "restaurants",
    "transport",
    "fuel",
    "retail",
    "electronics",
    "travel",
    "entertainment",
    "utilities",
    "health",
    "education",
    "cash_withdrawal",
    "subscriptions",
    "transfer_out",
    "business_supplies",
)
"""Debit merchant categories with a spend-share column in ``customer_features`` (any other: ``other``).

The sample bank draws its debit transactions from exactly these (``sample_data.personas``)."""

FEATURE_TXN_CHANNELS: tuple[str, ...] = ("card_present", "card_online", "atm", "transfer", "direct_debit")
"""Transaction channels with their own share column in ``customer_features``."""

FEATURE_INFLOW_KINDS: tuple[str, ...] = ("salary", "pension", "business_income", "allowance")
"""Credit merchant categories (kinds of income) with an inflow-share column in ``customer_features``."""

FEATURE_WINDOW_MONTHS = 12
"""Length of the trailing window of ``customer_features``: the 12 months ending on the snapshot date."""

_FEATURE_COLUMNS: dict[str, tuple[pl.DataType, str]] = {
    "customer_id": (pl.Int64, "Customer (a customer on the snapshot date: joined, not closed)."),
    "recency_days": (
        pl.Int64,
        "Whole days from the UTC date of the last debit in the window to the snapshot date (dates"
        " subtracted, so a debit on the snapshot day is 0); the window's length in days without one.",
    ),
    "frequency": (pl.Int64, "Debit transactions in the window."),
    "monetary": (pl.Float64, "Sum of debit amounts in the window, EUR."),
    "avg_ticket": (pl.Float64, "monetary / frequency, EUR; null without a debit."),
    **{
        f"channel_{name}_share": (
            pl.Float64,
            f"Share of the window's debit transactions made by {name}; null without a debit.",
        )
        for name in FEATURE_TXN_CHANNELS
    },
    **{
        f"spend_{name}_share": (
            pl.Float64,
            f"Share of the window's debit amount spent on {name}; null without a debit.",
        )
        for name in FEATURE_MERCHANT_CATEGORIES
    },
    "spend_other_share": (
        pl.Float64,
        "Share of the window's debit amount in any other merchant category; null without a debit.",
    ),
    "inflow": (pl.Float64, "Sum of credit amounts in the window, EUR."),
    **{
        f"inflow_{name}_share": (
            pl.Float64,
            f"Share of the window's credit amount that is {name}; null without a credit.",
        )
        for name in FEATURE_INFLOW_KINDS
    },
    "products_held": (pl.Int64, "Distinct products held on the snapshot date (opened, not closed)."),
    **{f"has_{name}": (pl.Boolean, f"Holds {name} on the snapshot date.") for name in PRODUCT_IDS},
    "deposit_balance": (
        pl.Float64,
        "Balances of current accounts and savings held on the snapshot date, EUR (0 without any).",
    ),
    "investment_balance": (pl.Float64, "Balances of investment funds held on the snapshot date, EUR."),
    "credit_balance": (
        pl.Float64,
        "Amounts outstanding or limits of credit cards, personal loans and mortgages held on the snapshot"
        " date, EUR.",
    ),
    "sessions_per_month": (
        pl.Float64,
        "Digital sessions (event_type session) in the window per month of the window as a customer"
        " (days from the later of the window start and joined_at to the snapshot date, / 30.4375).",
    ),
    "app_session_share": (pl.Float64, "Share of those sessions on mobile_app; null without a session."),
    "avg_session_minutes": (pl.Float64, "Mean session length in minutes; null without a session."),
    "tenure_months": (pl.Float64, "Days from joined_at to the snapshot date / 30.4375."),
    "age": (pl.Int64, "Whole years on the snapshot date (birthday reached or not, from date parts)."),
    "annual_income": (pl.Float64, "customers.annual_income, EUR."),
    "credit_score": (pl.Int64, "customers.credit_score."),
    "nps_score": (pl.Float64, "Mean NPS answer (0-10) in the window; null without one."),
    "csat_score": (pl.Float64, "Mean CSAT answer (1-5) in the window; null without one."),
    "support_contacts": (pl.Int64, "Support interactions in the window."),
    "offers_received": (pl.Int64, "Offers sent in the window."),
    "offer_click_rate": (pl.Float64, "Share of those offers clicked; null without an offer."),
}

CUSTOMER_FEATURES = TableSpec(
    name="customer_features",
    description=(
        "Derived table for the Segments page, one row per customer on the snapshot date: behaviour over"
        " the trailing 12 months, products and balances on the snapshot date, profile; rebuilt by"
        " Database.refresh_rollups after every load (analytics.kpis.rollups.build_customer_features,"
        " docs/segments.md)."
    ),
    schema=pl.Schema({name: dtype for name, (dtype, _) in _FEATURE_COLUMNS.items()}),
    columns={name: doc for name, (_, doc) in _FEATURE_COLUMNS.items()},
    primary_key=("customer_id",),
    not_null=("customer_id",),
)

DERIVED_TABLES: tuple[TableSpec, ...] = (
    CUSTOMER_MONTH,
    KPI_CUBE,
    KPI_CUBE_PRODUCT,
    COHORT_CUBE,
    CUSTOMER_FEATURES,
)
