"""Hand-built banks for known-answer tests: typed rows, empty tables, customers with defaults.

The test modules that load a small bank into an in-memory database (KPIs, engagement,
retention, models) describe only what their answers depend on; everything else gets the
neutral values below.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import polars as pl

from analytics.store.contracts import CANONICAL_TABLES, CUSTOMERS

_SPECS = {spec.name: spec for spec in CANONICAL_TABLES}

CUSTOMER_DEFAULTS: dict[str, Any] = {
    "first_name": "x",
    "last_name": "y",
    "email": None,
    "phone": None,
    "birth_date": date(1980, 1, 1),
    "gender": "female",
    "region": "North",
    "city": None,
    "occupation": None,
    "annual_income": 40000.0,
    "credit_score": 700,
    "preferred_channel": "mobile_app",
    "joined_at": date(2020, 1, 1),
    "closed_at": None,
    "consent_marketing": True,
    "consent_profiling": True,
    "consent_updated_at": None,
}
"""Neutral customer attributes; ``closure_reason`` follows ``closed_at`` ("fees" when closed)."""


def rows(table: str, values: list[tuple]) -> pl.DataFrame:
    """Rows of a canonical table, typed by its contract (tuples in the contract's column order)."""
    return pl.DataFrame(values, schema=_SPECS[table].schema, orient="row")


def empty_tables() -> dict[str, pl.DataFrame]:
    """Every canonical table, empty and typed."""
    return {spec.name: pl.DataFrame(schema=spec.schema) for spec in CANONICAL_TABLES}


def customers(customer_id: list[int], **columns: Any) -> pl.DataFrame:
    """The customers table: given columns as lists (one value per customer), the rest defaults.

    A column given as a single value applies to every customer.
    """
    n = len(customer_id)
    data: dict[str, list] = {"customer_id": list(customer_id)}
    for name, default in CUSTOMER_DEFAULTS.items():
        value = columns.pop(name, default)
        data[name] = list(value) if isinstance(value, list | tuple) else [value] * n
    if columns:
        raise TypeError(f"not customer columns: {', '.join(columns)}")
    data["closure_reason"] = [None if closed is None else "fees" for closed in data["closed_at"]]
    return pl.DataFrame(data).select(CUSTOMERS.schema.names()).cast(dict(CUSTOMERS.schema))
