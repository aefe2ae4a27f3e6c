"""The one module that owns DuckDB: connection, schema, loads, app-state writes.

Nothing else in the code base imports ``duckdb``. A process opens one
:class:`Database` per file; every thread (each Streamlit session runs in its
own) gets its own cursor, and analytical reads go through an Ibis backend over
that cursor (:meth:`Database.backend`), so the same expressions can later run
on another engine. Writes of application state (users, audit log) and bulk
loads go through :meth:`Database.execute` and :meth:`Database.load_dataset`
with bound parameters only.

Every connection runs hardened: external access off (no file, network or
extension reads from SQL: ``read_csv``, ``COPY``, ``ATTACH`` and ``INSTALL`` are
refused), replacement scans off and the configuration locked, so a statement
cannot turn either back on. Nothing in the app reads files through DuckDB:
uploads and imports are parsed by polars and handed over as Arrow; a loader
that ever needs DuckDB to read files must open its own connection. Database
and key files are private to the owner (mode 0600). The app's secrets live
outside the database (:mod:`analytics.store.keys`), and every audit row is
sealed into an HMAC chain (:mod:`analytics.store.audit_chain`).

DuckDB allows one writing process per file. The app holds the write lock while
it runs; batch commands that write (``users``, ``sample-data``) therefore run
while the app is stopped, and say so when they find the file locked (see
docs/architecture.md).
"""

from __future__ import annotations

import json
import logging
import os
import stat
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import ibis
import polars as pl
from ibis.backends.duckdb import Backend as IbisDuckDBBackend

from analytics.store import audit_chain
from analytics.store.contracts import (
    ALL_TABLES,
    APP_META_KEYS,
    APP_TABLES,
    AUDIT_LOG,
    CANONICAL_TABLES,
    CONSENT_EVENTS,
    CONSENT_PURPOSES,
    CUSTOMERS,
    DATASET_META,
    DERIVED_TABLES,
    MODEL_TABLES,
    OPTIONAL_CANONICAL,
    REFERENCES,
    TableSpec,
)
from analytics.store.derived import registered_builders
from analytics.store.keys import KeyRing, SecretKeyError, load_keys

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DB_PATH = REPO_ROOT / "sample_data" / "bank.duckdb"
DB_PATH_ENV = "TAILOR_DB"
THREADS_ENV = "TAILOR_DUCKDB_THREADS"
REBUILD_COMMAND = "make data"

MSG_DB_MISSING = (
    "No database found at {path}. Build the sample bank with `{command}` "
    "(or `python -m analytics sample-data --db {path}`), or point TAILOR_DB at your database."
)
MSG_DB_CORRUPT = (
    "The file {path} is not a readable Tailor database ({reason}). Move it away and rebuild "
    "it with `{command}` (or `python -m analytics sample-data --db {path}`)."
)
MSG_DB_INCOMPLETE = (
    "The database at {path} lacks the table(s) {tables}. Move it away and rebuild it with "
    "`{command}` (or `python -m analytics sample-data --db {path}`)."
)
MSG_DB_LOCKED = (
    "The database at {path} is in use by another process (most likely the running app). "
    "Stop it and run the command again."
)

_DUCKDB_TYPES: dict[type[pl.DataType], str] = {
    pl.Int64: "BIGINT",
    pl.Int32: "INTEGER",
    pl.Float64: "DOUBLE",
    pl.String: "VARCHAR",
    pl.Boolean: "BOOLEAN",
    pl.Date: "DATE",
    pl.Datetime: "TIMESTAMP",
}


_LOG = logging.getLogger("tailor.store")
_LEGACY_PSEUDONYM_KEY = "pseudonym_key"
"""Where databases made before analytics.store.keys kept the pseudonym key (dataset_meta)."""
PRIVATE_MODE = 0o600
# The settings every connection runs with; lock_configuration makes them final for the process.
HARDENED_CONFIG: dict[str, Any] = {
    "enable_external_access": False,
    "python_enable_replacements": False,
    "lock_configuration": True,
}
MSG_AUDIT_DIRECT_WRITE = "The audit log is written only through Database.write_audit (its rows are chained)."
MSG_COMPACT_NEEDS_FILE = "Only a database file opened read-write can be compacted (not {path})."
MSG_COMPACT_FAILED = "Compacting {path} failed ({reason}); the database is unchanged."


@dataclass(frozen=True)
class Compaction:
    """What :meth:`Database.compact` did: the file's size before and after, and the time taken."""

    bytes_before: int
    bytes_after: int
    seconds: float


class DatabaseError(Exception):
    """A database could not be opened or used; the message says how to fix it."""


class DataValidationError(ValueError):
    """Incoming data broke a table contract; the message names table, row and column."""


def resolve_db_path(cli_value: str | os.PathLike[str] | None = None) -> Path:
    """Return the database path from a CLI flag, else ``TAILOR_DB``, else the default.

    Parameters
    ----------
    cli_value : str or path-like, optional
        Value of a ``--db`` flag; wins over the environment.

    Returns
    -------
    pathlib.Path
        Absolute path of the DuckDB file.
    """
    value = cli_value or os.environ.get(DB_PATH_ENV) or DEFAULT_DB_PATH
    return Path(value).expanduser().resolve()


def duckdb_type(dtype: pl.DataType) -> str:
    """Map a Polars column type from a table contract to its DuckDB type."""
    for polars_type, sql_type in _DUCKDB_TYPES.items():
        if isinstance(dtype, polars_type) or dtype == polars_type:
            return sql_type
    raise TypeError(f"no DuckDB type for {dtype}")


def create_table_sql(spec: TableSpec) -> str:
    """DDL for one table contract (``CREATE TABLE IF NOT EXISTS``)."""
    columns = []
    for name, dtype in spec.schema.items():
        column = f'"{name}" {duckdb_type(dtype)}'
        if name in spec.not_null:
            column += " NOT NULL"
        if spec is AUDIT_LOG and name == "event_id":
            column += " DEFAULT nextval('audit_log_seq')"
        columns.append(column)
    # Keys are declared only on small tables: an index on ten million transactions
    # costs more at load time than it protects (uniqueness is checked on load instead).
    if spec.primary_key and spec.name in _INDEXED_TABLES:
        columns.append("PRIMARY KEY (" + ", ".join(f'"{c}"' for c in spec.primary_key) + ")")
    return f'CREATE TABLE IF NOT EXISTS "{spec.name}" (\n  ' + ",\n  ".join(columns) + "\n)"


_INDEXED_TABLES = frozenset({"products", "campaigns", "experiments", "users", "dataset_meta"})


BACKFILL_SOURCE = "backfill"
"""``consent_events.source`` of the events made from the customers table's flags."""


def consent_events_from_customers(
    customers: pl.DataFrame,
    *,
    source: str = BACKFILL_SOURCE,
    default_day: date | None = None,
    first_event_id: int = 1,
) -> pl.DataFrame:
    """One consent event per customer and purpose: the customers table's current flags.

    What a load without a consent history and an upgrade of an older database store, so the
    history's latest event always equals the flags.

    Parameters
    ----------
    customers : polars.DataFrame
        At least ``customer_id``, ``consent_marketing``, ``consent_profiling``,
        ``consent_updated_at`` and ``joined_at``.
    source : str
        The events' ``source``.
    default_day : datetime.date, optional
        ``changed_at`` when ``consent_updated_at`` is missing; ``joined_at`` when omitted.
    first_event_id : int
        ``event_id`` of the first event; the others follow in customer, then purpose order.

    Returns
    -------
    polars.DataFrame
        Rows of the ``consent_events`` contract (a missing flag is a refusal).
    """
    fallback = pl.col("joined_at") if default_day is None else pl.lit(default_day, dtype=pl.Date)
    parts = [
        customers.select(
            "customer_id",
            pl.lit(purpose).alias("purpose"),
            pl.col(f"consent_{purpose}").fill_null(False).alias("granted"),
            pl.coalesce(pl.col("consent_updated_at"), fallback).alias("changed_at"),
        )
        for purpose in CONSENT_PURPOSES
    ]
    events = pl.concat(parts).sort("customer_id", "purpose", maintain_order=True)
    return (
        events.with_row_index("event_id", offset=first_event_id)
        .with_columns(pl.col("event_id").cast(pl.Int64), pl.lit(source).alias("source"))
        .select(CONSENT_EVENTS.schema.names())
        .cast(dict(CONSENT_EVENTS.schema))
    )


def validate_frame(spec: TableSpec, frame: pl.DataFrame, *, source: str | None = None) -> pl.DataFrame:
    """Check a frame against a table contract and return it cast to the contract.

    Parameters
    ----------
    spec : TableSpec
        The contract.
    frame : polars.DataFrame
        Incoming rows.
    source : str, optional
        What to call the data in messages (a file name); defaults to the table name.

    Returns
    -------
    polars.DataFrame
        The rows with exactly the contract's columns, in its order and types.

    Raises
    ------
    DataValidationError
        Naming the source, the 1-based row and the column of the first problem.
    """
    where = source or spec.name
    missing = [c for c in spec.schema.names() if c not in frame.columns]
    if missing:
        raise DataValidationError(f"{where}: missing column(s) {', '.join(missing)}")
    extra = [c for c in frame.columns if c not in spec.schema]
    if extra:
        raise DataValidationError(f"{where}: unexpected column(s) {', '.join(extra)}")
    casts = []
    for name, dtype in spec.schema.items():
        column = frame.get_column(name)
        if column.dtype == dtype:
            casts.append(column)
            continue
        converted = _converted(column, dtype)
        bad = converted.is_null() & column.is_not_null()
        if bad.any():
            row = int(bad.arg_true()[0])
            raise DataValidationError(
                f"{where}, row {row + 1}, column {name}: value {column[row]!r} is not a valid {dtype}"
            )
        casts.append(converted)
    out = pl.DataFrame(casts)
    for name in spec.not_null:
        nulls = out.get_column(name).is_null()
        if nulls.any():
            row = int(nulls.arg_true()[0])
            raise DataValidationError(f"{where}, row {row + 1}, column {name}: value is missing")
    for name, dtype in spec.schema.items():
        if dtype.is_float():
            bad = out.get_column(name).is_nan() | out.get_column(name).is_infinite()
            if bad.any():
                row = int(bad.arg_true()[0])
                raise DataValidationError(
                    f"{where}, row {row + 1}, column {name}: value is not a finite number"
                )
    for rule in spec.rules:
        # A rule that evaluates to null (a missing value) passes: nulls are checked above.
        broken = out.select(rule.check.fill_null(True).not_()).to_series()
        if broken.any():
            row = int(broken.arg_true()[0])
            value = out[row, rule.column]
            raise DataValidationError(
                f"{where}, row {row + 1}, column {rule.column}: value {value!r} {rule.message}"
            )
    if spec.primary_key and out.height:
        # Report the second occurrence: the first one is the row the key belongs to.
        dup = ~out.select(pl.struct(*spec.primary_key).is_first_distinct()).to_series()
        if dup.any():
            row = int(dup.arg_true()[0])
            key = ", ".join(f"{c}={out[row, c]!r}" for c in spec.primary_key)
            raise DataValidationError(f"{where}, row {row + 1}: duplicate key ({key})")
    return out


class Database:
    """One DuckDB database file (or ``:memory:``) owned by this process.

    Parameters
    ----------
    path : str or path-like
        The file, or ``":memory:"`` for a private in-memory database (tests).
    read_only : bool
        Open without the write lock (other read-only processes may share the file).
    threads : int, optional
        DuckDB worker threads; defaults to ``TAILOR_DUCKDB_THREADS`` or 2.
    memory_limit_mb : int, optional
        DuckDB's memory limit (it spills to disk beyond it); DuckDB's default when omitted.

    Examples
    --------
    >>> db = Database(":memory:")
    >>> db.ensure_schema()
    >>> db.query("select count(*) as n from customers").item()
    0
    """

    def __init__(
        self,
        path: str | os.PathLike[str] = ":memory:",
        *,
        read_only: bool = False,
        threads: int | None = None,
        memory_limit_mb: int | None = None,
    ) -> None:
        self.path = str(path)
        self.read_only = read_only
        n_threads = threads or int(os.environ.get(THREADS_ENV, "2"))
        # Timestamps are naive UTC TIMESTAMPs, so no time-zone setting (and no icu extension) is needed.
        config: dict[str, Any] = {"threads": n_threads, **HARDENED_CONFIG}
        if memory_limit_mb is not None:
            # Fixed at connect: the locked configuration refuses a later SET.
            config["memory_limit"] = f"{int(memory_limit_mb)}MB"
        try:
            self._con = duckdb.connect(self.path, read_only=read_only, config=config)
        except duckdb.IOException as exc:
            if "lock" in str(exc).lower():
                raise DatabaseError(MSG_DB_LOCKED.format(path=self.path)) from exc
            raise DatabaseError(
                MSG_DB_CORRUPT.format(path=self.path, reason=_first_line(exc), command=REBUILD_COMMAND)
            ) from exc
        except duckdb.Error as exc:
            raise DatabaseError(
                MSG_DB_CORRUPT.format(path=self.path, reason=_first_line(exc), command=REBUILD_COMMAND)
            ) from exc
        self._config = config
        self._local = threading.local()
        self._write_lock = threading.Lock()
        # compact() swaps the file under the connection: it closes every backend cursor and bumps
        # the generation, so each thread builds a new backend on its next read.
        self._generation = 0
        self._backend_cursors: list[duckdb.DuckDBPyConnection] = []
        self._cursors_lock = threading.Lock()
        self._keys: KeyRing | None = None
        self._keys_lock = threading.Lock()
        self.notices: list[str] = []
        if not read_only and self.path != ":memory:":
            _make_private(Path(self.path))

    # -- secrets ---------------------------------------------------------------------
    @property
    def keys(self) -> KeyRing:
        """The app's keys (:mod:`analytics.store.keys`), resolved once; moves a legacy stored key out."""
        with self._keys_lock:
            if self._keys is None:
                self._keys = self._resolve_keys()
            return self._keys

    def _resolve_keys(self) -> KeyRing:
        stored = self._legacy_pseudonym_key()
        try:
            ring, notices = load_keys(self.path, stored_pseudonym_key=stored)
        except SecretKeyError as exc:
            raise DatabaseError(str(exc)) from exc
        if stored is not None and not self.read_only:
            # The key now lives in the key file (or the environment): the database forgets it.
            self.execute(f'DELETE FROM "{DATASET_META.name}" WHERE key = ?', [_LEGACY_PSEUDONYM_KEY])  # noqa: S608 - name from the contracts, values bound
            notices.append("Removed the pseudonym key from the database; it now lives outside it.")
        elif stored is not None:
            notices.append(
                "This database still holds its pseudonym key: open it once read-write to move it out."
            )
        for notice in notices:
            _LOG.warning(notice)
        self.notices.extend(notices)
        return ring

    def _legacy_pseudonym_key(self) -> str | None:
        try:
            sql = f'SELECT value FROM "{DATASET_META.name}" WHERE key = ?'  # noqa: S608 - contract name, values bound
            rows = self.query(sql, [_LEGACY_PSEUDONYM_KEY])
        except duckdb.CatalogException:
            return None
        return rows.item() if rows.height else None

    # -- connections -----------------------------------------------------------------
    @contextmanager
    def cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """Yield a fresh cursor for this thread's statements, closed afterwards."""
        with self._cursors_lock:  # not while compact() swaps the file
            cur = self._con.cursor()
        try:
            yield cur
        finally:
            cur.close()

    def backend(self) -> ibis.BaseBackend:
        """Return this thread's Ibis backend (over its own DuckDB cursor)."""
        backend = getattr(self._local, "backend", None)
        if backend is None or getattr(self._local, "generation", None) != self._generation:
            with self._cursors_lock:  # waits while compact() swaps the file
                cursor = self._con.cursor()
                self._backend_cursors.append(cursor)
                generation = self._generation
            backend = _ibis_backend(cursor)
            self._local.backend = backend
            self._local.generation = generation
        return backend

    def table(self, name: str) -> ibis.Table:
        """Ibis table expression for a table of the contract."""
        if name not in ALL_TABLES:
            raise KeyError(f"unknown table {name!r}")
        return self.backend().table(name)

    def close(self) -> None:
        """Close the connection; the object is unusable afterwards."""
        self._con.close()

    def compact(self) -> Compaction:
        """Rewrite the database file with only its live data, so no deleted byte survives in it.

        DuckDB does not zero the blocks that deletes free, and a checkpoint reuses rather than
        clears them: an erased customer's bytes can stay in the file. This checkpoints (the
        write-ahead log is emptied into the file), closes the process's connection and every
        thread's cursor, copies the live data (tables, sequences at their current value, views)
        into a fresh file beside it, gives it mode 0600, renames it over the old one and reopens
        the connection. The key file and the audit chain are untouched. Each thread's Ibis
        backend is rebuilt on its next use; a read in flight in another thread while this runs
        fails and may be retried.

        The one documented exception to the hardening (docs/security.md): the copy runs on a
        private, short-lived in-memory connection that may attach files, opened here and closed
        before this returns; no SQL from outside the store reaches it.

        Returns
        -------
        Compaction
            File size before and after, and the seconds taken.

        Raises
        ------
        DatabaseError
            For ``:memory:`` or a read-only database, or when the copy fails (the old file is
            kept and reopened).
        """
        if self.read_only or self.path == ":memory:":
            raise DatabaseError(MSG_COMPACT_NEEDS_FILE.format(path=self.path))
        started = time.perf_counter()
        path = Path(self.path)
        wal = path.with_name(path.name + ".wal")
        fresh = path.with_name(f".{path.name}.compact-{uuid.uuid4().hex[:12]}")
        # New cursors and backends wait on _cursors_lock until the new connection is open.
        with self._write_lock, self._cursors_lock:
            self._con.execute("FORCE CHECKPOINT")
            before = path.stat().st_size
            self._release_connection()
            try:
                _copy_live_data(path, fresh, threads=int(self._config.get("threads", 2)))
                fresh.chmod(PRIVATE_MODE)
                with open(fresh, "rb") as handle:
                    os.fsync(handle.fileno())
                fresh.replace(path)
                wal.unlink(missing_ok=True)
                _fsync_directory(path.parent)
            except (duckdb.Error, OSError) as exc:
                for leftover in (fresh, fresh.with_name(fresh.name + ".wal")):
                    leftover.unlink(missing_ok=True)
                self._con = duckdb.connect(self.path, read_only=False, config=self._config)
                raise DatabaseError(
                    MSG_COMPACT_FAILED.format(path=self.path, reason=_first_line(exc))
                ) from exc
            self._con = duckdb.connect(self.path, read_only=False, config=self._config)
            _make_private(path)
        return Compaction(before, path.stat().st_size, time.perf_counter() - started)

    def _release_connection(self) -> None:
        # Every cursor keeps DuckDB's instance (and the file) open: all of them go, then the
        # connection. Called with _cursors_lock held.
        cursors, self._backend_cursors = self._backend_cursors, []
        self._generation += 1
        for cursor in cursors:
            try:
                cursor.close()
            except duckdb.Error:
                continue
        self._con.close()

    # -- raw statements (bound parameters only) ---------------------------------------
    def _connection(self) -> duckdb.DuckDBPyConnection:
        # This thread's cursor, shared with its Ibis backend, so that the statements of one
        # thread (a load and its rollups, say) run in one transaction and see each other.
        return self.backend().con

    def execute(self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None) -> None:
        """Run one write statement with bound parameters (never format user text into ``sql``)."""
        self._connection().execute(sql, params or [])

    def query(self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None) -> pl.DataFrame:
        """Run one DuckDB-specific read and return it as Polars.

        Reserved for reads Ibis cannot express and for application state; analytical
        reads are Ibis expressions in their topic module.
        """
        return self._connection().sql(sql, params=params).pl()

    # -- schema ----------------------------------------------------------------------
    def ensure_schema(self) -> None:
        """Create every table of the contract that does not exist yet."""
        with self.cursor() as cur:
            cur.execute("CREATE SEQUENCE IF NOT EXISTS audit_log_seq START 1")
            for spec in (*CANONICAL_TABLES, *APP_TABLES, *DERIVED_TABLES, *MODEL_TABLES):
                cur.execute(create_table_sql(spec))

    def missing_tables(self) -> list[str]:
        """Names of contract tables absent from the database."""
        present = set(
            self.query("select table_name from information_schema.tables where table_schema = 'main'")
            .get_column("table_name")
            .to_list()
        )
        return [name for name in ALL_TABLES if name not in present]

    # -- loads -----------------------------------------------------------------------
    def load_dataset(
        self,
        tables: Mapping[str, pl.DataFrame],
        *,
        meta: Mapping[str, str] | None = None,
        source: Mapping[str, str] | None = None,
    ) -> None:
        """Replace the bank's data with ``tables``, all or nothing, then rebuild rollups.

        Parameters
        ----------
        tables : mapping of table name to polars.DataFrame
            One frame per canonical table; every canonical table must be present except the
            optional ones (``OPTIONAL_CANONICAL``): a consent history that is absent or empty is
            made from the customers table (:func:`consent_events_from_customers`).
        meta : mapping of str to str, optional
            Facts written to ``dataset_meta`` (seed, snapshot date, source).
        source : mapping of table name to str, optional
            What to call each frame in error messages (e.g. its file name).

        Raises
        ------
        DataValidationError
            If any frame breaks its contract; nothing is written then.
        """
        names = [spec.name for spec in CANONICAL_TABLES]
        absent = [n for n in names if n not in tables and n not in OPTIONAL_CANONICAL]
        if absent:
            raise DataValidationError(f"missing table(s): {', '.join(absent)}")
        given = {n for n in names if n in tables and (n not in OPTIONAL_CANONICAL or tables[n].height)}
        checked = {
            spec.name: validate_frame(spec, tables[spec.name], source=(source or {}).get(spec.name))
            for spec in CANONICAL_TABLES
            if spec.name in given
        }
        if CONSENT_EVENTS.name not in checked:
            checked[CONSENT_EVENTS.name] = consent_events_from_customers(checked[CUSTOMERS.name])
        for child, column, parent in REFERENCES:
            values = checked[child].get_column(column)
            known = checked[parent].get_column(column).unique().implode()
            orphan = values.is_not_null() & ~values.is_in(known)
            if orphan.any():
                row = int(orphan.arg_true()[0])
                where = (source or {}).get(child, child)
                raise DataValidationError(
                    f"{where}, row {row + 1}, column {column}: value {values[row]!r} is not in {parent}"
                )
        self.ensure_schema()
        # The rollups are part of the load: a failure there undoes the load too.
        with self.transaction(rebuild_rollups=True) as con:
            # Model outputs describe the old data: they go with it.
            for spec in (*MODEL_TABLES, *reversed(CANONICAL_TABLES)):
                con.execute(f'DELETE FROM "{spec.name}"')  # noqa: S608 - name from the contracts, values bound
            for spec in CANONICAL_TABLES:
                con.register("incoming", checked[spec.name].to_arrow())
                con.execute(f'INSERT INTO "{spec.name}" SELECT * FROM incoming')  # noqa: S608 - name from the contracts, values bound
                con.unregister("incoming")
            # The facts describe the data, so they go with it; the app's own secrets
            # (the pseudonym key) stay, so pseudonyms survive a reload.
            con.execute(
                f'DELETE FROM "{DATASET_META.name}" WHERE key NOT IN (SELECT unnest(?))',  # noqa: S608 - name from the contracts, values bound
                [list(APP_META_KEYS)],
            )
            if meta:
                con.executemany(
                    f'INSERT INTO "{DATASET_META.name}" VALUES (?, ?)',  # noqa: S608 - name from the contracts, values bound
                    [[k, str(v)] for k, v in meta.items() if k not in APP_META_KEYS],
                )

    def store_model_output(
        self,
        *,
        append: Mapping[str, pl.DataFrame],
        replace: Mapping[str, pl.DataFrame],
        delete: Mapping[str, tuple[str, Sequence[Any]]] | None = None,
    ) -> None:
        """Write a batch job's results in one transaction: rows deleted, rows appended, tables replaced.

        Parameters
        ----------
        append : mapping of table name to polars.DataFrame
            Rows added to model-output tables (a fit's record).
        replace : mapping of table name to polars.DataFrame
            New contents of model-output tables (the newest predictions).
        delete : mapping of table name to (column, values), optional
            Rows removed first, in the same transaction: those whose ``column`` is one of
            ``values`` (one model's earlier scores, replaced by ``append``).

        Raises
        ------
        DataValidationError
            If a frame breaks its table's contract; nothing is written then.
        KeyError
            If a name is not a model-output table.
        """
        self._write(MODEL_TABLES, append=append, replace=replace, delete=delete or {}, kind="model-output")

    def append_rows(self, frames: Mapping[str, pl.DataFrame]) -> None:
        """Append rows to application tables (saved segments) in one transaction, validated first.

        Raises
        ------
        DataValidationError
            If a frame breaks its table's contract; nothing is written then.
        KeyError
            If a name is not an application table.
        """
        self._write(APP_TABLES, append=frames, replace={}, delete={}, kind="application")

    def _write(
        self,
        allowed: tuple[TableSpec, ...],
        *,
        append: Mapping[str, pl.DataFrame],
        replace: Mapping[str, pl.DataFrame],
        delete: Mapping[str, tuple[str, Sequence[Any]]],
        kind: str,
    ) -> None:
        specs = {spec.name: spec for spec in allowed if spec.name != AUDIT_LOG.name}
        if AUDIT_LOG.name in (*append, *replace, *delete):
            raise KeyError(MSG_AUDIT_DIRECT_WRITE)
        unknown = [name for name in (*append, *replace, *delete) if name not in specs]
        if unknown:
            raise KeyError(f"not {kind} tables: {', '.join(unknown)}")
        for name, (column, _) in delete.items():
            if column not in specs[name].schema:
                raise KeyError(f"{name} has no column {column}")
        checked_append = {n: validate_frame(specs[n], f) for n, f in append.items()}
        checked_replace = {n: validate_frame(specs[n], f) for n, f in replace.items()}
        self.ensure_schema()
        with self.transaction() as con:
            # Table and column names come from the contracts checked above, values are bound.
            for name, (column, values) in delete.items():
                sql = f'DELETE FROM "{name}" WHERE "{column}" IN (SELECT unnest(?))'  # noqa: S608 - name from the contracts, values bound
                con.execute(sql, [list(values)])
            for name in checked_replace:
                con.execute(f'DELETE FROM "{name}"')  # noqa: S608 - name from the contracts, values bound
            for name, frame in (*checked_append.items(), *checked_replace.items()):
                con.register("incoming", frame.to_arrow())
                con.execute(f'INSERT INTO "{name}" SELECT * FROM incoming')  # noqa: S608 - name from the contracts, values bound
                con.unregister("incoming")

    def delete_model_rows(self, table: str, column: str, values: Sequence[Any]) -> None:
        """Delete the rows of a model-output table whose ``column`` is one of ``values``.

        Parameters
        ----------
        table : str
            A model-output table (``MODEL_TABLES``).
        column : str
            One of its columns (checked against the contract, never formatted from input).
        values : sequence
            Values to delete, bound as one list parameter.

        Raises
        ------
        KeyError
            If the table is not a model-output table or the column is not one of its columns.
        """
        specs = {spec.name: spec for spec in MODEL_TABLES}
        if table not in specs:
            raise KeyError(f"not a model-output table: {table}")
        if column not in specs[table].schema:
            raise KeyError(f"{table} has no column {column}")
        if not values:
            return
        self.ensure_schema()
        with self._write_lock:
            # Table and column were checked against the contracts above; the values are bound.
            sql = f'DELETE FROM "{table}" WHERE "{column}" IN (SELECT unnest(?))'  # noqa: S608 - checked names
            self._connection().execute(sql, [list(values)])

    @contextmanager
    def transaction(self, *, rebuild_rollups: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """One all-or-nothing write under the process's write lock: this thread's connection.

        Everything executed on the yielded connection commits together, or, on any exception,
        not at all. With ``rebuild_rollups`` the derived tables are rebuilt inside the same
        transaction, so a failure there undoes the write too. Statements still bind their
        values; table names come from the contracts.
        """
        con = self._connection()
        with self._write_lock:
            con.execute("BEGIN TRANSACTION")
            try:
                yield con
                if rebuild_rollups:
                    self._rebuild_rollups()
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise

    def refresh_rollups(self) -> None:
        """Rebuild the derived tables from the canonical ones, in one transaction.

        ``customer_month`` first, then the two KPI cubes built from it (``kpi_cube`` and
        ``kpi_cube_product``, see analytics/kpis/rollups.py), with the builders the capabilities
        registered (:mod:`analytics.store.derived`).
        """
        with self.transaction(rebuild_rollups=True):
            pass

    def _rebuild_rollups(self) -> None:
        # The builders come from the capabilities that own them (analytics.store.derived).
        backend = self.backend()
        as_of, history_start = self.snapshot_date(), self.history_start()
        for builder in registered_builders(tuple(spec.name for spec in DERIVED_TABLES)):
            expr = builder.expression(backend, as_of=as_of, history_start=history_start)
            backend.insert(builder.table, expr, overwrite=True)

    def rebuild_aggregate_slice(self, column: str, values: Sequence[Any]) -> None:
        """Rebuild the aggregate derived tables' rows whose ``column`` is one of ``values``.

        For a change confined to a few customers (an erasure): their rows in the per-customer
        derived tables (those with a ``customer_id``, whose rows depend on that customer alone)
        are deleted by the caller, and the aggregates are rebuilt only where those customers
        counted (e.g. their region), from the per-customer tables already changed. Call it inside
        :meth:`transaction` (it uses this thread's connection), after the deletes.

        Raises
        ------
        ValueError
            If an aggregate derived table has no ``column`` to slice by.
        """
        backend = self.backend()
        con = self._connection()
        as_of, history_start = self.snapshot_date(), self.history_start()
        specs = {spec.name: spec for spec in DERIVED_TABLES}
        for builder in registered_builders(tuple(specs)):
            spec = specs[builder.table]
            if "customer_id" in spec.schema:
                continue
            if column not in spec.schema:
                raise ValueError(f"derived table {spec.name} has no column {column!r} to rebuild a slice of")
            expr = builder.expression(backend, as_of=as_of, history_start=history_start)
            # Table and column names come from the contracts; the values are bound.
            con.execute(f'DELETE FROM "{spec.name}" WHERE "{column}" IN (SELECT unnest(?))', [list(values)])  # noqa: S608
            backend.insert(builder.table, expr.filter(expr[column].isin(list(values))))

    def history_start(self):
        """First day of the data set's history (``dataset_meta.history_start``, else first transaction)."""
        meta = self.meta()
        if "history_start" in meta:
            return datetime.fromisoformat(meta["history_start"]).date().replace(day=1)
        first = self.query("select min(ts)::date as d from transactions").item()
        return (first or self.snapshot_date()).replace(day=1)

    def snapshot_date(self):
        """The data set's snapshot date (``dataset_meta.as_of``), else the last transaction day."""
        meta = self.meta()
        if "as_of" in meta:
            return datetime.fromisoformat(meta["as_of"]).date()
        last = self.query("select max(ts)::date as d from transactions").item()
        return last or datetime.now(UTC).date()

    def meta(self) -> dict[str, str]:
        """All facts in ``dataset_meta`` as a dict."""
        rows = self.query(f'select key, value from "{DATASET_META.name}"')  # noqa: S608 - name from the contracts, values bound
        return dict(zip(rows.get_column("key").to_list(), rows.get_column("value").to_list(), strict=True))

    # -- application state -----------------------------------------------------------
    def write_audit(
        self,
        *,
        username: str,
        role: str | None,
        action: str,
        target: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        """Append one event to the audit log, sealed into the HMAC chain (bound parameters, UTC time).

        The only way rows reach the audit log: no code path updates or deletes them, and
        the chain (:mod:`analytics.store.audit_chain`) shows if anything else did.
        """
        row: dict[str, Any] = {
            "ts": datetime.now(UTC).replace(tzinfo=None),
            "username": username,
            "role": role,
            "action": action,
            "target": target,
            "details": json.dumps(dict(details or {}), default=str, sort_keys=True),
        }
        key = self.keys.audit
        # One writer at a time, and the previous seal read in the same transaction as the
        # insert: two sessions must never chain to the same row.
        with self.transaction() as con:
            last = con.execute(
                f'SELECT chain_hmac FROM "{AUDIT_LOG.name}" ORDER BY event_id DESC LIMIT 1'  # noqa: S608 - contract name
            ).fetchone()
            row["event_id"] = con.execute("SELECT nextval('audit_log_seq')").fetchone()[0]
            previous = (last[0] or "") if last else audit_chain.GENESIS
            row["chain_hmac"] = audit_chain.seal(key, previous, row)
            columns = [*audit_chain.SEALED_FIELDS, "chain_hmac"]
            con.execute(
                f'INSERT INTO "{AUDIT_LOG.name}" ({", ".join(columns)}) '  # noqa: S608 - contract names
                f"VALUES ({', '.join('?' for _ in columns)})",
                [row[c] for c in columns],
            )

    def verify_audit(self) -> audit_chain.ChainVerification:
        """Check every seal of the audit log in ``event_id`` order (see :func:`audit_chain.verify_chain`)."""
        columns = ", ".join([*audit_chain.SEALED_FIELDS, "chain_hmac"])
        with self.cursor() as cur:
            result = cur.execute(f'SELECT {columns} FROM "{AUDIT_LOG.name}" ORDER BY event_id')  # noqa: S608 - contract names
            names = [d[0] for d in result.description]
            rows = (dict(zip(names, values, strict=True)) for values in iter(result.fetchone, None))
            return audit_chain.verify_chain(self.keys.audit, rows)

    # -- upgrades --------------------------------------------------------------------
    def migrate(self) -> list[str]:
        """Bring a database made by an earlier release up to the contracts; return what was done.

        Adds the columns a contract gained to existing application, derived and model
        tables (existing rows get nulls), and seals audit rows written before the audit
        chain existed, recording that as an ``audit_chain_started`` event. The one place
        that writes to existing audit rows: it only fills seals that were never set.
        """
        done: list[str] = []
        existing = self.query(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'main'"
        )
        have: dict[str, set[str]] = {}
        for table, column in existing.iter_rows():
            have.setdefault(table, set()).add(column)
        sealed = 0
        with self._write_lock:
            for spec in (*APP_TABLES, *DERIVED_TABLES, *MODEL_TABLES):
                if spec.name not in have:
                    continue
                for column, dtype in spec.schema.items():
                    if column not in have[spec.name]:
                        # Names and types come from the contracts, never from input.
                        self.execute(f'ALTER TABLE "{spec.name}" ADD COLUMN "{column}" {duckdb_type(dtype)}')
                        done.append(f"added column {spec.name}.{column}")
                        if spec.name == AUDIT_LOG.name and column == "chain_hmac":
                            sealed = self._seal_legacy_audit_rows()
        if sealed:
            done.append(f"sealed {sealed} audit rows written before the audit chain existed")
            self.write_audit(
                username="system",
                role=None,
                action="audit_chain_started",
                target=AUDIT_LOG.name,
                details={"sealed_rows": sealed},
            )
        for line in done:
            _LOG.warning("database upgrade: %s", line)
        self.notices.extend(f"Database upgrade: {line}." for line in done)
        return done

    def backfill_consent_events(self) -> int:
        """Give an empty consent history one event per customer and purpose: the current flags.

        The upgrade of a database made before ``consent_events`` existed (:func:`open_database`
        calls it when it creates the table); it does nothing when the history has rows.

        Returns
        -------
        int
            Events written (source ``backfill``).
        """
        columns = ", ".join(CONSENT_EVENTS.schema.names())
        with self.transaction() as con:
            if self.query(f'SELECT count(*) FROM "{CONSENT_EVENTS.name}"').item():  # noqa: S608 - contract name
                return 0
            wanted = "customer_id, consent_marketing, consent_profiling, consent_updated_at, joined_at"
            sql = f'SELECT {wanted} FROM "{CUSTOMERS.name}" ORDER BY customer_id'  # noqa: S608 - contract name
            customers = self.query(sql)
            events = consent_events_from_customers(customers)
            con.register("incoming_consent", events.to_arrow())
            try:
                con.execute(
                    f'INSERT INTO "{CONSENT_EVENTS.name}" ({columns}) SELECT {columns} FROM incoming_consent'  # noqa: S608 - contract names
                )
            finally:
                con.unregister("incoming_consent")
        if events.height:
            line = f"made the consent history from the customers table's flags ({events.height} events)"
            _LOG.warning("database upgrade: %s", line)
            self.notices.append(f"Database upgrade: {line}.")
        return events.height

    def _seal_legacy_audit_rows(self) -> int:
        columns = ", ".join(audit_chain.SEALED_FIELDS)
        rows = self.query(f'SELECT {columns} FROM "{AUDIT_LOG.name}" ORDER BY event_id')  # noqa: S608 - contract names
        key = self.keys.audit
        previous = audit_chain.GENESIS
        seals = []
        for row in rows.iter_rows(named=True):
            previous = audit_chain.seal(key, previous, row)
            seals.append((row["event_id"], previous))
        if seals:
            # Not transaction(): migrate() already holds the write lock, which is not reentrant.
            con = self._connection()
            con.execute("BEGIN TRANSACTION")
            try:
                con.register(
                    "seals", pl.DataFrame(seals, schema=["event_id", "chain_hmac"], orient="row").to_arrow()
                )
                con.execute(
                    f'UPDATE "{AUDIT_LOG.name}" AS a SET chain_hmac = s.chain_hmac FROM seals AS s '  # noqa: S608 - contract name
                    "WHERE a.event_id = s.event_id AND a.chain_hmac IS NULL"
                )
                con.unregister("seals")
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        return len(seals)


def _ibis_backend(cursor: duckdb.DuckDBPyConnection) -> ibis.BaseBackend:
    """An Ibis backend over ``cursor`` that issues no ``SET``.

    ``ibis.duckdb.from_connection`` sets the time zone and turns replacement scans off
    with ``SET`` statements, which a locked configuration refuses. Replacement scans are
    off in :data:`HARDENED_CONFIG` already, and the store keeps naive UTC timestamps, so
    nothing is lost; the attributes set here are the ones ``from_connection`` sets (Ibis 12).
    """
    backend = IbisDuckDBBackend()
    backend._can_reconnect = False
    backend.con = cursor
    backend._record_batch_readers_consumed = {}
    return backend


def _copy_live_data(source: Path, target: Path, *, threads: int) -> None:
    """Copy the live contents of ``source`` into a new file ``target`` (for :meth:`Database.compact`).

    The private connection is the store's one unhardened DuckDB connection: in memory, it
    attaches exactly these two files, copies and closes. The paths are the store's own file
    names (never input), quoted as SQL string literals because ATTACH takes no parameters.
    """
    old, new = (str(p).replace("'", "''") for p in (source, target))
    con = duckdb.connect(":memory:", config={"threads": threads})
    try:
        con.execute(f"ATTACH '{old}' AS compact_old (READ_ONLY)")
        con.execute(f"ATTACH '{new}' AS compact_new")
        con.execute("COPY FROM DATABASE compact_old TO compact_new")
        con.execute("DETACH compact_new")
        con.execute("DETACH compact_old")
    finally:
        con.close()


def _fsync_directory(folder: Path) -> None:
    """Make a rename in ``folder`` durable (compact's swap)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _make_private(path: Path) -> None:
    """Mode 0600 for the database and its write-ahead log: the owner alone may read them."""
    for file in (path, path.with_name(path.name + ".wal")):
        try:
            if stat.S_IMODE(file.stat().st_mode) != PRIVATE_MODE:
                file.chmod(PRIVATE_MODE)
        except FileNotFoundError:
            continue


def open_database(
    path: str | os.PathLike[str] | None = None,
    *,
    read_only: bool = False,
    threads: int | None = None,
) -> Database:
    """Open an existing Tailor database, or explain how to build one.

    Parameters
    ----------
    path : str or path-like, optional
        The file; resolved with :func:`resolve_db_path` when omitted.
    read_only : bool
        Open without the write lock.
    threads : int, optional
        DuckDB worker threads.

    Returns
    -------
    Database
        With every contract table present.

    Raises
    ------
    DatabaseError
        If the file is missing, unreadable, locked or incomplete; the message names the
        command that rebuilds it.
    """
    resolved = resolve_db_path(path)
    if not resolved.exists():
        raise DatabaseError(MSG_DB_MISSING.format(path=resolved, command=REBUILD_COMMAND))
    db = Database(resolved, read_only=read_only, threads=threads)
    try:
        missing = db.missing_tables()
    except duckdb.Error as exc:
        db.close()
        raise DatabaseError(
            MSG_DB_CORRUPT.format(path=resolved, reason=_first_line(exc), command=REBUILD_COMMAND)
        ) from exc
    # Model outputs are optional: created empty when missing, absent is "not fitted yet".
    # The consent history is canonical but optional: made from the customers table's flags.
    rebuildable = {s.name for s in (*APP_TABLES, *DERIVED_TABLES, *MODEL_TABLES)} | OPTIONAL_CANONICAL
    canonical_missing = [m for m in missing if m not in rebuildable]
    derived_missing = [m for m in missing if m in {s.name for s in DERIVED_TABLES}]
    if canonical_missing or (derived_missing and read_only):
        db.close()
        raise DatabaseError(
            MSG_DB_INCOMPLETE.format(
                path=resolved, tables=", ".join(canonical_missing or derived_missing), command=REBUILD_COMMAND
            )
        )
    if missing and not read_only:
        # App and model-output tables are created empty; derived tables (from an older release) are rebuilt
        # from the bank's own data, so an upgrade needs no new sample database.
        db.ensure_schema()
        if CONSENT_EVENTS.name in missing:
            db.backfill_consent_events()
        if derived_missing:
            db.refresh_rollups()
    try:
        if not read_only:
            db.migrate()
        db.keys  # noqa: B018 - resolve (and move out of the database) the keys now, with a clear error
    except BaseException:
        db.close()
        raise
    return db


def _converted(column: pl.Series, dtype: pl.DataType) -> pl.Series:
    """``column`` as ``dtype``, unconvertible values null (text dates parsed as ISO: polars 2 has no cast)."""
    if column.dtype == pl.String and dtype == pl.Date:
        return column.str.to_date(strict=False)
    if column.dtype == pl.String and isinstance(dtype, pl.Datetime):
        return column.str.to_datetime(strict=False).cast(dtype)
    return column.cast(dtype, strict=False)


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
