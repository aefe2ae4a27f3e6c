"""Reading a table a user brings (a CSV or Parquet file, or an upload's bytes), with clear errors.

With a row cap, a file is refused before it is read whole: a CSV is parsed only up to one row past
the cap (that one row proves "too many"), and a Parquet file's row count is read from its footer
(the file's metadata) before any row is.
"""

from __future__ import annotations

import io
from pathlib import Path

import polars as pl

MSG_UNREADABLE = "Cannot read {name}: {reason}"
MSG_BAD_SUFFIX = "Cannot read {name}: use a .csv or .parquet file."
MSG_TOO_MANY_ROWS = "Cannot read {name}: it has {rows} rows, and at most {limit:,} are read here."


class TooManyRowsError(ValueError):
    """A file over the row cap; the message names the file, its row count (or "more than N") and the cap."""


def read_table(
    source: str | Path | bytes, *, name: str | None = None, max_rows: int | None = None
) -> pl.DataFrame:
    r"""Read a customer-level CSV or Parquet table from a path or an upload's bytes.

    Parameters
    ----------
    source : str, pathlib.Path or bytes
        A file path, or the file's content (an upload).
    name : str, optional
        The file's name (needed for bytes: its suffix says the format).
    max_rows : int, optional
        Refuse a file of more rows, without reading it whole: a CSV is read up to
        ``max_rows + 1`` rows, a Parquet file's row count comes from its metadata first.
        None reads any length (the command line).

    Returns
    -------
    polars.DataFrame
        The table, every CSV row read used to infer the column types.

    Raises
    ------
    TooManyRowsError
        A file of more than ``max_rows`` rows (:data:`MSG_TOO_MANY_ROWS`), a ValueError.
    ValueError
        Naming the file, for a missing file, another format, or content that does not parse.

    Examples
    --------
    >>> try:
    ...     read_table(b"x\n1\n2\n3\n", name="three.csv", max_rows=2)
    ... except TooManyRowsError as exc:
    ...     print(exc)
    Cannot read three.csv: it has more than 2 rows, and at most 2 are read here.
    """
    label = name or str(source)
    suffix = Path(label).suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise ValueError(MSG_BAD_SUFFIX.format(name=label))
    if not isinstance(source, bytes) and not Path(source).is_file():
        raise ValueError(MSG_UNREADABLE.format(name=label, reason="no such file."))
    try:
        if suffix == ".parquet":
            return _read_parquet(source, label=label, max_rows=max_rows)
        return _read_csv(source, label=label, max_rows=max_rows)
    except TooManyRowsError:
        raise
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(MSG_UNREADABLE.format(name=label, reason=reason)) from exc


def _too_many(label: str, rows: str, max_rows: int) -> TooManyRowsError:
    return TooManyRowsError(MSG_TOO_MANY_ROWS.format(name=label, rows=rows, limit=max_rows))


def _read_parquet(source: str | Path | bytes, *, label: str, max_rows: int | None) -> pl.DataFrame:
    if max_rows is not None:
        # Imported here: pyarrow.parquet takes about 0.1 s to import and only a capped Parquet read needs it.
        import pyarrow.parquet as pq

        # The row count in the file's footer: no row group is read to know the file is too long.
        rows = pq.read_metadata(io.BytesIO(source) if isinstance(source, bytes) else source).num_rows
        if rows > max_rows:
            raise _too_many(label, f"{rows:,}", max_rows)
    return pl.read_parquet(source)


def _read_csv(source: str | Path | bytes, *, label: str, max_rows: int | None) -> pl.DataFrame:
    if max_rows is None:
        return pl.read_csv(source, infer_schema_length=None)
    try:
        # Types come from every row read: for a file within the cap, that is every row.
        frame = pl.read_csv(source, infer_schema_length=max_rows + 1, n_rows=max_rows + 1)
    except pl.exceptions.ComputeError:
        # Polars parses ahead in chunks, so a value past the rows read can break the types inferred from
        # them: read the same rows as text to tell a long file (refused as such) from a broken one.
        if pl.read_csv(source, infer_schema=False, n_rows=max_rows + 1).height > max_rows:
            raise _too_many(label, f"more than {max_rows:,}", max_rows) from None
        raise
    if frame.height > max_rows:
        raise _too_many(label, f"more than {max_rows:,}", max_rows)
    return frame
