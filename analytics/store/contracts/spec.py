"""The contract types: a table's schema, keys, personal columns and value rules."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl


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
"""Every timestamp column: UTC, stored naive, in microseconds."""
