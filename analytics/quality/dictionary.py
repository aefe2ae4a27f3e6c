"""The data dictionary: every table and column of the contracts with its type, meaning, size and freshness.

The descriptions come from the table contracts (:mod:`analytics.store.contracts`), so the
dictionary cannot disagree with what the loader checks. Row counts and the newest value of each
table's freshness column are read from the database in one Ibis query.

Freshness column (:func:`freshness_column`): the column whose newest value says how current a
table is, derived from its schema: the first timestamp column that may not be null (the event
time: ``transactions.ts``, ``offers.sent_at``, ``audit_log.ts``), else the first date column that
may not be null (``customers.joined_at``, ``holdings.opened_at``), else the first timestamp,
else the first date; personal columns (a birth date) never count. ``cohort_cube`` is the one
table where that rule picks the wrong date (``cohort_month``), so it names ``month`` explicitly.
Tables without any date (``products``, ``customer_features``) have none.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

import ibis
import polars as pl

from analytics.store.contracts import (
    APP_TABLES,
    CANONICAL_TABLES,
    DERIVED_TABLES,
    MODEL_TABLES,
    TableSpec,
)
from analytics.store.database import Database, duckdb_type

TableKind = Literal["canonical", "app", "derived", "model"]

TABLE_KINDS: dict[str, TableKind] = {
    **{spec.name: "canonical" for spec in CANONICAL_TABLES},
    **{spec.name: "app" for spec in APP_TABLES},
    **{spec.name: "derived" for spec in DERIVED_TABLES},
    **{spec.name: "model" for spec in MODEL_TABLES},
}
"""Who writes each table: the bank's load, the app, the rollups, or a batch job."""

ALL_SPECS: tuple[TableSpec, ...] = (*CANONICAL_TABLES, *APP_TABLES, *DERIVED_TABLES, *MODEL_TABLES)

FRESHNESS_OVERRIDES: dict[str, str] = {"cohort_cube": "month"}
"""Tables whose freshness column the schema rule would pick wrongly (the join month, not the month)."""


def freshness_column(spec: TableSpec) -> str | None:
    """The column whose newest value says how current ``spec``'s table is (see the module docstring).

    Parameters
    ----------
    spec : TableSpec
        A table contract.

    Returns
    -------
    str or None
        A date or timestamp column, or None for a table without one.

    Examples
    --------
    >>> from analytics.store.contracts import CUSTOMERS, TRANSACTIONS
    >>> freshness_column(TRANSACTIONS), freshness_column(CUSTOMERS)
    ('ts', 'joined_at')
    """
    if spec.name in FRESHNESS_OVERRIDES:
        return FRESHNESS_OVERRIDES[spec.name]
    candidates = [(n, t) for n, t in spec.schema.items() if n not in spec.personal]
    tiers = (
        [n for n, t in candidates if isinstance(t, pl.Datetime) and n in spec.not_null],
        [n for n, t in candidates if t == pl.Date and n in spec.not_null],
        [n for n, t in candidates if isinstance(t, pl.Datetime)],
        [n for n, t in candidates if t == pl.Date],
    )
    return next((tier[0] for tier in tiers if tier), None)


@dataclass(frozen=True)
class TableFacts:
    """Size and freshness of one table as the database holds it now.

    Parameters
    ----------
    table : str
        Table name.
    present : bool
        Whether the table exists in the database (model outputs may be absent).
    rows : int or None
        Row count; None when absent.
    freshness_column : str or None
        See :func:`freshness_column`.
    newest : datetime or None
        Newest value of that column (a date as midnight); None when empty or without one.
    lag_days : int or None
        Snapshot date minus the newest value's date, in days (negative: after the snapshot).
    """

    table: str
    present: bool
    rows: int | None
    freshness_column: str | None
    newest: datetime | None
    lag_days: int | None


def _as_datetime(value: date | datetime | None) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime(value.year, value.month, value.day)


def table_facts(db: Database, *, specs: tuple[TableSpec, ...] = ALL_SPECS) -> dict[str, TableFacts]:
    """Row count and newest freshness value of every table, in one query.

    Parameters
    ----------
    db : Database
        The database.
    specs : tuple of TableSpec
        The tables to look at (default: every contract table).

    Returns
    -------
    dict of str to TableFacts
        By table name, in the order of ``specs``.
    """
    missing = set(db.missing_tables())
    backend = db.backend()
    parts = []
    for spec in specs:
        if spec.name in missing:
            continue
        table = backend.table(spec.name)
        column = freshness_column(spec)
        newest = (table[column].max().cast("timestamp") if column else ibis.null().cast("timestamp")).name(
            "newest"
        )
        parts.append(table.aggregate(rows=table.count(), newest=newest).mutate(table=ibis.literal(spec.name)))
    found = ibis.union(*parts).to_polars() if parts else pl.DataFrame()
    by_name = {row["table"]: row for row in found.iter_rows(named=True)} if found.height else {}
    snapshot = db.snapshot_date()
    facts = {}
    for spec in specs:
        row = by_name.get(spec.name)
        newest = _as_datetime(row["newest"]) if row else None
        facts[spec.name] = TableFacts(
            table=spec.name,
            present=row is not None,
            rows=int(row["rows"]) if row else None,
            freshness_column=freshness_column(spec),
            newest=newest,
            lag_days=(snapshot - newest.date()).days if newest else None,
        )
    return facts


_DICTIONARY_SCHEMA = pl.Schema(
    {
        "table": pl.String,
        "kind": pl.String,
        "table_description": pl.String,
        "rows": pl.Int64,
        "freshness_column": pl.String,
        "newest": pl.Datetime("us"),
        "snapshot_date": pl.Date,
        "lag_days": pl.Int64,
        "position": pl.Int64,
        "column": pl.String,
        "dtype": pl.String,
        "sql_type": pl.String,
        "description": pl.String,
        "nullable": pl.Boolean,
        "primary_key": pl.Boolean,
        "personal": pl.Boolean,
    }
)


def data_dictionary(db: Database) -> pl.DataFrame:
    """Every table of the contracts and every column, with type, meaning, size and freshness.

    Parameters
    ----------
    db : Database
        The database whose row counts and freshness are reported.

    Returns
    -------
    polars.DataFrame
        One row per column, in contract order (canonical, app, derived, model tables): ``table``,
        ``kind`` (canonical, app, derived or model), ``table_description``, ``rows`` (null when the
        table is absent), ``freshness_column``, ``newest`` (its newest value), ``snapshot_date``
        (``dataset_meta.as_of``), ``lag_days`` (snapshot minus newest, in days), ``position``
        (1-based), ``column``, ``dtype`` (polars), ``sql_type`` (DuckDB), ``description``,
        ``nullable`` (the contract allows nulls), ``primary_key`` (part of the key) and
        ``personal`` (personal data, masked for most roles). The table-level fields repeat on
        each of its columns.

    Examples
    --------
    >>> db = Database(":memory:")
    >>> db.ensure_schema()
    >>> data_dictionary(db).filter(pl.col("table") == "transactions").get_column("column").head(2).to_list()
    ['transaction_id', 'customer_id']
    """
    facts = table_facts(db)
    snapshot = db.snapshot_date()
    records = []
    for spec in ALL_SPECS:
        fact = facts[spec.name]
        for position, (name, dtype) in enumerate(spec.schema.items(), start=1):
            records.append(
                {
                    "table": spec.name,
                    "kind": TABLE_KINDS[spec.name],
                    "table_description": spec.description,
                    "rows": fact.rows,
                    "freshness_column": fact.freshness_column,
                    "newest": fact.newest,
                    "snapshot_date": snapshot,
                    "lag_days": fact.lag_days,
                    "position": position,
                    "column": name,
                    "dtype": str(dtype),
                    "sql_type": duckdb_type(dtype),
                    "description": spec.columns[name],
                    "nullable": name not in spec.not_null,
                    "primary_key": name in spec.primary_key,
                    "personal": name in spec.personal,
                }
            )
    return pl.DataFrame(records, schema=_DICTIONARY_SCHEMA)


def table_overview(db: Database) -> pl.DataFrame:
    """One row per table: what it is, its key, size and freshness (the dictionary's table level).

    Parameters
    ----------
    db : Database
        The database.

    Returns
    -------
    polars.DataFrame
        ``table``, ``kind``, ``description``, ``columns`` (count), ``primary_key`` (comma-separated),
        ``present``, ``rows``, ``freshness_column``, ``newest``, ``snapshot_date`` and ``lag_days``,
        as in :func:`data_dictionary`.
    """
    facts = table_facts(db)
    snapshot = db.snapshot_date()
    return pl.DataFrame(
        [
            {
                "table": spec.name,
                "kind": TABLE_KINDS[spec.name],
                "description": spec.description,
                "columns": len(spec.schema),
                "primary_key": ", ".join(spec.primary_key),
                "present": facts[spec.name].present,
                "rows": facts[spec.name].rows,
                "freshness_column": facts[spec.name].freshness_column,
                "newest": facts[spec.name].newest,
                "snapshot_date": snapshot,
                "lag_days": facts[spec.name].lag_days,
            }
            for spec in ALL_SPECS
        ],
        schema={
            "table": pl.String,
            "kind": pl.String,
            "description": pl.String,
            "columns": pl.Int64,
            "primary_key": pl.String,
            "present": pl.Boolean,
            "rows": pl.Int64,
            "freshness_column": pl.String,
            "newest": pl.Datetime("us"),
            "snapshot_date": pl.Date,
            "lag_days": pl.Int64,
        },
    )
