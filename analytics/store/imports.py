r"""Import one of the bank's own tables from a CSV or Parquet file, checked against its contract.

An import is validated in full before anything is written: the file's structure (missing,
unexpected and duplicate columns), every cell's type, the not-null columns, the contract's value
rules, dates in range, key uniqueness (in the file and, for an append, against the table), and the
references to the parent tables (:data:`~analytics.store.contracts.REFERENCES`). Every problem is
collected (the first :data:`MAX_PROBLEMS` kept, all counted), each naming file, row, column and
value. Only a file with no problem is written, in one transaction with the rollups rebuilt inside
it (:meth:`Database.transaction`): a refused file changes nothing. docs/import.md is the user's
guide.

Files are parsed by polars (never by DuckDB, whose file access is off) and handed to DuckDB as
Arrow. A CSV is read as text, every column a string, and each cell converted to the contract's
type here, so a problem names the cell as written (a phone number ``0123`` stays ``0123``).

Examples
--------
>>> from analytics.store.database import Database
>>> db = Database(":memory:")
>>> db.ensure_schema()
>>> csv = b"product_id,name,category,monthly_fee,annual_margin_rate\nsavings,Savings,deposit,0,0.01\n"
>>> report = import_table(db, "products", csv, mode="append", source_name="products.csv")
>>> report.rows_added, report.problem_count
(1, 0)
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal, get_args

import polars as pl

from analytics.common.uploads import (
    MSG_BAD_SUFFIX,
    MSG_TOO_MANY_ROWS,
    MSG_UNREADABLE,
    TooManyRowsError,
)
from analytics.common.uploads import read_table as read_upload
from analytics.store.contracts import (
    CANONICAL_TABLES,
    CONSENT_EVENTS,
    CONSENT_PURPOSES,
    CUSTOMERS,
    REFERENCES,
    TableSpec,
)
from analytics.store.database import DataValidationError

if TYPE_CHECKING:
    from analytics.store.database import Database

ImportMode = Literal["append", "replace"]
"""``append`` adds the file's rows; ``replace`` makes them the table's only rows."""
IMPORT_MODES: tuple[str, ...] = get_args(ImportMode)

Source = str | Path | bytes | pl.DataFrame
"""A file path, a file's bytes (an upload, with ``source_name``), or a frame already read."""

MAX_PROBLEMS = 100
"""How many problems a report keeps (it counts them all)."""
DEFAULT_MAX_ROWS = 50_000_000
"""Row cap of an import unless the caller sets another (the CLI's ``--max-rows``)."""
MIN_DATE = date(1900, 1, 1)
"""No date or timestamp of the bank's data lies before this day."""
PLANNED_DATE_COLUMNS: frozenset[tuple[str, str]] = frozenset(
    {("campaigns", "end_date"), ("experiments", "end_date")}
)
"""Dates that are planned, so they may lie after the snapshot date (only the 1900 floor applies)."""
MAX_VALUE_CHARS = 80
"""A value quoted in a problem is cut to this many characters."""
IMPORT_CONSENT_SOURCE = "import"
"""``consent_events.source`` of the events a customers import appends."""
SNIFF_BYTES = 65_536
"""How much of a CSV is looked at for its encoding before polars parses it."""

TRUE_WORDS = ("true", "t", "yes", "y", "1")
FALSE_WORDS = ("false", "f", "no", "n", "0")
TIMESTAMP_FORMATS = (
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d",
)
"""Timestamps without an offset are UTC; with one (``Z``, ``+02:00``) they are converted to UTC."""
OFFSET_FORMATS = ("%Y-%m-%d %H:%M:%S%.f%z", "%Y-%m-%dT%H:%M:%S%.f%z")

MSG_UNKNOWN_TABLE = "{table!r} is not a table you can import; the tables are: {tables}."
MSG_BAD_MODE = "mode must be append or replace (got {mode!r})."
MSG_MISSING_COLUMN = "missing column {column} (the contract of {table} needs it)"
MSG_EXTRA_COLUMN = (
    "unexpected column {column}: {table} has no such column; rename it with the mapping, "
    "or map it to null to leave it out"
)
MSG_DUPLICATE_COLUMN = "column {column} appears more than once"
MSG_MAPPING_UNKNOWN_TARGET = "the mapping sends {source} to {target}, which is not a column of {table}"
MSG_MAPPING_ABSENT_SOURCE = "the mapping names column {source}, which the file does not have"
MSG_MAPPING_TWICE = "the mapping sends {sources} to the same column {target}"
MSG_BAD_TYPE = "is not {kind}"
MSG_BAD_CAST = "has type {source}, which cannot become {kind}"
MSG_MISSING_VALUE = "value is missing (the column is required)"
MSG_NOT_FINITE = "is not a finite number"
MSG_TOO_EARLY = "is before {floor} (no date of the bank's data is)"
MSG_TOO_LATE = "is after the snapshot date {as_of}"
MSG_DUPLICATE_KEY = "is a duplicate key ({key}): row {first} has it already"
MSG_EXISTING_KEY = "is already a key of {table} ({key}): append adds new rows only (or use replace)"
MSG_ORPHAN = "is not a {column} of {parent} (import {parent} first)"
MSG_STILL_REFERENCED = (
    "is missing from the new {table}, but {count:,} row(s) of {child} still reference it "
    "(replace or remove those first)"
)
MSG_CONSENT_EVENTS_ADDED = (
    "{count:,} consent change(s) added to the consent history (consent_events, source import)"
)
MSG_NO_ROWS = "the file has no rows: nothing to import (a replace never empties a table)"
MSG_EMPTY_FILE = "the file is empty (not even a header line)"
MSG_UTF16 = "the file is {encoding} encoded; save it as UTF-8 (with or without a byte-order mark)"
MSG_NUL_BYTES = "the file holds NUL bytes: it is not a UTF-8 text CSV (UTF-16 without a byte-order mark?)"
MSG_NOT_UTF8 = (
    "the file is not UTF-8 text (byte 0x{byte:02X} on line {line}; latin-1 or Windows-1252?): "
    "save it as UTF-8"
)
MSG_NOT_UTF8_LATER = "the file is not UTF-8 text (latin-1 or Windows-1252?): save it as UTF-8"
MSG_BAD_CSV = "the file does not parse as a comma-separated CSV: {reason}"
MSG_LONG_LINE = "line {line} has more fields than the header line"
MSG_OPEN_QUOTE = (
    "broken quoting: the file has an odd number of double quotes, so a quoted field opened at or "
    "before line {line} is never closed"
)
MSG_BAD_MAPPING = "Cannot read the mapping {name}: {reason}"
MSG_REFUSED = "{file}: import into {table} refused, {count:,} problem(s); nothing was changed."

_BOMS = (
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe", "UTF-16"),
    (b"\xfe\xff", "UTF-16"),
)
_DUPLICATED = re.compile(r"^(?P<name>.*)_duplicated_\d+$")
_TYPE_WORDS: dict[type[pl.DataType], str] = {
    pl.Int64: "a whole number",
    pl.Int32: "a whole number (up to 2,147,483,647)",
    pl.Float64: "a number",
    pl.Boolean: "true or false",
    pl.Date: "a date (YYYY-MM-DD)",
    pl.Datetime: "a timestamp (YYYY-MM-DD HH:MM:SS, UTC)",
    pl.String: "text",
}


class MappingError(ValueError):
    """A column-mapping file that cannot be read; the message names it and says why."""


class ImportRefusedError(DataValidationError):
    """An import with problems; nothing was written. ``report`` lists them.

    Parameters
    ----------
    report : ImportReport
        The refused import's report (``committed`` is False).
    """

    def __init__(self, report: ImportReport) -> None:
        super().__init__(MSG_REFUSED.format(file=report.file, table=report.table, count=report.problem_count))
        self.report = report


@dataclass(frozen=True)
class ImportProblem:
    """One thing wrong with an import.

    Parameters
    ----------
    file : str
        The file's name as given.
    row : int or None
        1-based data row (the header is not counted: row 1 is a CSV's second line); None for
        a problem of the whole file or a whole column.
    column : str or None
        The contract column (after the mapping), or the file's column for a structural problem.
    value : str or None
        The offending value as text, cut to :data:`MAX_VALUE_CHARS`; None when there is none.
    message : str
        What is wrong.
    """

    file: str
    row: int | None
    column: str | None
    value: str | None
    message: str

    def __str__(self) -> str:
        where = [self.file]
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column {self.column}")
        what = f"value {self.value!r} {self.message}" if self.value is not None else self.message
        return f"{', '.join(where)}: {what}"


@dataclass(frozen=True)
class ImportReport:
    """What an import did, or would do, and every problem found (the first 100 kept).

    Parameters
    ----------
    table : str
        The canonical table.
    mode : {"append", "replace"}
        How the rows were (or would be) written.
    file : str
        The file's name as given.
    rows_read : int
        Data rows in the file.
    rows_added : int
        Rows written (0 unless committed).
    rows_replaced : int
        Rows the table held before a committed replace (0 for an append).
    committed : bool
        Whether the rows were written.
    problems : tuple of ImportProblem
        The first :data:`MAX_PROBLEMS` problems, the whole-file and whole-column ones first,
        then by row.
    problem_count : int
        Every problem found, kept or not.
    notices : tuple of str
        Facts worth knowing that are not problems (columns the mapping left out, the date bounds).
    """

    table: str
    mode: ImportMode
    file: str
    rows_read: int
    rows_added: int
    rows_replaced: int
    committed: bool
    problems: tuple[ImportProblem, ...]
    problem_count: int
    notices: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return self.problem_count == 0

    @property
    def problems_frame(self) -> pl.DataFrame:
        """The kept problems as a table (file, row, column, value, message), for a page to show."""
        schema = {
            "file": pl.String,
            "row": pl.Int64,
            "column": pl.String,
            "value": pl.String,
            "message": pl.String,
        }
        rows = [(p.file, p.row, p.column, p.value, p.message) for p in self.problems]
        return pl.DataFrame(rows, schema=schema, orient="row")


@dataclass
class _Problems:
    """Problems as found: the first few of each check, and the count of all."""

    file: str
    kept: list[ImportProblem] = field(default_factory=list)
    total: int = 0

    def add(self, message: str, *, column: str | None = None, row: int | None = None, value=None) -> None:
        self.total += 1
        self.kept.append(ImportProblem(self.file, row, column, _show(value), message))

    def add_rows(self, mask: pl.Series, values: pl.Series, *, column: str | None, message) -> None:
        """One problem per True row of ``mask`` (counted all, the first MAX_PROBLEMS kept)."""
        rows = mask.fill_null(False).arg_true()
        self.total += rows.len()
        for row in rows.head(MAX_PROBLEMS).to_list():
            value = values[row]
            text = message(row) if callable(message) else message
            self.kept.append(ImportProblem(self.file, row + 1, column, _show(value), text))

    def sorted(self) -> tuple[ImportProblem, ...]:
        ordered = sorted(self.kept, key=lambda p: (p.row is not None, p.row or 0))
        return tuple(ordered[:MAX_PROBLEMS])


def _show(value) -> str | None:
    if value is None:
        return None
    text = value.isoformat(sep=" ") if isinstance(value, datetime) else str(value)
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 1] + "…"


def _spec(table: str) -> TableSpec:
    specs = {spec.name: spec for spec in CANONICAL_TABLES}
    if table not in specs:
        raise ValueError(MSG_UNKNOWN_TABLE.format(table=table, tables=", ".join(specs)))
    return specs[table]


# -- the mapping -------------------------------------------------------------------------
def read_mapping(source: str | Path | bytes, *, name: str | None = None) -> dict[str, str | None]:
    r"""Read a column mapping (source column -> contract column) from a JSON or CSV file.

    JSON: one object, ``{"cust_no": "customer_id", "internal_flag": null}``. CSV: a header
    ``source,target`` and one line per column, an empty target leaving the column out. A null
    or empty target drops the file's column; columns the mapping does not name keep their names.

    Parameters
    ----------
    source : str, pathlib.Path or bytes
        The mapping file, or its content.
    name : str, optional
        The file's name (needed for bytes: its suffix says the format).

    Returns
    -------
    dict of str to str or None
        Source column to contract column (None: leave it out).

    Raises
    ------
    MappingError
        If the file cannot be read, is not ``.json`` or ``.csv``, or is malformed; the message
        names it and the line or key at fault.

    Examples
    --------
    >>> read_mapping(b'{"cust_no": "customer_id", "note": null}', name="m.json")
    {'cust_no': 'customer_id', 'note': None}
    >>> read_mapping(b"source,target\ncust_no,customer_id\nnote,\n", name="m.csv")
    {'cust_no': 'customer_id', 'note': None}
    """
    label = name or str(source)
    suffix = Path(label).suffix.lower()
    if suffix not in (".json", ".csv"):
        raise MappingError(MSG_BAD_MAPPING.format(name=label, reason="use a .json or .csv file"))
    try:
        raw = source if isinstance(source, bytes) else Path(source).read_bytes()
        text = raw.decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise MappingError(MSG_BAD_MAPPING.format(name=label, reason=_first_line(exc))) from exc
    if suffix == ".json":
        return _mapping_from_json(text, label)
    return _mapping_from_csv(text, label)


def _mapping_from_json(text: str, label: str) -> dict[str, str | None]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MappingError(MSG_BAD_MAPPING.format(name=label, reason=str(exc))) from exc
    if not isinstance(data, dict):
        raise MappingError(MSG_BAD_MAPPING.format(name=label, reason="expected one JSON object"))
    bad = [k for k, v in data.items() if v is not None and not isinstance(v, str)]
    if bad:
        reason = f"the target of {bad[0]!r} must be a column name or null"
        raise MappingError(MSG_BAD_MAPPING.format(name=label, reason=reason))
    return {k: (v or None) for k, v in data.items()}


def _mapping_from_csv(text: str, label: str) -> dict[str, str | None]:
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if [h.strip().lower() for h in header or []] != ["source", "target"]:
        raise MappingError(MSG_BAD_MAPPING.format(name=label, reason="the header must be source,target"))
    out: dict[str, str | None] = {}
    for line, row in enumerate(reader, start=2):
        if not row:
            continue
        if len(row) != 2:
            reason = f"line {line} has {len(row)} fields, not 2"
            raise MappingError(MSG_BAD_MAPPING.format(name=label, reason=reason))
        if row[0] in out:
            reason = f"line {line} names {row[0]!r} a second time"
            raise MappingError(MSG_BAD_MAPPING.format(name=label, reason=reason))
        out[row[0]] = row[1] or None
    return out


def _apply_mapping(
    frame: pl.DataFrame, spec: TableSpec, mapping: Mapping[str, str | None], found: _Problems
) -> tuple[pl.DataFrame, list[str]]:
    """Rename and drop the file's columns as the mapping says; problems for a wrong mapping."""
    notices = []
    for source, target in mapping.items():
        if source not in frame.columns:
            found.add(MSG_MAPPING_ABSENT_SOURCE.format(source=source), column=source)
        elif target is not None and target not in spec.schema:
            found.add(
                MSG_MAPPING_UNKNOWN_TARGET.format(source=source, target=target, table=spec.name),
                column=source,
            )
    by_target: dict[str, list[str]] = {}
    for column in frame.columns:
        target = mapping.get(column, column)
        if target is not None:
            by_target.setdefault(target, []).append(column)
    for target, sources in by_target.items():
        if len(sources) > 1:
            found.add(MSG_MAPPING_TWICE.format(sources=", ".join(sources), target=target), column=target)
    dropped = [c for c in frame.columns if c in mapping and mapping[c] is None]
    if dropped:
        notices.append(f"left out as the mapping says: {', '.join(dropped)}")
    keep = [c for c in frame.columns if c not in dropped and len(by_target.get(mapping.get(c, c), [])) == 1]
    renames = {c: mapping[c] for c in keep if mapping.get(c) is not None and mapping[c] in spec.schema}
    return frame.select(keep).rename(renames), notices


# -- reading -----------------------------------------------------------------------------
def _read_source(source: Source, label: str, max_rows: int | None, found: _Problems) -> pl.DataFrame | None:
    """The file as a frame (a CSV all text), or None with the reason among the problems."""
    if isinstance(source, pl.DataFrame):
        if max_rows is not None and source.height > max_rows:
            found.add(MSG_TOO_MANY_ROWS.format(name=label, rows=f"{source.height:,}", limit=max_rows))
            return None
        return source
    # A path's own suffix says the format; bytes have only the name they came with.
    suffix = Path(label if isinstance(source, bytes) else source).suffix.lower()
    if suffix not in (".csv", ".parquet"):
        found.add(MSG_BAD_SUFFIX.format(name=label))
        return None
    if not isinstance(source, bytes) and not Path(source).is_file():
        found.add(MSG_UNREADABLE.format(name=label, reason="no such file."))
        return None
    try:
        if suffix == ".parquet":
            return read_upload(
                source, name=f"{label}{'' if label.endswith(suffix) else suffix}", max_rows=max_rows
            )
        return _read_csv(source, label, max_rows, found)
    except (TooManyRowsError, ValueError, OSError) as exc:
        found.add(str(exc))
        return None


def _read_csv(source: str | Path | bytes, label: str, max_rows: int | None, found: _Problems):
    head = source[:SNIFF_BYTES] if isinstance(source, bytes) else _head(Path(source))
    if not head:
        found.add(MSG_EMPTY_FILE)
        return None
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            found.add(MSG_UTF16.format(encoding=encoding))
            return None
    if b"\x00" in head:
        found.add(MSG_NUL_BYTES)
        return None
    try:
        # The last bytes of the sniffed head may be a character cut in two.
        head.decode("utf-8") if len(head) < SNIFF_BYTES else head[:-4].decode("utf-8")
    except UnicodeDecodeError as exc:
        line = head[: exc.start].count(b"\n") + 1
        found.add(MSG_NOT_UTF8.format(byte=head[exc.start], line=line))
        return None
    line = _unclosed_quote_line(source)
    if line is not None:
        found.add(MSG_OPEN_QUOTE.format(line=line))
        return None
    # Every column as text: the contract's types are applied cell by cell in _convert, so a value
    # is reported as written; a cap reads one row past it, which proves "too many".
    n_rows = None if max_rows is None else max_rows + 1
    try:
        frame = pl.read_csv(source, infer_schema=False, n_rows=n_rows)
    except pl.exceptions.NoDataError:
        found.add(MSG_EMPTY_FILE)
        return None
    except pl.exceptions.PolarsError as exc:
        reason = _first_line(exc)
        if "utf-8" in reason.lower():
            found.add(MSG_NOT_UTF8_LATER)
        elif "more fields" in reason:
            found.add(MSG_LONG_LINE.format(line=_first_long_line(source)))
        else:
            found.add(MSG_BAD_CSV.format(reason=reason))
        return None
    if max_rows is not None and frame.height > max_rows:
        found.add(MSG_TOO_MANY_ROWS.format(name=label, rows=f"more than {max_rows:,}", limit=max_rows))
        return None
    return frame


def _unclosed_quote_line(source: str | Path | bytes) -> int | None:
    """The line of the last double quote when a file has an odd number of them, else None.

    Polars reads an unclosed quote as a field running to the end of the file (or fails with a
    vague message); counting quotes in 1 MiB chunks finds it without holding the file.
    """
    chunks = [source] if isinstance(source, bytes) else _chunks(Path(source))
    quotes = lines = 0
    last_line = None
    for chunk in chunks:
        count = chunk.count(b'"')
        if count:
            last_line = lines + chunk[: chunk.rindex(b'"')].count(b"\n") + 1
        quotes += count
        lines += chunk.count(b"\n")
    return last_line if quotes % 2 else None


def _chunks(path: Path):
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            yield chunk


def _first_long_line(source: str | Path | bytes) -> int | str:
    """The line of the first record with more fields than the header (only read on that failure)."""
    handle = io.BytesIO(source) if isinstance(source, bytes) else Path(source).open("rb")
    with handle, io.TextIOWrapper(handle, encoding="utf-8-sig", newline="") as text:
        reader = csv.reader(text)
        width = len(next(reader, []))
        for record in reader:
            if len(record) > width:
                return reader.line_num
    return "?"


def _head(path: Path) -> bytes:
    with path.open("rb") as handle:
        return handle.read(SNIFF_BYTES)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# -- checks of the file alone ---------------------------------------------------------------
def _check_columns(frame: pl.DataFrame, spec: TableSpec, found: _Problems) -> None:
    for column in frame.columns:
        duplicated = _DUPLICATED.match(column)
        if duplicated and duplicated["name"] in frame.columns:
            found.add(MSG_DUPLICATE_COLUMN.format(column=duplicated["name"]), column=duplicated["name"])
        elif column not in spec.schema:
            found.add(MSG_EXTRA_COLUMN.format(column=column, table=spec.name), column=column)
    for column in spec.schema.names():
        if column not in frame.columns:
            found.add(MSG_MISSING_COLUMN.format(column=column, table=spec.name), column=column)


def _kind(dtype: pl.DataType) -> str:
    for polars_type, word in _TYPE_WORDS.items():
        if isinstance(dtype, polars_type) or dtype == polars_type:
            return word
    return str(dtype)


def _convert(column: pl.Series, dtype: pl.DataType) -> tuple[pl.Series, pl.Series]:
    """The column in the contract's type, and the rows whose value could not be converted."""
    if column.dtype == dtype:
        return column, pl.Series([False] * column.len())
    if column.dtype == pl.String:
        converted = _parse_text(column, dtype)
        lossy = pl.Series([False] * column.len())
    else:
        source = column
        if isinstance(column.dtype, pl.Datetime) and column.dtype.time_zone is not None:
            source = column.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
        converted = source.cast(dtype, strict=False)
        lossy = pl.Series([False] * column.len())
        if column.dtype.is_numeric() and dtype.is_numeric():
            # A cast that changes the value (1.5 to a whole number) is as wrong as a failed one.
            lossy = (converted.cast(column.dtype, strict=False) != column).fill_null(False)
    bad = (converted.is_null() & column.is_not_null()) | lossy
    return converted.rename(column.name), bad


def _parse_text(column: pl.Series, dtype: pl.DataType) -> pl.Series:
    if dtype == pl.String:
        return column
    text = column.str.strip_chars()
    if dtype == pl.Boolean:
        low = text.str.to_lowercase()
        return pl.select(
            pl.when(low.is_in(TRUE_WORDS)).then(True).when(low.is_in(FALSE_WORDS)).then(False)
        ).to_series()
    if dtype == pl.Date:
        return text.str.to_date("%Y-%m-%d", strict=False)
    if isinstance(dtype, pl.Datetime):
        return _parse_timestamps(text, dtype)
    return text.cast(dtype, strict=False)


def _parse_timestamps(text: pl.Series, dtype: pl.Datetime) -> pl.Series:
    frame = pl.DataFrame({"t": text.str.replace(r"Z$", "+00:00")})
    naive = [
        pl.col("t").str.to_datetime(f, time_unit=dtype.time_unit, strict=False) for f in TIMESTAMP_FORMATS
    ]
    aware = [
        pl.col("t")
        .str.to_datetime(f, time_unit=dtype.time_unit, time_zone="UTC", strict=False)
        .dt.replace_time_zone(None)
        for f in OFFSET_FORMATS
    ]
    return frame.select(pl.coalesce(*naive, *aware)).to_series()


def _check_cells(
    frame: pl.DataFrame, spec: TableSpec, found: _Problems, *, as_of: date
) -> tuple[pl.DataFrame, pl.Series]:
    """Convert every contract column and check its cells; return the typed frame and bad rows."""
    typed: list[pl.Series] = []
    any_bad = pl.Series([False] * frame.height)
    for name, dtype in spec.schema.items():
        if name not in frame.columns:
            continue
        column = frame.get_column(name)
        try:
            converted, bad = _convert(column, dtype)
        except pl.exceptions.PolarsError:
            found.add(MSG_BAD_CAST.format(source=column.dtype, kind=_kind(dtype)), column=name)
            any_bad = pl.Series([True] * frame.height)
            continue
        found.add_rows(bad, column, column=name, message=MSG_BAD_TYPE.format(kind=_kind(dtype)))
        if name in spec.not_null:
            found.add_rows(column.is_null(), column, column=name, message=MSG_MISSING_VALUE)
            any_bad |= column.is_null()
        if dtype.is_float():
            not_finite = converted.is_nan() | converted.is_infinite()
            found.add_rows(not_finite, column, column=name, message=MSG_NOT_FINITE)
            any_bad |= not_finite.fill_null(False)
        if dtype.is_temporal():
            any_bad |= _check_dates(converted, column, spec, found, as_of=as_of)
        any_bad |= bad
        typed.append(converted)
    return pl.DataFrame(typed), any_bad


def _check_dates(
    converted: pl.Series, column: pl.Series, spec: TableSpec, found: _Problems, *, as_of: date
) -> pl.Series:
    name = converted.name
    days = converted.cast(pl.Date) if converted.dtype != pl.Date else converted
    early = (days < MIN_DATE).fill_null(False)
    found.add_rows(early, column, column=name, message=MSG_TOO_EARLY.format(floor=MIN_DATE.isoformat()))
    if (spec.name, name) in PLANNED_DATE_COLUMNS:
        return early
    late = (days > as_of).fill_null(False)
    found.add_rows(late, column, column=name, message=MSG_TOO_LATE.format(as_of=as_of.isoformat()))
    return early | late


def _check_rules(typed: pl.DataFrame, spec: TableSpec, found: _Problems) -> None:
    for rule in spec.rules:
        # A rule over a missing column cannot be judged; the missing column is the problem.
        if not set(rule.check.meta.root_names()) <= set(typed.columns):
            continue
        broken = typed.select(rule.check.fill_null(True).not_()).to_series()
        found.add_rows(broken, typed.get_column(rule.column), column=rule.column, message=rule.message)


def _key_text(frame: pl.DataFrame, key: tuple[str, ...], row: int) -> str:
    return ", ".join(f"{c}={frame[row, c]!r}" for c in key)


def _check_duplicate_keys(typed: pl.DataFrame, spec: TableSpec, found: _Problems) -> None:
    key = spec.primary_key
    if not key or not set(key) <= set(typed.columns) or not typed.height:
        return
    # The second and later occurrences are the problems; the first holds the key.
    indexed = typed.select(*key).with_row_index("_row")
    first = indexed.group_by(*key).agg(pl.col("_row").min().alias("_first"))
    joined = indexed.join(first, on=list(key), how="left", nulls_equal=True).sort("_row")
    # A key left null by a bad cell is reported there, not as a duplicate.
    complete = typed.select(pl.all_horizontal(pl.col(*key).is_not_null())).to_series()
    dup = (joined.get_column("_row") != joined.get_column("_first")) & complete
    firsts = joined.get_column("_first")

    def message(row: int) -> str:
        return MSG_DUPLICATE_KEY.format(key=_key_text(typed, key, row), first=firsts[row] + 1)

    found.add_rows(dup, typed.get_column(key[0]), column=key[0], message=message)


# -- checks against the database ------------------------------------------------------------
def _distinct(db: Database, table: str, columns: tuple[str, ...]) -> pl.DataFrame:
    names = ", ".join(f'"{c}"' for c in columns)
    # Table and column names come from the contracts, never from the file.
    return db.query(f'SELECT DISTINCT {names} FROM "{table}"')  # noqa: S608 - names from the contracts


def _check_database(
    db: Database, typed: pl.DataFrame, spec: TableSpec, mode: str, found: _Problems, *, judge_removals: bool
) -> None:
    """Keys already in the table (append), orphans, and parent keys a replace would remove."""
    key = spec.primary_key
    if mode == "append" and key and set(key) <= set(typed.columns) and typed.height:
        existing = _distinct(db, spec.name, key).with_columns(pl.lit(True).alias("_exists"))
        joined = typed.select(*key).join(existing, on=list(key), how="left", maintain_order="left")
        clash = joined.get_column("_exists").fill_null(False)

        def message(row: int) -> str:
            return MSG_EXISTING_KEY.format(key=_key_text(typed, key, row), table=spec.name)

        found.add_rows(clash, typed.get_column(key[0]), column=key[0], message=message)
    for child, column, parent in REFERENCES:
        if child == spec.name and column in typed.columns:
            known = _distinct(db, parent, (column,)).get_column(column).implode()
            values = typed.get_column(column)
            orphan = values.is_not_null() & ~values.is_in(known)
            found.add_rows(
                orphan, values, column=column, message=MSG_ORPHAN.format(column=column, parent=parent)
            )
    if mode == "replace" and judge_removals:
        for child, column, parent in REFERENCES:
            if parent != spec.name or column not in typed.columns:
                continue
            # Names from the contracts; the counts say how much of the child would be orphaned.
            used = db.query(
                f'SELECT "{column}" AS v, count(*) AS n FROM "{child}" '  # noqa: S608 - names from the contracts
                f'WHERE "{column}" IS NOT NULL GROUP BY ALL ORDER BY v'
            )
            kept = typed.get_column(column).drop_nulls().implode()
            removed = used.filter(~pl.col("v").is_in(kept))
            found.total += removed.height
            for value, count in removed.head(MAX_PROBLEMS).iter_rows():
                found.kept.append(
                    ImportProblem(
                        found.file,
                        None,
                        column,
                        _show(value),
                        MSG_STILL_REFERENCED.format(table=spec.name, count=count, child=child),
                    )
                )


# -- the public functions ---------------------------------------------------------------------
@dataclass(frozen=True)
class _Checked:
    report: ImportReport
    rows: pl.DataFrame | None


def _snapshot_bound(db: Database) -> date:
    """The latest date the data may hold: ``dataset_meta.as_of``, else today (UTC)."""
    as_of = db.meta().get("as_of")
    return datetime.fromisoformat(as_of).date() if as_of else datetime.now(UTC).date()


def _check(
    db: Database,
    table: str,
    source: Source,
    *,
    mode: str,
    mapping: Mapping[str, str | None] | None,
    source_name: str | None,
    max_rows: int | None,
) -> _Checked:
    spec = _spec(table)
    if mode not in IMPORT_MODES:
        raise ValueError(MSG_BAD_MODE.format(mode=mode))
    label = source_name or (str(source) if isinstance(source, str | Path) else f"{table} (upload)")
    found = _Problems(label)
    as_of = _snapshot_bound(db)
    notices = [f"dates must lie between {MIN_DATE.isoformat()} and the snapshot date {as_of.isoformat()}"]

    def report(rows_read: int) -> ImportReport:
        return ImportReport(
            table=table,
            mode=mode,  # type: ignore[arg-type]  (checked against IMPORT_MODES above)
            file=label,
            rows_read=rows_read,
            rows_added=0,
            rows_replaced=0,
            committed=False,
            problems=found.sorted(),
            problem_count=found.total,
            notices=tuple(notices),
        )

    frame = _read_source(source, label, max_rows, found)
    if frame is None:
        return _Checked(report(0), None)
    if mapping:
        frame, dropped = _apply_mapping(frame, spec, mapping, found)
        notices.extend(dropped)
    _check_columns(frame, spec, found)
    if frame.height == 0:
        found.add(MSG_NO_ROWS)
        return _Checked(report(0), None)
    typed, bad = _check_cells(frame, spec, found, as_of=as_of)
    if not typed.width:
        return _Checked(report(frame.height), None)
    _check_rules(typed, spec, found)
    _check_duplicate_keys(typed, spec, found)
    # A bad cell is null in ``typed``: which keys a replace removes is judged on clean files only.
    _check_database(db, typed, spec, mode, found, judge_removals=not bad.any())
    rows = typed.select(spec.schema.names()) if found.total == 0 else None
    return _Checked(report(frame.height), rows)


def validate_import(
    db: Database,
    table: str,
    source: Source,
    *,
    mode: ImportMode = "append",
    mapping: Mapping[str, str | None] | None = None,
    source_name: str | None = None,
    max_rows: int | None = DEFAULT_MAX_ROWS,
) -> ImportReport:
    """Check a file for an import without writing anything: the report a page shows first.

    Parameters
    ----------
    db : Database
        The database the rows would go to (read for existing keys, parents, the snapshot date).
    table : str
        A canonical table (:data:`~analytics.store.contracts.CANONICAL_TABLES`).
    source : str, pathlib.Path, bytes or polars.DataFrame
        A ``.csv`` or ``.parquet`` file, its bytes (an upload; ``source_name`` gives the suffix),
        or a frame already read.
    mode : {"append", "replace"}
        ``append`` adds rows whose keys are new; ``replace`` makes the file the table's content.
    mapping : mapping of str to str or None, optional
        The file's column -> the contract's column; None leaves a column out (:func:`read_mapping`).
    source_name : str, optional
        The file's name in the report (and, for bytes, its format).
    max_rows : int or None
        Refuse a file of more rows before reading it whole; None for no cap.

    Returns
    -------
    ImportReport
        ``committed`` False; ``problems`` empty when the import would be accepted.

    Raises
    ------
    ValueError
        For a table that is not canonical or an unknown mode (a caller's mistake, not the file's).
    """
    return _check(
        db, table, source, mode=mode, mapping=mapping, source_name=source_name, max_rows=max_rows
    ).report


def import_table(
    db: Database,
    table: str,
    source: Source,
    *,
    mode: ImportMode = "append",
    mapping: Mapping[str, str | None] | None = None,
    source_name: str | None = None,
    max_rows: int | None = DEFAULT_MAX_ROWS,
) -> ImportReport:
    """Import a file into a canonical table, all or nothing, the rollups rebuilt in the same transaction.

    The file is checked as :func:`validate_import` does; the checks against the database run
    again inside the write transaction, so a concurrent write cannot slip past them. Any problem
    refuses the whole file and leaves the database as it was. The caller writes the audit entry
    (it knows who asked).

    An import of ``customers`` (append or replace) keeps the consent history in the same
    transaction: for each customer and purpose whose flag differs from their latest
    ``consent_events`` row (or who has none, a new customer), it appends an event with source
    ``import``, dated ``consent_updated_at``, or the snapshot date (today's without one) when
    that is missing or older than the latest event.

    Parameters
    ----------
    db : Database
        A writable database.
    table : str
        A canonical table.
    source : str, pathlib.Path, bytes or polars.DataFrame
        The file, its bytes (with ``source_name``) or a frame.
    mode : {"append", "replace"}
        ``append`` adds rows whose keys are new; ``replace`` makes the file the table's content
        (refused while another table references a key it would remove).
    mapping : mapping of str to str or None, optional
        The file's column -> the contract's column; None leaves a column out.
    source_name : str, optional
        The file's name in the report (and, for bytes, its format).
    max_rows : int or None
        Refuse a file of more rows before reading it whole; None for no cap.

    Returns
    -------
    ImportReport
        ``committed`` True, with ``rows_added`` (and ``rows_replaced`` for a replace).

    Raises
    ------
    ImportRefusedError
        If anything is wrong; its ``report`` lists the problems and nothing was written.
    ValueError
        For a table that is not canonical or an unknown mode.
    """
    checked = _check(
        db, table, source, mode=mode, mapping=mapping, source_name=source_name, max_rows=max_rows
    )
    if checked.rows is None:
        raise ImportRefusedError(checked.report)
    rows = checked.rows
    spec = _spec(table)
    with db.transaction(rebuild_rollups=True) as con:
        found = _Problems(checked.report.file)
        _check_database(db, rows, spec, mode, found, judge_removals=True)
        if found.total:
            raise ImportRefusedError(
                replace(checked.report, problems=found.sorted(), problem_count=found.total)
            )
        replaced = 0
        # Read before the customers change: the history's latest choices against the file's flags.
        consent = _consent_changes(db, rows, day=_snapshot_bound(db)) if table == CUSTOMERS.name else None
        if mode == "replace":
            replaced = int(db.query(f'SELECT count(*) FROM "{table}"').item())  # noqa: S608 - contract name
            con.execute(f'DELETE FROM "{table}"')  # noqa: S608 - contract name
        _insert(con, table, rows)
        notices = checked.report.notices
        if consent is not None and consent.height:
            _insert(con, CONSENT_EVENTS.name, consent)
            notices = (*notices, MSG_CONSENT_EVENTS_ADDED.format(count=consent.height))
    return replace(
        checked.report, rows_added=rows.height, rows_replaced=replaced, committed=True, notices=notices
    )


def _insert(con, table: str, rows: pl.DataFrame) -> None:
    columns = ", ".join(f'"{c}"' for c in rows.columns)
    con.register("incoming_import", rows.to_arrow())
    try:
        con.execute(f'INSERT INTO "{table}" ({columns}) SELECT {columns} FROM incoming_import')  # noqa: S608 - contract names
    finally:
        con.unregister("incoming_import")


def _consent_changes(db: Database, customers: pl.DataFrame, *, day: date) -> pl.DataFrame:
    """The consent events a customers import adds: one per customer and purpose whose flag changes.

    A flag changes when it differs from the customer's latest event for the purpose, or when
    the customer has none (a new customer). The event is dated ``consent_updated_at``, or
    ``day`` (the import's) when that is missing or before the latest event, so the newest
    event is always the flag the import stores.
    """
    events = CONSENT_EVENTS.name
    # Names from the contracts; the latest event per customer and purpose, later event_id on a tie.
    newest_first = "PARTITION BY customer_id, purpose ORDER BY changed_at DESC, event_id DESC"
    latest = db.query(
        f'SELECT customer_id, purpose, granted AS was, changed_at AS last_at FROM "{events}" '  # noqa: S608 - contract name
        f"QUALIFY row_number() OVER ({newest_first}) = 1"
    )
    next_id = int(db.query(f'SELECT coalesce(max(event_id), 0) + 1 FROM "{events}"').item())  # noqa: S608 - contract name
    stated = pl.concat(
        customers.select(
            "customer_id",
            pl.lit(purpose).alias("purpose"),
            pl.col(f"consent_{purpose}").alias("granted"),
            pl.col("consent_updated_at").alias("stated_at"),
        )
        for purpose in CONSENT_PURPOSES
    )
    joined = stated.join(latest, on=["customer_id", "purpose"], how="left", maintain_order="left")
    day_lit = pl.lit(day, dtype=pl.Date)
    in_order = pl.col("stated_at").is_not_null() & (
        pl.col("last_at").is_null() | (pl.col("stated_at") >= pl.col("last_at"))
    )
    changes = (
        joined.filter(pl.col("was").is_null() | (pl.col("was") != pl.col("granted")))
        .with_columns(
            pl.when(in_order).then(pl.col("stated_at")).otherwise(day_lit).alias("changed_at"),
            pl.lit(IMPORT_CONSENT_SOURCE).alias("source"),
        )
        .sort("customer_id", "purpose", maintain_order=True)
        .with_row_index("event_id", offset=next_id)
        .with_columns(pl.col("event_id").cast(pl.Int64))
    )
    return changes.select(CONSENT_EVENTS.schema.names()).cast(dict(CONSENT_EVENTS.schema))


def format_report(report: ImportReport) -> str:
    """The report as text: one summary line, then one line per kept problem.

    Parameters
    ----------
    report : ImportReport
        A report of :func:`validate_import` or :func:`import_table`.

    Returns
    -------
    str
        Lines for a terminal or a log.
    """
    if report.committed:
        head = f"imported {report.file} into {report.table} ({report.mode}): {report.rows_added:,} rows added"
        if report.mode == "replace":
            head += f", {report.rows_replaced:,} rows replaced"
        lines = [head]
    elif report.ok:
        lines = [
            f"{report.file}: {report.rows_read:,} rows would be imported into {report.table} ({report.mode})"
        ]
    else:
        shown = len(report.problems)
        more = f" (the first {shown} shown)" if shown < report.problem_count else ""
        lines = [
            MSG_REFUSED.format(file=report.file, table=report.table, count=report.problem_count) + more,
            *(f"  {problem}" for problem in report.problems),
        ]
    lines.extend(f"note: {notice}" for notice in report.notices)
    return "\n".join(lines)


__all__ = [
    "DEFAULT_MAX_ROWS",
    "IMPORT_MODES",
    "MAX_PROBLEMS",
    "MIN_DATE",
    "PLANNED_DATE_COLUMNS",
    "ImportMode",
    "ImportProblem",
    "ImportRefusedError",
    "ImportReport",
    "MappingError",
    "format_report",
    "import_table",
    "read_mapping",
    "validate_import",
]
