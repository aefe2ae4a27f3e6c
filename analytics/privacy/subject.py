"""Data-subject requests: everything held about one customer (GDPR art. 15), and its erasure (art. 17).

The tables that hold a customer are found from the table contracts (every table with a
``customer_id`` column, raw, derived and model output alike, plus any such table the database
holds beyond them), so a table added later is exported and erased without a change here. Audit
entries are found by the customer's pseudonym: the audit log carries pseudonyms, never
customer numbers.

Erasure deletes the customer's rows everywhere (nothing is kept as an anonymized row: the
rollups and cubes are rebuilt without them), removes them from saved segments, replaces their
e-mail, phone and full name wherever they appear in free text (comments, transcripts, segment
descriptions, stored fairness reports) with :data:`ERASED`, writes a tombstone to the audit log
(action ``subject_erased``, the pseudonym and row counts only) and rewrites the database file
(:meth:`analytics.store.database.Database.compact`) so no deleted byte survives in it or in the
write-ahead log. What it cannot reach is in docs/privacy-requests.md.
"""

from __future__ import annotations

import io
import json
import os
import re
import time
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from analytics.access.privacy import pseudonym_key, pseudonymize_ids, sees_raw_personal_data
from analytics.common.exports import write_safe_csv
from analytics.store.contracts import (
    ALL_TABLES,
    AUDIT_LOG,
    CUSTOMERS,
    FAIRNESS_SIGNOFFS,
    SEGMENT_MEMBERS,
    SEGMENTS,
    USERS,
)
from analytics.store.database import Database

ERASED = "[erased]"
"""What an erased customer's e-mail, phone and name are replaced with in free text."""
CUSTOMER_COLUMN = "customer_id"

MSG_UNKNOWN_CUSTOMER = "No data is held about customer {customer_id}: nothing to export or erase."
MSG_NOT_ALLOWED = "Only a compliance reviewer or an administrator may answer a data-subject request."
MSG_BAD_CUSTOMER = "A customer number is a whole number, not {value!r}."

PAGE_CACHES_TO_CLEAR = (
    "After an erasure the page must clear Streamlit's caches (st.cache_data.clear(): every query result,"
    " customer list, score table and map cached in app/resources.py may still hold the customer) and drop"
    " the cached Database's per-thread backends, which compact() does by itself."
)
"""What a caller holding caches (the app) must do after :func:`erase_subject`; the library holds none."""

_SKIP_SCRUB = frozenset({AUDIT_LOG.name, USERS.name})
"""Tables whose text is never rewritten: the audit log is append-only, users hold no customer data."""


class SubjectNotFoundError(ValueError):
    """No table holds the customer (already erased, or a wrong number)."""


@dataclass(frozen=True)
class SubjectIdentity:
    """How the customer is recognised: number, pseudonym and the strings that identify them."""

    customer_id: int
    pseudonym: str
    name: str | None = None
    email: str | None = None
    phone: str | None = None

    @property
    def strings(self) -> tuple[str, ...]:
        """The identifying strings searched for in free text and files (the decimal id included)."""
        return tuple(s for s in (self.name, self.email, self.phone, str(self.customer_id)) if s)


@dataclass(frozen=True)
class SubjectData:
    """Everything held about one customer: one frame per table that holds them, and audit entries.

    Attributes
    ----------
    identity : SubjectIdentity
        Number, pseudonym, name, e-mail and phone.
    tables : dict of str to polars.DataFrame
        The customer's rows per table (tables without any are left out).
    audit : polars.DataFrame
        Audit-log entries whose target or details carry the customer's pseudonym.
    """

    identity: SubjectIdentity
    tables: dict[str, pl.DataFrame]
    audit: pl.DataFrame

    @property
    def rows(self) -> int:
        """Rows held, audit entries included."""
        return sum(f.height for f in self.tables.values()) + self.audit.height


@dataclass(frozen=True)
class ErasureReport:
    """What :func:`erase_subject` did.

    Attributes
    ----------
    pseudonym : str
        The erased customer's pseudonym (the tombstone's target); never the customer number.
    rows_deleted : dict of str to int
        Rows deleted per table.
    text_redacted : dict of str to int
        Rows per ``table.column`` whose free text named the customer, now :data:`ERASED`.
    segments_changed : tuple of str
        Saved segment versions the customer was removed from (their member count lowered).
    signoffs_redacted : tuple of str
        Fairness sign-offs whose stored report named the customer: redacted, so their recorded
        SHA-256 no longer matches the stored HTML (the tombstone says why).
    legacy_audit_rows : int
        Audit rows written by an older release with the raw customer number in them: the chain
        forbids editing them, so they remain (docs/privacy-requests.md).
    files_with_subject : tuple of str
        Files among ``scan_paths`` that still contain one of the customer's strings.
    bytes_before, bytes_after : int
        Size of the database file before and after it was rewritten (0 when not compacted).
    seconds : float
        Time taken.
    notes : tuple of str
        What the caller must still do (clear caches) and what erasure cannot reach.
    """

    pseudonym: str
    rows_deleted: dict[str, int]
    text_redacted: dict[str, int] = field(default_factory=dict)
    segments_changed: tuple[str, ...] = ()
    signoffs_redacted: tuple[str, ...] = ()
    legacy_audit_rows: int = 0
    files_with_subject: tuple[str, ...] = ()
    bytes_before: int = 0
    bytes_after: int = 0
    seconds: float = 0.0
    notes: tuple[str, ...] = ()

    @property
    def total_rows(self) -> int:
        """Rows deleted in all tables."""
        return sum(self.rows_deleted.values())


NOT_REACHED = (
    "Models trained before the erasure learned from this customer's rows; retrain them with"
    " `python -m analytics train --target all` (and refit CLV with `python -m analytics clv`).",
    "Files exported earlier (segment exports, CSV downloads, access-request zips) and backups of the"
    " database are outside Tailor: delete them where they were kept.",
)


def customer_tables(db: Database) -> list[str]:
    """Every table that holds customers: the contracts' tables with a ``customer_id`` column, and any other.

    Parameters
    ----------
    db : Database
        The database (its own tables are checked too, so a table outside the contracts that
        has a ``customer_id`` column is not missed).

    Returns
    -------
    list of str
        Table names, the contracts' first in their order.
    """
    names = [name for name, spec in ALL_TABLES.items() if CUSTOMER_COLUMN in spec.schema]
    present = db.query(
        "SELECT table_name FROM information_schema.columns WHERE table_schema = 'main' AND column_name = ?",
        [CUSTOMER_COLUMN],
    )
    have = set(present.get_column("table_name").to_list())
    return [n for n in names if n in have] + sorted(have - set(names) - {AUDIT_LOG.name})


def subject_identity(db: Database, customer_id: int) -> SubjectIdentity:
    """The customer's pseudonym and, while they are in ``customers``, their name, e-mail and phone."""
    customer_id = _as_customer_id(customer_id)
    pseudonym = pseudonymize_ids(pl.Series([customer_id], dtype=pl.Int64), pseudonym_key(db))[0]
    row = db.query(
        f'SELECT first_name, last_name, email, phone FROM "{CUSTOMERS.name}" WHERE customer_id = ?',  # noqa: S608 - contract name, value bound
        [customer_id],
    )
    if not row.height:
        return SubjectIdentity(customer_id, pseudonym)
    first, last, email, phone = row.row(0)
    name = " ".join(p for p in (first, last) if p) or None
    return SubjectIdentity(customer_id, pseudonym, name=name, email=email, phone=phone)


def collect_subject_data(db: Database, customer_id: int) -> SubjectData:
    """Read everything held about one customer (no audit entry: see :func:`subject_access`).

    Parameters
    ----------
    db : Database
        The database.
    customer_id : int
        The customer number.

    Returns
    -------
    SubjectData

    Raises
    ------
    SubjectNotFoundError
        When no table holds the customer.
    """
    identity = subject_identity(db, customer_id)
    tables: dict[str, pl.DataFrame] = {}
    for name in customer_tables(db):
        frame = db.query(f'SELECT * FROM "{_ident(name)}" WHERE customer_id = ?', [identity.customer_id])  # noqa: S608 - name from the contracts/catalog, value bound
        if frame.height:
            tables[name] = frame
    if SEGMENT_MEMBERS.name in tables:
        # Which saved segments, by name and version, not only their ids.
        tables[SEGMENT_MEMBERS.name] = db.query(
            f"SELECT m.segment_id, s.name, s.version, s.created_at, s.data_as_of, m.customer_id "  # noqa: S608 - contract names, value bound
            f'FROM "{SEGMENT_MEMBERS.name}" m LEFT JOIN "{SEGMENTS.name}" s USING (segment_id) '
            "WHERE m.customer_id = ? ORDER BY s.name, s.version",
            [identity.customer_id],
        )
    audit = _audit_rows(db, identity.pseudonym)
    if not tables and not audit.height:
        raise SubjectNotFoundError(MSG_UNKNOWN_CUSTOMER.format(customer_id=identity.customer_id))
    return SubjectData(identity, tables, audit)


def subject_access(db: Database, customer_id: int, *, requested_by: str, role: str | None = None) -> bytes:
    """Answer an access request: a zip of JSON and CSV files with everything held, and a README.

    The request is written to the audit log first (action ``subject_access``, target the
    pseudonym), so an export that cannot be audited does not happen.

    Parameters
    ----------
    db : Database
        The database (written to: the audit entry).
    customer_id : int
        The customer number.
    requested_by : str
        Who asks: a user name, or ``os:<login>`` for the command line.
    role : str, optional
        Their role; ``None`` for the command line. Other roles than compliance reviewer and
        admin are refused.

    Returns
    -------
    bytes
        The zip: ``README.txt``, ``subject.json`` and ``<table>.json`` / ``<table>.csv`` per table.

    Raises
    ------
    PermissionError
        For a role that may not see raw personal data (:data:`MSG_NOT_ALLOWED`).
    SubjectNotFoundError
        When nothing is held about the customer.
    """
    _check_role(role)
    data = collect_subject_data(db, customer_id)
    db.write_audit(
        username=requested_by,
        role=role,
        action="subject_access",
        target=data.identity.pseudonym,
        details={"tables": len(data.tables), "rows": data.rows},
    )
    return build_access_zip(data)


def write_subject_access(
    db: Database, customer_id: int, out: str | os.PathLike[str], *, requested_by: str, role: str | None = None
) -> SubjectData:
    """:func:`subject_access` written to ``out`` (mode 0600, via a temporary file); returns what it holds."""
    _check_role(role)
    data = collect_subject_data(db, customer_id)
    db.write_audit(
        username=requested_by,
        role=role,
        action="subject_access",
        target=data.identity.pseudonym,
        details={"tables": len(data.tables), "rows": data.rows},
    )
    target = Path(out)
    partial = target.with_name(f".{target.name}.partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(build_access_zip(data))
    partial.replace(target)
    return data


def build_access_zip(data: SubjectData) -> bytes:
    """The zip of :func:`subject_access` for already collected data (no audit entry)."""
    files: list[tuple[str, str, str]] = []  # name, text, what it is
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, frame in [*data.tables.items(), (AUDIT_LOG.name, data.audit)]:
            if not frame.height:
                continue
            what = _describe(name)
            archive.writestr(f"{name}.json", _json_records(frame))
            archive.writestr(f"{name}.csv", write_safe_csv(frame) or "")
            files.append((name, what, ", ".join(frame.columns)))
        summary = {
            "customer_id": data.identity.customer_id,
            "pseudonym": data.identity.pseudonym,
            "generated_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
            "tables": {name: frame.height for name, frame in data.tables.items()},
            "audit_entries": data.audit.height,
        }
        archive.writestr("subject.json", json.dumps(summary, indent=2, sort_keys=True))
        archive.writestr("README.txt", _readme(data, files))
    return buffer.getvalue()


def erase_subject(
    db: Database,
    customer_id: int,
    *,
    requested_by: str,
    role: str | None = None,
    compact: bool = True,
    scan_paths: Sequence[str | os.PathLike[str]] = (),
) -> ErasureReport:
    """Erase one customer from every table and derived store, leave a tombstone, rewrite the file.

    In one transaction: the customer's rows are deleted from every table that holds them
    (:func:`customer_tables`), saved segments lose them (member counts lowered), their e-mail,
    phone and full name are replaced by :data:`ERASED` in all free text except the audit log,
    and the rollups are rebuilt. Then the tombstone is written (action ``subject_erased``,
    target the pseudonym, row counts only) and, with ``compact``, the database file is
    rewritten so that no deleted byte survives (:meth:`Database.compact`).

    Parameters
    ----------
    db : Database
        The database, opened read-write.
    customer_id : int
        The customer number.
    requested_by : str
        Who asks (a user name, or ``os:<login>``).
    role : str, optional
        Their role; only compliance reviewers and admins (or ``None``, the command line).
    compact : bool
        Rewrite the database file afterwards (default). Off only to erase several customers
        and compact once.
    scan_paths : sequence of path-like
        Files or folders Tailor wrote beside the database (the models folder) to search for
        the customer's strings; hits are reported, not changed.

    Returns
    -------
    ErasureReport

    Raises
    ------
    PermissionError
        For a role that may not answer requests.
    SubjectNotFoundError
        When nothing is held about the customer.
    """
    _check_role(role)
    started = time.perf_counter()
    identity = subject_identity(db, customer_id)
    tables = customer_tables(db)
    counts = {}
    for name in tables:
        sql = f'SELECT count(*) AS n FROM "{_ident(name)}" WHERE customer_id = ?'  # noqa: S608 - name from the contracts/catalog, value bound
        counts[name] = db.query(sql, [identity.customer_id]).item()
    counts = {name: n for name, n in counts.items() if n}
    if not counts:
        raise SubjectNotFoundError(MSG_UNKNOWN_CUSTOMER.format(customer_id=identity.customer_id))
    segments = (
        db.query(
            f'SELECT segment_id FROM "{SEGMENT_MEMBERS.name}" WHERE customer_id = ? ORDER BY segment_id',  # noqa: S608 - contract name, value bound
            [identity.customer_id],
        )
        .get_column("segment_id")
        .to_list()
    )
    texts = [s for s in (identity.email, identity.phone, identity.name) if s]
    redacted: dict[str, int] = {}
    signoffs: list[str] = []
    regions = db.query(
        f'SELECT DISTINCT region FROM "{CUSTOMERS.name}" WHERE customer_id = ?',  # noqa: S608 - contract name, value bound
        [identity.customer_id],
    ).get_column("region")
    # The aggregates change only in the customer's region: rebuilt there alone, from the
    # per-customer rollups the deletes below already changed (a whole rebuild at tier M is 13 s).
    # Without a customers row to say where they counted, everything is rebuilt.
    whole = regions.len() == 0
    with db.transaction(rebuild_rollups=whole) as con:
        if segments:
            sql = f'UPDATE "{SEGMENTS.name}" SET customers = customers - 1 WHERE segment_id IN (SELECT unnest(?))'  # noqa: S608, E501 - contract name
            con.execute(sql, [segments])
        for name in counts:
            con.execute(f'DELETE FROM "{_ident(name)}" WHERE customer_id = ?', [identity.customer_id])  # noqa: S608 - name from the contracts/catalog, value bound
        if texts:
            signoffs = _signoffs_naming(con, texts)
        redacted = _scrub_text(con, texts, customer_id=identity.customer_id)
        if not whole:
            db.rebuild_aggregate_slice("region", regions.to_list())
    legacy = _legacy_audit_rows(db, identity.customer_id)
    db.write_audit(
        username=requested_by,
        role=role,
        action="subject_erased",
        target=identity.pseudonym,
        details={
            "rows_deleted": sum(counts.values()),
            "tables": counts,
            "segments_changed": len(segments),
            "text_redacted": redacted,
            "signoffs_redacted": signoffs,
        },
    )
    before = after = 0
    if compact:
        result = db.compact()
        before, after = result.bytes_before, result.bytes_after
    hits = tuple(str(p) for p in scan_files(scan_paths, identity.strings))
    notes = [PAGE_CACHES_TO_CLEAR, *NOT_REACHED]
    if legacy:
        notes.append(
            f"{legacy} audit row(s) written by an older release carry the customer number; the chain"
            " forbids editing them (docs/privacy-requests.md)."
        )
    return ErasureReport(
        pseudonym=identity.pseudonym,
        rows_deleted=counts,
        text_redacted=redacted,
        segments_changed=tuple(segments),
        signoffs_redacted=tuple(signoffs),
        legacy_audit_rows=legacy,
        files_with_subject=hits,
        bytes_before=before,
        bytes_after=after,
        seconds=time.perf_counter() - started,
        notes=tuple(notes),
    )


def scan_files(paths: Iterable[str | os.PathLike[str]], strings: Iterable[str]) -> list[Path]:
    """Files under ``paths`` (files or folders, recursively) whose bytes contain any of ``strings``.

    Parameters
    ----------
    paths : iterable of path-like
        Files or folders; missing ones are skipped.
    strings : iterable of str
        Searched for as UTF-8 bytes.

    Returns
    -------
    list of pathlib.Path
        The files that contain at least one of them.
    """
    needles = [s.encode() for s in strings if s]
    found: list[Path] = []
    for root in paths:
        root = Path(root)
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for file in files:
            data = file.read_bytes()
            if any(n in data for n in needles):
                found.append(file)
    return found


# -- helpers ---------------------------------------------------------------------------------------
def _as_customer_id(value: object) -> int:
    try:
        number = int(str(value).strip())
    except ValueError as exc:
        raise ValueError(MSG_BAD_CUSTOMER.format(value=value)) from exc
    return number


def _check_role(role: str | None) -> None:
    if role is not None and not sees_raw_personal_data(role):
        raise PermissionError(MSG_NOT_ALLOWED)


def _ident(name: str) -> str:
    # Table names come from the contracts or the database's own catalog, never from input.
    return name.replace('"', '""')


def _audit_rows(db: Database, pseudonym: str) -> pl.DataFrame:
    # Pseudonyms are "C-" + 12 hex digits: no LIKE wildcard can occur in them.
    return db.query(
        f'SELECT * EXCLUDE (chain_hmac) FROM "{AUDIT_LOG.name}" '  # noqa: S608 - contract name, values bound
        "WHERE target = ? OR contains(details, ?) ORDER BY event_id",
        [pseudonym, pseudonym],
    )


def _legacy_audit_rows(db: Database, customer_id: int) -> int:
    """Audit rows whose target or a details value is the customer number (older releases wrote them)."""
    text = str(customer_id)
    rows = db.query(
        f'SELECT target, details FROM "{AUDIT_LOG.name}" WHERE target = ? OR contains(details, ?)',  # noqa: S608 - contract name, values bound
        [text, text],
    )
    pattern = re.compile(rf"(?<!\d){re.escape(text)}(?!\d)")
    return sum(1 for target, details in rows.iter_rows() if target == text or pattern.search(details or ""))


def _text_columns(con) -> list[tuple[str, str]]:
    rows = con.execute(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = 'main' AND data_type = 'VARCHAR' ORDER BY table_name, ordinal_position"
    ).fetchall()
    return [(t, c) for t, c in rows if t not in _SKIP_SCRUB]


def _scrub_text(con, texts: Sequence[str], *, customer_id: int) -> dict[str, int]:
    """Replace ``texts`` and the customer number (as a whole number) by :data:`ERASED`; rows per column.

    Every text column but the audit log's and the users'.
    """
    number = rf"(^|[^0-9]){customer_id}([^0-9]|$)"  # an int: no regex metacharacters
    changed: dict[str, int] = {}
    for table, column in _text_columns(con):
        t, c = _ident(table), column.replace('"', '""')
        where = " OR ".join([*(f'contains("{c}", ?)' for _ in texts), f'regexp_matches("{c}", ?)'])
        found = [*texts, number]
        hit = con.execute(f'SELECT count(*) FROM "{t}" WHERE {where}', found).fetchall()[0][0]  # noqa: S608 - names from the catalog, values bound
        if not hit:
            continue
        expr = f'"{c}"'
        params: list[str] = []
        for text in texts:  # the innermost replace (the first placeholders) takes the first text
            expr = f"replace({expr}, ?, ?)"
            params += [text, ERASED]
        expr = f"regexp_replace({expr}, ?, ?, 'g')"
        params += [number, rf"\1{ERASED}\2"]
        con.execute(f'UPDATE "{t}" SET "{c}" = {expr} WHERE {where}', [*params, *found])  # noqa: S608 - names from the catalog, values bound
        changed[f"{table}.{column}"] = int(hit)
    return changed


def _signoffs_naming(con, texts: Sequence[str]) -> list[str]:
    where = " OR ".join("contains(report_html, ?) OR contains(comment, ?)" for _ in texts)
    params = [t for text in texts for t in (text, text)]
    rows = con.execute(
        f'SELECT signoff_id FROM "{FAIRNESS_SIGNOFFS.name}" WHERE {where} ORDER BY signoff_id',  # noqa: S608 - contract name, values bound
        params,
    ).fetchall()
    return [r[0] for r in rows]


def _json_records(frame: pl.DataFrame) -> str:
    return json.dumps(frame.to_dicts(), default=str, indent=2, ensure_ascii=False)


def _describe(name: str) -> str:
    if name == SEGMENT_MEMBERS.name:
        return "The saved segments (name and version) the customer is a member of."
    if name == AUDIT_LOG.name:
        return (
            "Audit-log entries about the customer, found by their pseudonym (who viewed, exported or"
            " acted on their data, and when)."
        )
    spec = ALL_TABLES.get(name)
    return spec.description if spec is not None else "A table holding the customer (outside the contracts)."


def _readme(data: SubjectData, files: Sequence[tuple[str, str, str]]) -> str:
    lines = [
        "Everything Tailor holds about one customer (data-subject access request).",
        "",
        f"Customer number: {data.identity.customer_id}",
        f"Pseudonym (how other users and the audit log refer to the customer): {data.identity.pseudonym}",
        "",
        "Every table is given twice: <table>.json (one object per row) and <table>.csv (the same rows;",
        "a cell starting with =, +, - or @ is prefixed with ' so a spreadsheet does not run it).",
        "subject.json lists the tables and their row counts. Times are UTC.",
        "",
        "Files:",
    ]
    for name, what, columns in files:
        lines += [f"  {name}.json / {name}.csv", f"    {what}", f"    Columns: {columns}"]
        spec = ALL_TABLES.get(name)
        if spec is not None:
            lines += [f"      {column}: {text}" for column, text in spec.columns.items() if column in columns]
    lines += [
        "",
        "Not in this export: the models' learned parameters (not per customer; see docs/models.md) and",
        "aggregates (KPI cubes) from which no single customer can be read.",
    ]
    return "\n".join(lines) + "\n"
