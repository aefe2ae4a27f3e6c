"""Data-quality checks of the stored tables against their contracts, with counts and example keys.

Each check is one :class:`CheckResult`: pass, warn or fail, how many rows break it, and up to
:data:`EXAMPLES` keys of rows that do. The checks (docs/quality.md has the table):

- ``not_null``: no null in a column the contract marks not-null (every table).
- ``finite``: no NaN or infinity in a float column (every table).
- ``unique_key``: no two rows share a primary key (every table with a key); the count is the rows
  beyond the first of each key.
- ``rule``: the contract's value rules (:class:`analytics.store.contracts.Rule`), null passing
  as on load.
- ``reference``: every value of a child column of :data:`analytics.store.contracts.REFERENCES`
  exists in its parent.
- ``future_date``: no date or event time of the bank's data after the snapshot date (the
  planned ends and starts of campaigns and experiments may lie ahead and are left out).
- ``freshness``: the newest event of each event table is at most :data:`FRESHNESS_LIMIT_DAYS`
  days older than the snapshot date.
- ``not_empty``: a warning for a canonical table without rows.

Counting runs in DuckDB through Ibis, one aggregate per table for the per-column checks, so the
sample bank's 2.4 million rows take well under a second. The value rules are Polars expressions
in the contracts; rather than translate them, the columns they read stream from DuckDB as Arrow
batches and the very expressions the loader uses are evaluated on them (vectorised, never per
row), so a rule checked here and on load cannot disagree.

Examples never carry personal data: they name the row by its key, a customer number appears as
its pseudonym (``C-`` + 12 hex digits, :func:`analytics.access.privacy.pseudonymize_ids`), and the
offending value is shown only when the column is neither personal nor free text.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Literal

import ibis
import polars as pl

from analytics.access.privacy import pseudonym_key, pseudonymize_ids
from analytics.quality.dictionary import ALL_SPECS, TABLE_KINDS, table_facts
from analytics.store.contracts import REFERENCES, TableSpec
from analytics.store.database import Database

CheckName = Literal[
    "not_null", "finite", "unique_key", "rule", "reference", "future_date", "freshness", "not_empty"
]
CheckStatus = Literal["pass", "warn", "fail"]

EXAMPLES = 5
"""How many example keys a failing check names."""

FRESHNESS_LIMIT_DAYS: dict[str, int] = {
    "transactions": 7,
    "digital_events": 7,
    "support_interactions": 7,
    "surveys": 31,
    "offers": 92,
    "assignments": 92,
}
"""Days the newest event of each event table may lie before the snapshot date.

A week for the daily feeds (postings, sessions, support contacts: a missed weekly load shows);
a month for survey answers (relationship surveys go out in waves); a quarter for offers and
experiment assignments, which arrive only while a campaign or a test runs. Other tables (master
data, app state, rollups) have no freshness limit: their newest date says little about a feed.
"""

PLANNED_DATES: frozenset[tuple[str, str]] = frozenset(
    {
        ("campaigns", "start_date"),
        ("campaigns", "end_date"),
        ("experiments", "start_date"),
        ("experiments", "end_date"),
    }
)
"""Date columns of the bank's data that may lie after the snapshot (a campaign or test planned ahead)."""

HIDDEN_VALUES: frozenset[str] = frozenset(
    {"comment", "transcript", "password_hash", "details", "report_html", "chain_hmac"}
)
"""Columns whose values never appear in examples besides the personal ones: free text and secrets."""

_BATCH_ROWS = 1_000_000


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check on one table (and column).

    Parameters
    ----------
    name : CheckName
        Which check (see the module docstring).
    table : str
        The table checked.
    column : str or None
        The column, or None for a check of the whole table (key, freshness, rows).
    status : CheckStatus
        pass, warn or fail.
    failing_rows : int
        Rows that break it (for ``unique_key``: rows beyond the first of each key; for
        ``freshness``: 0, the lag is in the explanation).
    examples : tuple of str
        Up to :data:`EXAMPLES` keys of offending rows, e.g. ``"transaction_id=17, amount=-5.0"``;
        never personal data.
    explanation : str
        The rule in words and, when it fails, what was found.
    """

    name: CheckName
    table: str
    column: str | None
    status: CheckStatus
    failing_rows: int
    examples: tuple[str, ...]
    explanation: str


@dataclass(frozen=True)
class QualityReport:
    """Every check of one run.

    Parameters
    ----------
    snapshot_date : datetime.date
        The data set's snapshot date the freshness and future-date checks compare with.
    checks : tuple of CheckResult
        In table order (canonical, app, derived, model tables), then check order.
    seconds : float
        Wall time of the run.
    """

    snapshot_date: date
    checks: tuple[CheckResult, ...]
    seconds: float

    @property
    def failed(self) -> tuple[CheckResult, ...]:
        """The checks that failed."""
        return tuple(c for c in self.checks if c.status == "fail")

    @property
    def warned(self) -> tuple[CheckResult, ...]:
        """The checks that warn."""
        return tuple(c for c in self.checks if c.status == "warn")

    @property
    def ok(self) -> bool:
        """True when no check failed (warnings allowed)."""
        return not self.failed

    def to_frame(self) -> pl.DataFrame:
        """The checks as a table: one row each, examples joined by ``"; "``."""
        return pl.DataFrame(
            [
                {
                    "name": c.name,
                    "table": c.table,
                    "column": c.column,
                    "status": c.status,
                    "failing_rows": c.failing_rows,
                    "examples": "; ".join(c.examples),
                    "explanation": c.explanation,
                }
                for c in self.checks
            ],
            schema={
                "name": pl.String,
                "table": pl.String,
                "column": pl.String,
                "status": pl.String,
                "failing_rows": pl.Int64,
                "examples": pl.String,
                "explanation": pl.String,
            },
        )


# -- examples ----------------------------------------------------------------------------------
def _shown(spec: TableSpec, column: str) -> bool:
    return column not in spec.personal and column not in HIDDEN_VALUES


def _example_strings(frame: pl.DataFrame, key: bytes) -> tuple[str, ...]:
    """``col=value, ...`` per row; customer numbers replaced by their pseudonyms."""
    if frame.height == 0 or not frame.columns:
        return ()
    if "customer_id" in frame.columns:
        frame = frame.with_columns(pseudonymize_ids(frame.get_column("customer_id"), key))
    parts = [pl.lit(f"{name}=") + pl.col(name).cast(pl.String).fill_null("null") for name in frame.columns]
    return tuple(frame.select(pl.concat_str(parts, separator=", ").alias("example")).to_series().to_list())


def _example_columns(spec: TableSpec, *extra: str) -> list[str]:
    key = list(spec.primary_key) or [c for c in spec.schema.names() if _shown(spec, c)][:1]
    return [*key, *(c for c in extra if c and c not in key and _shown(spec, c))]


# -- the checks --------------------------------------------------------------------------------
@dataclass(frozen=True)
class _ColumnCheck:
    name: CheckName
    column: str
    broken: Callable[[ibis.Table], ibis.Value]
    rule: str


def _column_checks(spec: TableSpec, snapshot: date) -> list[_ColumnCheck]:
    checks = [
        _ColumnCheck("not_null", c, lambda t, c=c: t[c].isnull(), "may not be null") for c in spec.not_null
    ]
    for name, dtype in spec.schema.items():
        if dtype.is_float():
            checks.append(
                _ColumnCheck(
                    "finite",
                    name,
                    lambda t, c=name: t[c].isnan() | t[c].isinf(),
                    "must be a finite number (no NaN or infinity)",
                )
            )
    if TABLE_KINDS[spec.name] == "canonical":
        for name, dtype in spec.schema.items():
            if (dtype == pl.Date or isinstance(dtype, pl.Datetime)) and (
                spec.name,
                name,
            ) not in PLANNED_DATES:
                checks.append(
                    _ColumnCheck(
                        "future_date",
                        name,
                        lambda t, c=name: t[c].cast("date") > ibis.literal(snapshot),
                        f"may not lie after the snapshot date {snapshot.isoformat()}",
                    )
                )
    return checks


def _check_columns(db: Database, spec: TableSpec, snapshot: date, key: bytes, rows: int) -> list[CheckResult]:
    checks = _column_checks(spec, snapshot)
    if not checks:
        return []
    table = db.backend().table(spec.name)
    counts = table.aggregate(
        **{f"m{i}": check.broken(table).cast("int64").sum().fill_null(0) for i, check in enumerate(checks)}
    ).to_polars()
    results = []
    for i, check in enumerate(checks):
        failing = int(counts.item(0, f"m{i}"))
        examples: tuple[str, ...] = ()
        if failing:
            columns = _example_columns(spec, check.column if check.name != "not_null" else "")
            found = table.filter(check.broken(table)).select(*columns).limit(EXAMPLES).to_polars()
            examples = _example_strings(found, key)
        text = f"{spec.name}.{check.column} {check.rule}"
        if failing:
            text += f": {failing:,} of {rows:,} rows do not"
        results.append(
            CheckResult(
                check.name, spec.name, check.column, "fail" if failing else "pass", failing, examples, text
            )
        )
    return results


def _check_key(db: Database, spec: TableSpec, key: bytes) -> CheckResult | None:
    if not spec.primary_key:
        return None
    table = db.backend().table(spec.name)
    groups = table.group_by(list(spec.primary_key)).aggregate(n=table.count())
    summary = groups.aggregate(
        keys=(groups.n > 1).cast("int64").sum().fill_null(0),
        extra=(groups.n - 1).sum().fill_null(0),
    ).to_polars()
    keys, extra = int(summary.item(0, "keys")), int(summary.item(0, "extra"))
    examples: tuple[str, ...] = ()
    if extra:
        found = (
            groups.filter(groups.n > 1).order_by(list(spec.primary_key)).limit(EXAMPLES).to_polars()
        ).rename({"n": "rows"})
        examples = _example_strings(found, key)
    text = f"{spec.name} has one row per ({', '.join(spec.primary_key)})"
    if extra:
        text += f": {keys:,} keys occur more than once, {extra:,} rows too many"
    return CheckResult("unique_key", spec.name, None, "fail" if extra else "pass", extra, examples, text)


def _check_rules(db: Database, spec: TableSpec, key: bytes) -> list[CheckResult]:
    if not spec.rules:
        return []
    key_columns = _example_columns(spec)
    needed = list(dict.fromkeys([*key_columns, *(n for r in spec.rules for n in r.check.meta.root_names())]))
    # The loader's semantics (analytics.store.database.validate_frame): null passes.
    broken = [r.check.fill_null(True).not_().alias(f"r{i}") for i, r in enumerate(spec.rules)]
    counts = [0] * len(spec.rules)
    found: list[list[pl.DataFrame]] = [[] for _ in spec.rules]
    backend = db.backend()
    # Compiled from contract names, no input: Ibis's own to_pyarrow_batches fails on DuckDB 2.
    sql = str(backend.compile(backend.table(spec.name).select(*needed)))
    with db.cursor() as cur:
        for batch in cur.sql(sql).to_arrow_reader(_BATCH_ROWS):
            frame = pl.from_arrow(batch)
            flags = frame.select(broken)
            for i, rule in enumerate(spec.rules):
                flag = flags.get_column(f"r{i}")
                counts[i] += int(flag.sum())
                if flag.any() and sum(f.height for f in found[i]) < EXAMPLES:
                    columns = _example_columns(spec, rule.column)
                    found[i].append(frame.filter(flag).select(columns).head(EXAMPLES))
    results = []
    for i, rule in enumerate(spec.rules):
        examples = _example_strings(pl.concat(found[i]).head(EXAMPLES), key) if found[i] else ()
        text = f"{spec.name}.{rule.column}: no value that {rule.message}"
        if counts[i]:
            text = f"{spec.name}.{rule.column} {rule.message} in {counts[i]:,} rows"
        status: CheckStatus = "fail" if counts[i] else "pass"
        results.append(CheckResult("rule", spec.name, rule.column, status, counts[i], examples, text))
    return results


def _check_reference(db: Database, child: TableSpec, column: str, parent: str, key: bytes) -> CheckResult:
    backend = db.backend()
    table = backend.table(child.name)
    known = backend.table(parent).select(column).distinct()
    orphans = table.filter(table[column].notnull()).anti_join(known, column)
    failing = int(orphans.count().to_pyarrow().as_py())
    examples: tuple[str, ...] = ()
    if failing:
        found = orphans.select(*_example_columns(child, column)).limit(EXAMPLES).to_polars()
        examples = _example_strings(found, key)
    text = f"every {child.name}.{column} exists in {parent}.{column}"
    if failing:
        text += f": {failing:,} rows point to none"
    return CheckResult(
        "reference", child.name, column, "fail" if failing else "pass", failing, examples, text
    )


def _check_freshness(spec: TableSpec, limit: int, facts, snapshot: date) -> CheckResult:
    fact = facts[spec.name]
    rule = (
        f"the newest {spec.name}.{fact.freshness_column} is at most {limit} days before the snapshot"
        f" date {snapshot.isoformat()}"
    )
    if fact.newest is None:
        return CheckResult(
            "freshness", spec.name, fact.freshness_column, "fail", 0, (), rule + ": the table is empty"
        )
    stale = fact.lag_days > limit
    text = rule + f": the newest is {fact.newest.date().isoformat()}, {fact.lag_days} days before"
    return CheckResult(
        "freshness", spec.name, fact.freshness_column, "fail" if stale else "pass", 0, (), text
    )


def run_quality_checks(
    db: Database,
    *,
    freshness_limits: Mapping[str, int] | None = None,
    tables: tuple[str, ...] | None = None,
) -> QualityReport:
    """Run every data-quality check on the stored tables.

    Parameters
    ----------
    db : Database
        The database (read-only is enough).
    freshness_limits : mapping of str to int, optional
        Days per event table the newest event may lie before the snapshot; replaces
        :data:`FRESHNESS_LIMIT_DAYS` when given.
    tables : tuple of str, optional
        Only these tables (default: every contract table present in the database).

    Returns
    -------
    QualityReport
        Every check's result; ``report.ok`` is False when one failed.

    Raises
    ------
    KeyError
        If ``tables`` names a table without a contract.

    Examples
    --------
    >>> db = Database(":memory:")
    >>> db.ensure_schema()
    >>> run_quality_checks(db, tables=("products",)).ok
    True
    """
    started = time.perf_counter()
    specs = {spec.name: spec for spec in ALL_SPECS}
    wanted = tables if tables is not None else tuple(specs)
    unknown = [name for name in wanted if name not in specs]
    if unknown:
        raise KeyError(f"no table contract for {', '.join(unknown)}")
    missing = set(db.missing_tables())
    chosen = tuple(specs[name] for name in specs if name in wanted and name not in missing)
    limits = dict(FRESHNESS_LIMIT_DAYS if freshness_limits is None else freshness_limits)
    snapshot = db.snapshot_date()
    facts = table_facts(db, specs=chosen)
    key = pseudonym_key(db)
    results: list[CheckResult] = []
    for spec in chosen:
        rows = facts[spec.name].rows or 0
        if TABLE_KINDS[spec.name] == "canonical":
            status: CheckStatus = "pass" if rows else "warn"
            text = f"{spec.name} has rows" + ("" if rows else ": it is empty")
            results.append(CheckResult("not_empty", spec.name, None, status, 0, (), text))
        results.extend(_check_columns(db, spec, snapshot, key, rows))
        unique = _check_key(db, spec, key)
        if unique is not None:
            results.append(unique)
        results.extend(_check_rules(db, spec, key))
        for child, column, parent in REFERENCES:
            if child == spec.name and parent not in missing:
                results.append(_check_reference(db, spec, column, parent, key))
        if spec.name in limits and facts[spec.name].freshness_column:
            results.append(_check_freshness(spec, limits[spec.name], facts, snapshot))
    return QualityReport(snapshot, tuple(results), time.perf_counter() - started)
