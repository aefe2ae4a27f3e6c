"""Table contracts: one :class:`TableSpec` per table the app reads or writes.

Each table has its Polars schema (checked in ``analytics.store.database`` whenever data comes
in), its key, the columns that may not be null, the columns that hold personal data, and a
one-line description per column (the data dictionary). The DuckDB DDL is generated from these
specs, so the schema is written once.

All timestamps are UTC and stored as naive ``TIMESTAMP`` values; all dates are calendar dates.
Money is ``DOUBLE`` rounded to cents (decimals behave differently across engines).

The contracts live in four modules by who writes the table: ``canonical`` (the bank's data, in
load order), ``app_state`` (written by the app itself), ``derived`` (rebuilt by the store after
every load) and ``model_outputs`` (written by batch jobs); ``spec`` holds the types. Import them
from here.
"""

from analytics.store.contracts.app_state import (
    APP_META_KEYS,
    APP_TABLES,
    AUDIT_LOG,
    DATASET_META,
    FAIRNESS_SIGNOFFS,
    SEGMENT_MEMBERS,
    SEGMENTS,
    USERS,
)
from analytics.store.contracts.canonical import (
    ASSIGNMENTS,
    CAMPAIGNS,
    CANONICAL_TABLES,
    CONSENT_EVENTS,
    CONSENT_PURPOSES,
    CUSTOMERS,
    DIGITAL_EVENTS,
    EXPERIMENTS,
    HOLDINGS,
    OFFERS,
    OPTIONAL_CANONICAL,
    PRODUCTS,
    REFERENCES,
    SUPPORT_INTERACTIONS,
    SURVEYS,
    TRANSACTIONS,
)
from analytics.store.contracts.derived import (
    COHORT_CUBE,
    CUSTOMER_FEATURES,
    CUSTOMER_MONTH,
    DERIVED_TABLES,
    FEATURE_INFLOW_KINDS,
    FEATURE_MERCHANT_CATEGORIES,
    FEATURE_TXN_CHANNELS,
    FEATURE_WINDOW_MONTHS,
    KPI_CUBE,
    KPI_CUBE_PRODUCT,
)
from analytics.store.contracts.model_outputs import (
    CLV_FITS,
    CLV_PREDICTIONS,
    MODEL_EXPLANATIONS,
    MODEL_PREDICTIONS,
    MODEL_SHAP,
    MODEL_TABLES,
    MODEL_TEST_SCORES,
    MODELS,
    SEGMENT_MAP_POINTS,
    SEGMENT_MAPS,
)
from analytics.store.contracts.spec import TS, Rule, TableSpec

ALL_TABLES: dict[str, TableSpec] = {
    spec.name: spec for spec in (*CANONICAL_TABLES, *APP_TABLES, *DERIVED_TABLES, *MODEL_TABLES)
}
"""Every table by name."""

__all__ = [
    "ALL_TABLES",
    "APP_META_KEYS",
    "APP_TABLES",
    "ASSIGNMENTS",
    "AUDIT_LOG",
    "CAMPAIGNS",
    "CANONICAL_TABLES",
    "CLV_FITS",
    "CLV_PREDICTIONS",
    "COHORT_CUBE",
    "CONSENT_EVENTS",
    "CONSENT_PURPOSES",
    "CUSTOMERS",
    "CUSTOMER_FEATURES",
    "CUSTOMER_MONTH",
    "DATASET_META",
    "DERIVED_TABLES",
    "DIGITAL_EVENTS",
    "EXPERIMENTS",
    "FAIRNESS_SIGNOFFS",
    "FEATURE_INFLOW_KINDS",
    "FEATURE_MERCHANT_CATEGORIES",
    "FEATURE_TXN_CHANNELS",
    "FEATURE_WINDOW_MONTHS",
    "HOLDINGS",
    "KPI_CUBE",
    "KPI_CUBE_PRODUCT",
    "MODELS",
    "MODEL_EXPLANATIONS",
    "MODEL_PREDICTIONS",
    "MODEL_SHAP",
    "MODEL_TABLES",
    "MODEL_TEST_SCORES",
    "OFFERS",
    "OPTIONAL_CANONICAL",
    "PRODUCTS",
    "REFERENCES",
    "SEGMENTS",
    "SEGMENT_MAPS",
    "SEGMENT_MAP_POINTS",
    "SEGMENT_MEMBERS",
    "SUPPORT_INTERACTIONS",
    "SURVEYS",
    "TRANSACTIONS",
    "TS",
    "USERS",
    "Rule",
    "TableSpec",
]
