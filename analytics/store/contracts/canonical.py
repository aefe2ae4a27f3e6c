"""Contracts of the bank's data: the canonical tables a load brings in, and their references."""

from __future__ import annotations

import polars as pl

from analytics.store.contracts.spec import TS, Rule, TableSpec

CUSTOMERS = TableSpec(
    name="customers",
    description="One row per customer, current state of the master record.",
    schema=pl.Schema(
        {
            "customer_id": pl.Int64,
            "first_name": pl.String,
            "last_name": pl.String,
            "email": pl.String,
            "phone": pl.String,
            "birth_date": pl.Date,
            "gender": pl.String,
            "region": pl.String,
            "city": pl.String,
            "occupation": pl.String,
            "annual_income": pl.Float64,
            "credit_score": pl.Int32,
            "preferred_channel": pl.String,
            "joined_at": pl.Date,
            "closed_at": pl.Date,
            "closure_reason": pl.String,
            "consent_marketing": pl.Boolean,
            "consent_profiling": pl.Boolean,
            "consent_updated_at": pl.Date,
        }
    ),
    columns={
        "customer_id": "Bank-wide customer number.",
        "first_name": "Given name (personal data).",
        "last_name": "Family name (personal data).",
        "email": "E-mail address (personal data).",
        "phone": "Phone number (personal data).",
        "birth_date": "Exact date of birth (personal data); age bands derive from it.",
        "gender": "Self-declared gender: female, male or other (protected attribute).",
        "region": "Home region.",
        "city": "Home city.",
        "occupation": "Occupation as recorded at onboarding.",
        "annual_income": "Declared gross annual income in EUR.",
        "credit_score": "Internal credit score, 300-850, higher is lower risk.",
        "preferred_channel": "Channel the customer uses most: mobile_app, web, branch or phone.",
        "joined_at": "Date the relationship started.",
        "closed_at": "Date all accounts were closed (churn); null while a customer.",
        "closure_reason": "Reason given at closure; null while a customer.",
        "consent_marketing": "Customer agreed to marketing contact.",
        "consent_profiling": "Customer agreed to profiling and personalization.",
        "consent_updated_at": "Date the consent flags were last changed (consent_events holds each change).",
    },
    primary_key=("customer_id",),
    not_null=(
        "customer_id",
        "birth_date",
        "gender",
        "region",
        "joined_at",
        "consent_marketing",
        "consent_profiling",
    ),
    personal=("first_name", "last_name", "email", "phone", "birth_date"),
    rules=(
        Rule("closed_at", pl.col("closed_at") >= pl.col("joined_at"), "is before joined_at"),
        Rule("credit_score", pl.col("credit_score").is_between(300, 850), "is outside 300-850"),
        Rule("annual_income", pl.col("annual_income") >= 0, "is negative"),
    ),
)

PRODUCTS = TableSpec(
    name="products",
    description="Product catalogue.",
    schema=pl.Schema(
        {
            "product_id": pl.String,
            "name": pl.String,
            "category": pl.String,
            "monthly_fee": pl.Float64,
            "annual_margin_rate": pl.Float64,
        }
    ),
    columns={
        "product_id": "Product code, e.g. credit_card.",
        "name": "Display name.",
        "category": "deposit, lending, investment or insurance.",
        "monthly_fee": "Account fee charged per month in EUR.",
        "annual_margin_rate": "Net margin earned per year as a share of the balance.",
    },
    primary_key=("product_id",),
    not_null=("product_id", "name", "category"),
    rules=(Rule("monthly_fee", pl.col("monthly_fee") >= 0, "is negative"),),
)

HOLDINGS = TableSpec(
    name="holdings",
    description="One row per product a customer holds or held.",
    schema=pl.Schema(
        {
            "holding_id": pl.Int64,
            "customer_id": pl.Int64,
            "product_id": pl.String,
            "opened_at": pl.Date,
            "closed_at": pl.Date,
            "balance": pl.Float64,
            "monthly_margin": pl.Float64,
        }
    ),
    columns={
        "holding_id": "Holding number.",
        "customer_id": "Owner (customers.customer_id).",
        "product_id": "Product held (products.product_id).",
        "opened_at": "Date the product was opened.",
        "closed_at": "Date it was closed; null while held.",
        "balance": "Latest balance, limit or amount outstanding in EUR.",
        "monthly_margin": "Bank's net revenue per month from this holding in EUR (fees plus margin).",
    },
    primary_key=("holding_id",),
    not_null=("holding_id", "customer_id", "product_id", "opened_at", "monthly_margin"),
    rules=(Rule("closed_at", pl.col("closed_at") >= pl.col("opened_at"), "is before opened_at"),),
)

TRANSACTIONS = TableSpec(
    name="transactions",
    description="One row per posted account transaction.",
    schema=pl.Schema(
        {
            "transaction_id": pl.Int64,
            "customer_id": pl.Int64,
            "ts": TS,
            "amount": pl.Float64,
            "direction": pl.String,
            "merchant_category": pl.String,
            "channel": pl.String,
            "country": pl.String,
            "fee": pl.Float64,
        }
    ),
    columns={
        "transaction_id": "Transaction number.",
        "customer_id": "Account owner (customers.customer_id).",
        "ts": "Posting time, UTC.",
        "amount": "Amount in EUR, always positive; see direction.",
        "direction": "debit (money out) or credit (money in).",
        "merchant_category": "Merchant category, e.g. groceries, travel, salary.",
        "channel": "card_present, card_online, atm, transfer or direct_debit.",
        "country": "ISO country code where it took place.",
        "fee": "Bank's revenue on this transaction in EUR (interchange, ATM and FX fees).",
    },
    primary_key=("transaction_id",),
    not_null=("transaction_id", "customer_id", "ts", "amount", "direction", "fee"),
    rules=(
        Rule("amount", pl.col("amount") >= 0, "is negative (amounts are positive; direction gives the sign)"),
        Rule("direction", pl.col("direction").is_in(["debit", "credit"]), "is not debit or credit"),
    ),
)

DIGITAL_EVENTS = TableSpec(
    name="digital_events",
    description="One row per digital session (app or web).",
    schema=pl.Schema(
        {
            "event_id": pl.Int64,
            "customer_id": pl.Int64,
            "ts": TS,
            "channel": pl.String,
            "event_type": pl.String,
            "duration_seconds": pl.Int32,
            "page_views": pl.Int32,
        }
    ),
    columns={
        "event_id": "Event number.",
        "customer_id": "Signed-in customer (customers.customer_id).",
        "ts": "Session start, UTC.",
        "channel": "mobile_app or web.",
        "event_type": "Kind of event; session for a signed-in visit.",
        "duration_seconds": "Session length in seconds.",
        "page_views": "Screens or pages viewed in the session.",
    },
    primary_key=("event_id",),
    not_null=("event_id", "customer_id", "ts", "channel", "event_type"),
    rules=(Rule("duration_seconds", pl.col("duration_seconds") >= 0, "is negative"),),
)

CAMPAIGNS = TableSpec(
    name="campaigns",
    description="One row per marketing campaign.",
    schema=pl.Schema(
        {
            "campaign_id": pl.Int64,
            "name": pl.String,
            "product_id": pl.String,
            "channel": pl.String,
            "start_date": pl.Date,
            "end_date": pl.Date,
            "objective": pl.String,
        }
    ),
    columns={
        "campaign_id": "Campaign number.",
        "name": "Campaign name.",
        "product_id": "Product promoted (products.product_id).",
        "channel": "email, app_push, sms or branch.",
        "start_date": "First day offers were sent.",
        "end_date": "Last day of the campaign.",
        "objective": "acquisition, cross_sell, retention or activation.",
    },
    primary_key=("campaign_id",),
    not_null=("campaign_id", "name", "product_id", "channel", "start_date", "end_date"),
    rules=(Rule("end_date", pl.col("end_date") >= pl.col("start_date"), "is before start_date"),),
)

OFFERS = TableSpec(
    name="offers",
    description="One row per offer sent to a customer in a campaign, with its funnel.",
    schema=pl.Schema(
        {
            "offer_id": pl.Int64,
            "campaign_id": pl.Int64,
            "customer_id": pl.Int64,
            "product_id": pl.String,
            "sent_at": TS,
            "opened_at": TS,
            "clicked_at": TS,
            "converted_at": TS,
        }
    ),
    columns={
        "offer_id": "Offer number.",
        "campaign_id": "Campaign (campaigns.campaign_id).",
        "customer_id": "Recipient (customers.customer_id).",
        "product_id": "Product offered.",
        "sent_at": "Time sent, UTC.",
        "opened_at": "Time first opened; null if never.",
        "clicked_at": "Time first clicked; null if never.",
        "converted_at": "Time the product was taken up; null if not.",
    },
    primary_key=("offer_id",),
    not_null=("offer_id", "campaign_id", "customer_id", "product_id", "sent_at"),
    rules=(
        Rule("opened_at", pl.col("opened_at") >= pl.col("sent_at"), "is before sent_at"),
        Rule("clicked_at", pl.col("clicked_at") >= pl.col("sent_at"), "is before sent_at"),
        Rule("converted_at", pl.col("converted_at") >= pl.col("sent_at"), "is before sent_at"),
    ),
)

EXPERIMENTS = TableSpec(
    name="experiments",
    description="One row per A/B test.",
    schema=pl.Schema(
        {
            "experiment_id": pl.String,
            "name": pl.String,
            "hypothesis": pl.String,
            "start_date": pl.Date,
            "end_date": pl.Date,
            "variants": pl.String,
            "design_split": pl.String,
            "primary_metric": pl.String,
            "campaign_id": pl.Int64,
            "status": pl.String,
        }
    ),
    columns={
        "experiment_id": "Experiment code.",
        "name": "Display name.",
        "hypothesis": "What the treatment is expected to change.",
        "start_date": "First day of assignment.",
        "end_date": "Last day of the measurement window.",
        "variants": "Comma-separated variant names, control first.",
        "design_split": "Comma-separated planned traffic shares in percent, same order.",
        "primary_metric": "conversion, revenue or sessions.",
        "campaign_id": "Campaign whose offers carry the treatment; null if none.",
        "status": "running or completed.",
    },
    primary_key=("experiment_id",),
    not_null=("experiment_id", "name", "start_date", "end_date", "variants", "design_split"),
    rules=(Rule("end_date", pl.col("end_date") >= pl.col("start_date"), "is before start_date"),),
)

ASSIGNMENTS = TableSpec(
    name="assignments",
    description="One row per customer enrolled in an experiment.",
    schema=pl.Schema(
        {
            "experiment_id": pl.String,
            "customer_id": pl.Int64,
            "variant": pl.String,
            "assigned_at": TS,
        }
    ),
    columns={
        "experiment_id": "Experiment (experiments.experiment_id).",
        "customer_id": "Enrolled customer.",
        "variant": "Variant the customer saw.",
        "assigned_at": "Time of assignment, UTC.",
    },
    primary_key=("experiment_id", "customer_id"),
    not_null=("experiment_id", "customer_id", "variant", "assigned_at"),
)

SURVEYS = TableSpec(
    name="surveys",
    description="One row per survey answer (NPS 0-10 or CSAT 1-5) with optional comment.",
    schema=pl.Schema(
        {
            "survey_id": pl.Int64,
            "customer_id": pl.Int64,
            "ts": TS,
            "survey_type": pl.String,
            "score": pl.Int32,
            "channel": pl.String,
            "touchpoint": pl.String,
            "comment": pl.String,
        }
    ),
    columns={
        "survey_id": "Answer number.",
        "customer_id": "Respondent.",
        "ts": "Time answered, UTC.",
        "survey_type": "nps (0-10, likelihood to recommend) or csat (1-5 satisfaction).",
        "score": "Answer on the survey's scale.",
        "channel": "Channel the survey came through: email, mobile_app, web or phone.",
        "touchpoint": "What the survey followed: relationship, support, onboarding or branch_visit.",
        "comment": "Free-text comment; may contain personal data.",
    },
    primary_key=("survey_id",),
    not_null=("survey_id", "customer_id", "ts", "survey_type", "score"),
    rules=(
        Rule("survey_type", pl.col("survey_type").is_in(["nps", "csat"]), "is not nps or csat"),
        Rule(
            "score",
            pl.when(pl.col("survey_type") == "csat")
            .then(pl.col("score").is_between(1, 5))
            .otherwise(pl.col("score").is_between(0, 10)),
            "is outside the scale (nps 0-10, csat 1-5)",
        ),
    ),
)

SUPPORT_INTERACTIONS = TableSpec(
    name="support_interactions",
    description="One row per support contact (chat, phone, branch, e-mail).",
    schema=pl.Schema(
        {
            "interaction_id": pl.Int64,
            "customer_id": pl.Int64,
            "ts": TS,
            "channel": pl.String,
            "topic": pl.String,
            "first_response_seconds": pl.Int32,
            "handling_minutes": pl.Float64,
            "resolved": pl.Boolean,
            "transcript": pl.String,
        }
    ),
    columns={
        "interaction_id": "Contact number.",
        "customer_id": "Customer who made contact.",
        "ts": "Time the contact started, UTC.",
        "channel": "chat, phone, branch or email.",
        "topic": "Classified reason, e.g. card_blocked, app_login, fees.",
        "first_response_seconds": "Wait until the first human or bot answer.",
        "handling_minutes": "Total handling time.",
        "resolved": "Closed on first contact.",
        "transcript": "Opening message of the customer; may contain personal data.",
    },
    primary_key=("interaction_id",),
    not_null=("interaction_id", "customer_id", "ts", "channel", "topic"),
    rules=(Rule("first_response_seconds", pl.col("first_response_seconds") >= 0, "is negative"),),
)

CONSENT_PURPOSES: tuple[str, ...] = ("marketing", "profiling")
"""The purposes a customer consents to, each a ``consent_<purpose>`` flag of the customers table."""

CONSENT_EVENTS = TableSpec(
    name="consent_events",
    description=(
        "The consent history: one row per choice a customer made for one purpose, with its date."
        " A choice holds from its day until the customer's next event for the purpose (the later"
        " event_id wins on the same day); the latest one equals the customers table's flag."
    ),
    schema=pl.Schema(
        {
            "event_id": pl.Int64,
            "customer_id": pl.Int64,
            "purpose": pl.String,
            "granted": pl.Boolean,
            "changed_at": pl.Date,
            "source": pl.String,
        }
    ),
    columns={
        "event_id": "Event number; orders the events of one day.",
        "customer_id": "Customer who chose (customers.customer_id).",
        "purpose": "marketing or profiling.",
        "granted": "True when the customer agreed, false when they refused or withdrew.",
        "changed_at": "Date the choice was made; it holds from this day on.",
        "source": (
            "Where the choice was recorded: onboarding, gdpr_reconfirmation, app_settings, support,"
            " import (a customers import changed the flag), backfill (made from the customers table's"
            " flags when no history was supplied), or the bank's own label."
        ),
    },
    primary_key=("event_id",),
    not_null=("event_id", "customer_id", "purpose", "granted", "changed_at", "source"),
    rules=(
        Rule(
            "purpose",
            pl.col("purpose").is_in(list(CONSENT_PURPOSES)),
            "is not marketing or profiling",
        ),
    ),
)

CANONICAL_TABLES: tuple[TableSpec, ...] = (
    CUSTOMERS,
    PRODUCTS,
    HOLDINGS,
    TRANSACTIONS,
    DIGITAL_EVENTS,
    CAMPAIGNS,
    OFFERS,
    EXPERIMENTS,
    ASSIGNMENTS,
    SURVEYS,
    SUPPORT_INTERACTIONS,
    CONSENT_EVENTS,
)
"""The bank's data, in load order (parents before children)."""

OPTIONAL_CANONICAL: frozenset[str] = frozenset({CONSENT_EVENTS.name})
"""Canonical tables a load or an older database may lack: made from the customers table instead.

A load without a consent history (or with an empty one) and a database from before the history
existed get one event per customer and purpose: the current flag at ``consent_updated_at``
(``joined_at`` when that is missing), source ``backfill`` (docs/privacy.md, "Consent history").
"""

REFERENCES: tuple[tuple[str, str, str], ...] = (
    ("holdings", "customer_id", "customers"),
    ("transactions", "customer_id", "customers"),
    ("digital_events", "customer_id", "customers"),
    ("offers", "customer_id", "customers"),
    ("assignments", "customer_id", "customers"),
    ("surveys", "customer_id", "customers"),
    ("support_interactions", "customer_id", "customers"),
    ("consent_events", "customer_id", "customers"),
    ("holdings", "product_id", "products"),
    ("campaigns", "product_id", "products"),
    ("offers", "product_id", "products"),
    ("offers", "campaign_id", "campaigns"),
    ("assignments", "experiment_id", "experiments"),
)
"""(child table, column, parent table): every value in the child must exist in the parent."""
