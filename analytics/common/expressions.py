"""Ibis expressions shared by capabilities (the same on DuckDB and Spark)."""

from __future__ import annotations

from datetime import date

import ibis
import ibis.expr.types as ir


def age_band_expr(birth_date: ir.DateValue, as_of: date) -> ir.StringValue:
    """Age band (18-24 ... 65+) on ``as_of`` from a birth-date column.

    Whole years are counted from date parts (birthday reached or not), because
    ``date_diff`` in years differs between engines.
    """
    before_birthday = (birth_date.month() > as_of.month) | (
        (birth_date.month() == as_of.month) & (birth_date.day() > as_of.day)
    )
    age = as_of.year - birth_date.year() - before_birthday.ifelse(1, 0)
    return (
        ibis.cases(
            (age < 25, "18-24"),
            (age < 35, "25-34"),
            (age < 45, "35-44"),
            (age < 55, "45-54"),
            (age < 65, "55-64"),
            else_="65+",
        )
    ).name("age_band")
