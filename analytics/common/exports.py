"""Tables written as CSV for people to open in a spreadsheet, guarded against formula injection."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import polars.selectors as cs

# OWASP "CSV Injection": a spreadsheet runs a cell starting with one of these as a formula.
FORMULA_STARTS = r"^[=+\-@\t\r]"


def formula_safe(frame: pl.DataFrame) -> pl.DataFrame:
    """Prefix every text cell a spreadsheet would run as a formula with a single quote.

    A cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return becomes
    ``'`` followed by the cell, so Excel and LibreOffice show it as text. Numeric, date and
    boolean columns are left as they are (a negative number stays a number); categorical
    columns are written as text.

    Parameters
    ----------
    frame : polars.DataFrame
        The table to export.

    Returns
    -------
    polars.DataFrame
        The same columns in the same order, text cells guarded.

    Examples
    --------
    >>> formula_safe(pl.DataFrame({"name": ["=1+1", "Ann"], "x": [-2, 3]})).rows()
    [("'=1+1", -2), ('Ann', 3)]
    """
    text = frame.select(cs.string() | cs.categorical() | cs.enum()).columns
    if not text:
        return frame
    return frame.with_columns(
        pl.when(pl.col(name).cast(pl.String).str.contains(FORMULA_STARTS))
        .then(pl.lit("'") + pl.col(name).cast(pl.String))
        .otherwise(pl.col(name).cast(pl.String))
        .alias(name)
        for name in text
    )


def write_safe_csv(frame: pl.DataFrame, path: str | Path | None = None) -> str | None:
    """Write ``frame`` as CSV after :func:`formula_safe`: to ``path``, or return the text.

    Parameters
    ----------
    frame : polars.DataFrame
        The table to export.
    path : str or pathlib.Path, optional
        Where to write; without it the CSV is returned.

    Returns
    -------
    str or None
        The CSV text when no path is given, else None.
    """
    safe = formula_safe(frame)
    if path is None:
        return safe.write_csv()
    safe.write_csv(path)
    return None
