"""Table contracts and typed result objects shared by every analytics module.

Each canonical table has one :class:`TableSpec`: its Polars schema (checked in
``analytics.store.database`` whenever data comes in), its key, the columns that may not be
null, the columns that hold personal data, and a one-line description per
column (the data dictionary). The DuckDB DDL is generated from these specs, so
the schema is written once.

All timestamps are UTC and stored as naive ``TIMESTAMP`` values; all dates are
calendar dates. Money is ``DOUBLE`` rounded to cents (decimals behave
differently across engines).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from analytics.common.types import PRODUCT_IDS


@dataclass(frozen=True)
class Rule:
    """A condition every row of a table must meet (null values pass).

    Parameters
    ----------
    column : str
        The column named in the message.
    check : polars.Expr
        True for valid rows.
    message : str
        What is wrong when it is False, e.g. "is before joined_at".
    """

    column: str
    check: pl.Expr
    message: str


@dataclass(frozen=True)
class TableSpec:
    """Contract of one canonical table.

    Parameters
    ----------
    name : str
        Table name in the database.
    schema : polars.Schema
        Column names and types, in order.
    description : str
        What one row is.
    columns : dict of str to str
        One-line meaning of each column (the data dictionary).
    primary_key : tuple of str
        Columns that identify a row (checked for uniqueness on load).
    not_null : tuple of str
        Columns that must have a value.
    personal : tuple of str
        Columns holding personal data, masked for roles that must not see it.
    rules : tuple of Rule
        Value rules checked on load beyond types (ranges, allowed values, date order).
    """

    name: str
    schema: pl.Schema
    description: str
    columns: dict[str, str]
    primary_key: tuple[str, ...] = ()
    not_null: tuple[str, ...] = ()
    personal: tuple[str, ...] = ()
    rules: tuple[Rule, ...] = ()

    def __post_init__(self) -> None:
        missing = set(self.schema.names()) ^ set(self.columns)
        if missing:
            raise ValueError(f"{self.name}: columns and docs disagree on {sorted(missing)}")


TS = pl.Datetime("us")

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
        "consent_updated_at": "Date the consent flags were last changed.",
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
)
"""The bank's data, in load order (parents before children)."""

REFERENCES: tuple[tuple[str, str, str], ...] = (
    ("holdings", "customer_id", "customers"),
    ("transactions", "customer_id", "customers"),
    ("digital_events", "customer_id", "customers"),
    ("offers", "customer_id", "customers"),
    ("assignments", "customer_id", "customers"),
    ("surveys", "customer_id", "customers"),
    ("support_interactions", "customer_id", "customers"),
    ("holdings", "product_id", "products"),
    ("campaigns", "product_id", "products"),
    ("offers", "product_id", "products"),
    ("offers", "campaign_id", "campaigns"),
    ("assignments", "experiment_id", "experiments"),
)
"""(child table, column, parent table): every value in the child must exist in the parent."""

# Application state, written by the app itself through analytics.store.database.
USERS = TableSpec(
    name="users",
    description="Local sign-in accounts (embedded user store).",
    schema=pl.Schema(
        {
            "username": pl.String,
            "password_hash": pl.String,
            "role": pl.String,
            "created_at": TS,
            "last_sign_in_at": TS,
        }
    ),
    columns={
        "username": "Sign-in name, lower case.",
        "password_hash": "Argon2id hash with its salt and parameters (never the password).",
        "role": "executive, marketing_analyst, compliance_reviewer or admin.",
        "created_at": "Time the account was created, UTC.",
        "last_sign_in_at": "Time of the last successful sign-in, UTC.",
    },
    primary_key=("username",),
    not_null=("username", "password_hash", "role", "created_at"),
)

AUDIT_LOG = TableSpec(
    name="audit_log",
    description="Append-only record of sign-ins and of every view of raw personal data.",
    schema=pl.Schema(
        {
            "event_id": pl.Int64,
            "ts": TS,
            "username": pl.String,
            "role": pl.String,
            "action": pl.String,
            "target": pl.String,
            "details": pl.String,
        }
    ),
    columns={
        "event_id": "Sequence number.",
        "ts": "Time of the event, UTC.",
        "username": "Who (the name typed, for failed sign-ins).",
        "role": "Role at the time; null for failed sign-ins.",
        "action": (
            "sign_in, sign_in_failed, sign_in_locked, sign_out, unlock, user_added, user_removed,"
            " view_personal_data, export, fairness_signoff, fairness_mitigation."
        ),
        "target": "What was acted on: a page, table or customer.",
        "details": "JSON with further facts (filters, row counts).",
    },
    primary_key=("event_id",),
    not_null=("event_id", "ts", "username", "action"),
)

DATASET_META = TableSpec(
    name="dataset_meta",
    description="Facts about the loaded data set: source, seed, snapshot date.",
    schema=pl.Schema({"key": pl.String, "value": pl.String}),
    columns={"key": "Name of the fact.", "value": "Its value as text."},
    primary_key=("key",),
    not_null=("key",),
)

SEGMENTS = TableSpec(
    name="segments",
    description=(
        "Saved customer segments, one row per version: what the analyst named and saved on the"
        " Segments page (or with the CLI). Kept across data loads; data_as_of says which data the"
        " members come from."
    ),
    schema=pl.Schema(
        {
            "segment_id": pl.String,
            "name": pl.String,
            "version": pl.Int64,
            "description": pl.String,
            "source": pl.String,
            "parameters": pl.String,
            "created_by": pl.String,
            "created_at": TS,
            "data_as_of": pl.Date,
            "customers": pl.Int64,
        }
    ),
    columns={
        "segment_id": "Identifier of this version of the segment.",
        "name": "The analyst's name for it (versions share the name).",
        "version": "1 for the first save of a name, then 2, 3, ...",
        "description": "Free text: how it was made, what it is for.",
        "source": "clustering, map_selection or upload.",
        "parameters": "JSON: feature set, algorithm, k, cluster number, map, ... (how to remake it).",
        "created_by": "User who saved it.",
        "created_at": "When it was saved (UTC).",
        "data_as_of": "Snapshot date of the data its members come from.",
        "customers": "Number of members.",
    },
    primary_key=("segment_id",),
    not_null=("segment_id", "name", "version", "source", "created_by", "created_at", "customers"),
)

SEGMENT_MEMBERS = TableSpec(
    name="segment_members",
    description="Members of each saved segment version.",
    schema=pl.Schema({"segment_id": pl.String, "customer_id": pl.Int64}),
    columns={"segment_id": "The segment version (segments.segment_id).", "customer_id": "A member."},
    primary_key=("segment_id", "customer_id"),
    not_null=("segment_id", "customer_id"),
)

FAIRNESS_SIGNOFFS = TableSpec(
    name="fairness_signoffs",
    description=(
        "Reviewers' sign-offs of fairness audits, one row per signature, with the signed report and its"
        " SHA-256 (Fairness page, docs/fairness.md). Kept across data loads: they are the record."
    ),
    schema=pl.Schema(
        {
            "signoff_id": pl.String,
            "kind": pl.String,
            "subject_id": pl.String,
            "title": pl.String,
            "model_version": pl.Int64,
            "threshold": pl.Float64,
            "data_as_of": pl.Date,
            "data_hash": pl.String,
            "audit_verdict": pl.String,
            "decision": pl.String,
            "comment": pl.String,
            "reviewer": pl.String,
            "reviewer_role": pl.String,
            "signed_at": TS,
            "report_sha256": pl.String,
            "pdf_sha256": pl.String,
            "report_html": pl.String,
        }
    ),
    columns={
        "signoff_id": "Identifier of the sign-off (printed in the report).",
        "kind": "What was audited: model, offers, credit_decision, targeting or upload.",
        "subject_id": "The model id, campaign id, list hash or file name.",
        "title": "Heading of the audit.",
        "model_version": "Version of the audited model; null for other decisions.",
        "threshold": "Operating threshold of a scored decision; null for exposure.",
        "data_as_of": "Date of the audited decisions.",
        "data_hash": "SHA-256 of the per-group counts the audit read (the data snapshot).",
        "audit_verdict": "pass, fail or undecided: what the four-fifths rule said.",
        "decision": "approved, approved_with_conditions or rejected: what the reviewer said.",
        "comment": "Conditions or justification (required to approve a failing audit).",
        "reviewer": "User name of the reviewer.",
        "reviewer_role": "Their role when signing.",
        "signed_at": "When, UTC.",
        "report_sha256": "SHA-256 of the signed HTML report (sha256sum of the downloaded file).",
        "pdf_sha256": "SHA-256 of the signed PDF report.",
        "report_html": "The signed HTML report itself.",
    },
    primary_key=("signoff_id",),
    not_null=(
        "signoff_id",
        "kind",
        "subject_id",
        "title",
        "data_hash",
        "audit_verdict",
        "decision",
        "reviewer",
        "reviewer_role",
        "signed_at",
        "report_sha256",
        "pdf_sha256",
        "report_html",
    ),
    rules=(
        Rule(
            "decision",
            pl.col("decision").is_in(["approved", "approved_with_conditions", "rejected"]),
            "is not approved, approved_with_conditions or rejected",
        ),
        Rule(
            "audit_verdict",
            pl.col("audit_verdict").is_in(["pass", "fail", "undecided"]),
            "is not pass, fail or undecided",
        ),
    ),
)

APP_TABLES: tuple[TableSpec, ...] = (
    USERS,
    AUDIT_LOG,
    DATASET_META,
    SEGMENTS,
    SEGMENT_MEMBERS,
    FAIRNESS_SIGNOFFS,
)

APP_META_KEYS: tuple[str, ...] = ("pseudonym_key",)
"""Keys of ``dataset_meta`` that belong to the app, not to the data: kept across loads."""

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
"""Debit merchant categories with a spend-share column in ``customer_features`` (any other: ``other``)."""

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

CLV_FITS = TableSpec(
    name="clv_fits",
    description=(
        "Model output: the stored BG/NBD + Gamma-Gamma fit on the bank's transactions"
        " (python -m analytics clv); the newest row is the one the KPIs page shows."
    ),
    schema=pl.Schema(
        {
            "fit_id": pl.String,
            "fitted_at": TS,
            "fitted_by": pl.String,
            "data_as_of": pl.Date,
            "period": pl.String,
            "calibration_end": pl.Date,
            "holdout_end": pl.Date,
            "horizon_periods": pl.Float64,
            "discount_rate": pl.Float64,
            "parameters": pl.String,
            "check_parameters": pl.String,
            "customers": pl.Int64,
            "repeat_customers": pl.Int64,
            "calibration": pl.String,
            "warnings": pl.String,
        }
    ),
    columns={
        "fit_id": "Identifier of the fit.",
        "fitted_at": "When the fit was stored (UTC).",
        "fitted_by": "User or job that ran it.",
        "data_as_of": "Snapshot date of the data it was fitted on.",
        "period": "Time unit of the models: day, week or month.",
        "calibration_end": "Last day of the data behind the per-customer predictions.",
        "holdout_end": "Last day of the holdout of the calibration/holdout check.",
        "horizon_periods": "CLV horizon in periods.",
        "discount_rate": "Annual discount rate of the CLV.",
        "parameters": "JSON: r, alpha, a, b, p, q, gamma and both log-likelihoods of the final fit.",
        "check_parameters": "JSON: the same for the fit that ends before the holdout (the check's fit).",
        "customers": "Customers in the final fit.",
        "repeat_customers": "Customers with at least one repeat transaction (the Gamma-Gamma fit).",
        "calibration": "JSON rows: predicted against actual holdout transactions by frequency bucket.",
        "warnings": "JSON list of the fit's warnings (excluded rows, one-transaction customers, ...).",
    },
    primary_key=("fit_id",),
    not_null=("fit_id", "fitted_at", "period", "calibration_end", "parameters"),
)

CLV_PREDICTIONS = TableSpec(
    name="clv_predictions",
    description="Model output: per-customer predictions of the newest stored CLV fit.",
    schema=pl.Schema(
        {
            "fit_id": pl.String,
            "customer_id": pl.Int64,
            "frequency": pl.Float64,
            "recency": pl.Float64,
            "T": pl.Float64,
            "monetary_value": pl.Float64,
            "probability_alive": pl.Float64,
            "expected_transactions": pl.Float64,
            "expected_average_value": pl.Float64,
            "clv": pl.Float64,
        }
    ),
    columns={
        "fit_id": "The fit (clv_fits.fit_id).",
        "customer_id": "The customer.",
        "frequency": "Repeat transactions (distinct days after the first) up to the calibration end.",
        "recency": "Periods from the first to the last transaction.",
        "T": "Periods from the first transaction to the calibration end.",
        "monetary_value": "Mean value of the repeat transactions (0 without any).",
        "probability_alive": "BG/NBD probability that the customer is still active.",
        "expected_transactions": "Expected transactions over the horizon.",
        "expected_average_value": "Gamma-Gamma expected value per transaction.",
        "clv": "Discounted expected value over the horizon.",
    },
    primary_key=("fit_id", "customer_id"),
    not_null=("fit_id", "customer_id"),
)

SEGMENT_MAPS = TableSpec(
    name="segment_maps",
    description=(
        "Model output: one row per stored 2-D customer map (analytics.segments.embedding.store_map); a map"
        " is identified by method, feature columns and parameters (map_key), and storing the same"
        " key again replaces the old map."
    ),
    schema=pl.Schema(
        {
            "map_id": pl.String,
            "map_key": pl.String,
            "method": pl.String,
            "feature_columns": pl.String,
            "params": pl.String,
            "fitted_at": TS,
            "fitted_by": pl.String,
            "data_as_of": pl.Date,
            "customers": pl.Int64,
            "sample_size": pl.Int64,
            "seconds": pl.Float64,
        }
    ),
    columns={
        "map_id": "Identifier of the map (segment_map_points.map_id).",
        "map_key": "Hash of method, sorted feature columns and parameters: what makes two maps the same.",
        "method": "umap or pca.",
        "feature_columns": "JSON list of the feature columns, in the order of the matrix's columns.",
        "params": "JSON object of the parameters (n_neighbors, min_dist, metric, random_state, sample_size).",
        "fitted_at": "When the map was stored (UTC).",
        "fitted_by": "User or job that fitted it.",
        "data_as_of": "Snapshot date of the data it was fitted on.",
        "customers": "Customers placed on the map (rows of segment_map_points).",
        "sample_size": "Customers the map was fitted on; the rest were transformed onto it.",
        "seconds": "Wall time of the fit and transform.",
    },
    primary_key=("map_id",),
    not_null=("map_id", "map_key", "method", "feature_columns", "params", "fitted_at", "customers"),
    rules=(Rule("method", pl.col("method").is_in(["umap", "pca"]), "is not umap or pca"),),
)

SEGMENT_MAP_POINTS = TableSpec(
    name="segment_map_points",
    description="Model output: each customer's position on a stored 2-D map.",
    schema=pl.Schema({"map_id": pl.String, "customer_id": pl.Int64, "x": pl.Float64, "y": pl.Float64}),
    columns={
        "map_id": "The map (segment_maps.map_id).",
        "customer_id": "The customer.",
        "x": "First map coordinate (no unit: only distances between points mean anything).",
        "y": "Second map coordinate.",
    },
    primary_key=("map_id", "customer_id"),
    not_null=("map_id", "customer_id", "x", "y"),
)

MODELS = TableSpec(
    name="models",
    description=(
        "Model output: the registry of trained churn and take-up models (python -m analytics train),"
        " one row per model; the estimators are a joblib file next to the database whose SHA-256 is"
        " checked before it is loaded (docs/models.md, Registry)."
    ),
    schema=pl.Schema(
        {
            "model_id": pl.String,
            "target": pl.String,
            "version": pl.Int64,
            "trained_at": TS,
            "trained_by": pl.String,
            "data_as_of": pl.Date,
            "horizon_days": pl.Int64,
            "features": pl.String,
            "parameters": pl.String,
            "metrics": pl.String,
            "training_snapshot_hash": pl.String,
            "artifact_path": pl.String,
            "artifact_sha256": pl.String,
        }
    ),
    columns={
        "model_id": "Identifier of the model (<target>-v<version>-<8 hex>).",
        "target": "What it predicts: churn, credit_card, savings or investment_fund.",
        "version": "1, 2, ... per target, in the order the models were registered.",
        "trained_at": "When the model was registered (UTC).",
        "trained_by": "User or job that trained it.",
        "data_as_of": "Snapshot date of the data it was trained on.",
        "horizon_days": "Days after a cut-off in which the outcome is looked for.",
        "features": "JSON list of the input columns, in the order the estimators take them.",
        "parameters": "JSON: cut-offs, horizon, calibration method, hyperparameters of both pipelines.",
        "metrics": (
            "JSON: test metrics of the model and the baseline, calibration table, importance, split sizes."
        ),
        "training_snapshot_hash": "SHA-256 of the training, validation and test rows (see docs/models.md).",
        "artifact_path": "Absolute path of the joblib file holding the fitted estimators.",
        "artifact_sha256": "SHA-256 of that file, checked before it is loaded.",
    },
    primary_key=("model_id",),
    not_null=(
        "model_id",
        "target",
        "version",
        "trained_at",
        "features",
        "training_snapshot_hash",
        "artifact_path",
        "artifact_sha256",
    ),
    rules=(
        # The targets of analytics.models.training.Target (the store imports no capability).
        Rule(
            "target",
            pl.col("target").is_in(["churn", "credit_card", "savings", "investment_fund"]),
            "is not churn, credit_card, savings or investment_fund",
        ),
        Rule("version", pl.col("version") >= 1, "is below 1"),
    ),
)

MODEL_PREDICTIONS = TableSpec(
    name="model_predictions",
    description="Model output: a registered model's calibrated score for every current customer.",
    schema=pl.Schema(
        {
            "model_id": pl.String,
            "customer_id": pl.Int64,
            "score": pl.Float64,
            "scored_at": TS,
            "features_as_of": pl.Date,
        }
    ),
    columns={
        "model_id": "The model (models.model_id).",
        "customer_id": "The customer.",
        "score": "Calibrated probability of the model's outcome in its horizon.",
        "scored_at": "When the scores were written (UTC).",
        "features_as_of": "The date the customer's features were computed as of (the snapshot).",
    },
    primary_key=("model_id", "customer_id"),
    not_null=("model_id", "customer_id", "score", "scored_at", "features_as_of"),
    rules=(Rule("score", pl.col("score").is_between(0.0, 1.0), "is not a probability between 0 and 1"),),
)

MODEL_TEST_SCORES = TableSpec(
    name="model_test_scores",
    description=(
        "Model output: a registered model's scores on its test cut-off, with the outcome that followed;"
        " what the quality view draws (ROC, PR, calibration, lift, confusion at a threshold)."
    ),
    schema=pl.Schema(
        {
            "model_id": pl.String,
            "customer_id": pl.Int64,
            "label": pl.Int64,
            "score": pl.Float64,
            "score_uncalibrated": pl.Float64,
            "baseline_score": pl.Float64,
        }
    ),
    columns={
        "model_id": "The model (models.model_id).",
        "customer_id": "A customer on the test cut-off.",
        "label": "1 when the outcome happened within the horizon after the test cut-off, else 0.",
        "score": "Calibrated probability from the gradient-boosted model.",
        "score_uncalibrated": "The same model's probability before calibration.",
        "baseline_score": "Probability from the logistic-regression baseline.",
    },
    primary_key=("model_id", "customer_id"),
    not_null=("model_id", "customer_id", "label", "score", "score_uncalibrated", "baseline_score"),
    rules=(
        Rule("label", pl.col("label").is_in([0, 1]), "is not 0 or 1"),
        Rule("score", pl.col("score").is_between(0.0, 1.0), "is not a probability between 0 and 1"),
    ),
)

MODEL_EXPLANATIONS = TableSpec(
    name="model_explanations",
    description=(
        "Model output: one row per model and explained pipeline (tree or baseline) for the stored SHAP"
        " sample of current customers (python -m analytics train / score, docs/models.md)."
    ),
    schema=pl.Schema(
        {
            "model_id": pl.String,
            "kind": pl.String,
            "rows": pl.Int64,
            "base_value": pl.Float64,
            "space": pl.String,
            "features_as_of": pl.Date,
            "explained_at": TS,
            "seconds": pl.Float64,
            "typical": pl.String,
        }
    ),
    columns={
        "model_id": "The model (models.model_id).",
        "kind": "tree (the gradient-boosted model, exact tree SHAP) or baseline (logistic, linear SHAP).",
        "rows": "Customers in the explained sample.",
        "base_value": "Expected value of the explained output (in the unit of space).",
        "space": "What the SHAP values add up to: log-odds of the calibrated score, or of the baseline's.",
        "features_as_of": "The date the customers' features were computed as of (the snapshot).",
        "explained_at": "When the SHAP values were computed (UTC).",
        "seconds": "Time taken to compute them.",
        "typical": "JSON: the median of each feature over all current customers (the 'typical' of reasons).",
    },
    primary_key=("model_id", "kind"),
    not_null=("model_id", "kind", "rows", "base_value", "space", "features_as_of", "explained_at"),
    rules=(Rule("kind", pl.col("kind").is_in(["tree", "baseline"]), "is not tree or baseline"),),
)

MODEL_SHAP = TableSpec(
    name="model_shap",
    description=(
        "Model output: SHAP values of the stored sample, one row per model, pipeline, customer and feature."
    ),
    schema=pl.Schema(
        {
            "model_id": pl.String,
            "kind": pl.String,
            "customer_id": pl.Int64,
            "feature": pl.String,
            "value": pl.Float64,
            "shap": pl.Float64,
        }
    ),
    columns={
        "model_id": "The model (models.model_id).",
        "kind": "tree or baseline (model_explanations.kind).",
        "customer_id": "A current customer in the sample.",
        "feature": "A model input column.",
        "value": "The customer's value of it (booleans as 0/1; null when missing, imputed by the model).",
        "shap": "Its SHAP value, in the model_explanations.space of the row's model and kind.",
    },
    primary_key=("model_id", "kind", "customer_id", "feature"),
    not_null=("model_id", "kind", "customer_id", "feature", "shap"),
)

MODEL_TABLES: tuple[TableSpec, ...] = (
    CLV_FITS,
    CLV_PREDICTIONS,
    SEGMENT_MAPS,
    SEGMENT_MAP_POINTS,
    MODELS,
    MODEL_PREDICTIONS,
    MODEL_TEST_SCORES,
    MODEL_EXPLANATIONS,
    MODEL_SHAP,
)
"""Stored model outputs: written by batch jobs, emptied when a new data set is loaded."""

ALL_TABLES: dict[str, TableSpec] = {
    spec.name: spec for spec in (*CANONICAL_TABLES, *APP_TABLES, *DERIVED_TABLES, *MODEL_TABLES)
}
