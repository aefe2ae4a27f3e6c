"""Reading a table a user brings (a CSV or Parquet file, or an upload's bytes), with clear errors."""

from __future__ import annotations

import io
from pathlib import Path

import polars as pl

MSG_UNREADABLE = "Cannot read {name}: {reason}"
MSG_BAD_SUFFIX = "Cannot read {name}: use a .csv or .parquet file."


def read_table(source: str | Path | bytes, *, name: str | None = None) -> pl.DataFrame:
    """Read a customer-level CSV or Parquet table from a path or an upload's bytes.

    Parameters
    ----------
    source : str, pathlib.Path or bytes
        A file path, or the file's content (an upload).
    name : str, optional
        The file's name (needed for bytes: its suffix says the format).

    Returns
    -------
    polars.DataFrame
        The table, every CSV row used to infer the column types.

    Raises
    ------
    ValueError
        Naming the file, for a missing file, another format, or content that does not parse.
    """
    label = name or str(source)
    suffix = Path(label).suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise ValueError(MSG_BAD_SUFFIX.format(name=label))
    if not isinstance(source, bytes) and not Path(source).is_file():
        raise ValueError(MSG_UNREADABLE.format(name=label, reason="no such file."))
    data = io.BytesIO(source) if isinstance(source, bytes) else source
    try:
        if suffix == ".parquet":
            return pl.read_parquet(data)
        return pl.read_csv(data, infer_schema_length=None)
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(MSG_UNREADABLE.format(name=label, reason=reason)) from exc
