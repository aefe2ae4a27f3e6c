"""The audit-log viewer for compliance reviewers and admins: filter, count, export, chain status.

Reads are raw DuckDB SQL over the application table ``audit_log`` with bound parameters only;
the SQL text is fixed and only the filters that are set add their fixed clause.

Filters:

- ``who``: the user name exactly (case-insensitive, trimmed); a trailing ``*`` makes it a prefix,
  so ``os:*`` finds every command run at a shell and ``ann*`` both ``ann`` and ``anna``.
- ``actions``: any of these actions (:func:`audit_actions` lists those present).
- ``since`` / ``until``: a date is a whole UTC day, both ends included; a datetime is an instant,
  ``since`` included and ``until`` excluded.
- ``customer``: a pseudonym ``C-`` + 12 hex digits (:func:`analytics.access.privacy.pseudonymize_ids`).
  An audit row is about a customer when its target or its details carry that pseudonym as a whole
  token (``"customer": "C-..."`` in the details, ``customer:C-...`` as target), whichever
  convention the writer used. Audit rows never need rewriting to be found, and a raw customer
  number in a row is never matched: rows must carry pseudonyms (issue 15).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

import polars as pl

from analytics.common.exports import write_safe_csv
from analytics.store.audit_chain import ChainVerification
from analytics.store.contracts import AUDIT_LOG
from analytics.store.database import Database

DEFAULT_LIMIT = 1_000
MAX_LIMIT = 100_000
PSEUDONYM_PATTERN = re.compile(r"C-[0-9a-f]{12}")
# A pseudonym inside a longer word or hex string is no reference to the customer.
_WHOLE_WORD = r"(^|[^0-9A-Za-z_-])({pseudonym})([^0-9A-Za-z_-]|$)"
_FOUND_PSEUDONYM = _WHOLE_WORD.format(pseudonym=PSEUDONYM_PATTERN.pattern)

MSG_BAD_PSEUDONYM = "A customer is searched by pseudonym: C- and 12 hex digits, e.g. C-1a2b3c4d5e6f."
MSG_BAD_LIMIT = f"The row limit must be between 1 and {MAX_LIMIT:,}."
MSG_BAD_PERIOD = "The start of the period lies after its end."

AUDIT_COLUMNS: tuple[str, ...] = ("event_id", "ts", "username", "role", "action", "target", "details")
"""Columns the viewer shows (the seal stays out: it means nothing to a reader)."""


@dataclass(frozen=True)
class AuditLogView:
    """What the audit-log page shows: the rows, how many match, and whether the chain is intact.

    Parameters
    ----------
    rows : polars.DataFrame
        The newest matching rows (:func:`read_audit_log`).
    total : int
        All matching rows; more than ``rows.height`` when the limit cut them.
    chain : ChainVerification
        The result of checking every seal (:meth:`Database.verify_audit`): ``ok``, ``rows``,
        ``problem``, ``first_broken_event_id``, ``head_event_id``, ``head_hmac``.
    """

    rows: pl.DataFrame
    total: int
    chain: ChainVerification


def _bounds(since: date | datetime | None, until: date | datetime | None) -> tuple[Any, Any]:
    start = datetime.combine(since, time()) if type(since) is date else since
    end = datetime.combine(until + timedelta(days=1), time()) if type(until) is date else until
    if start is not None and end is not None and start >= end:
        raise ValueError(MSG_BAD_PERIOD)
    return start, end


def _where(
    *,
    who: str | None,
    actions: Sequence[str] | None,
    since: date | datetime | None,
    until: date | datetime | None,
    customer: str | None,
) -> tuple[str, list[Any]]:
    """The fixed WHERE clause of the filters that are set, and their bound values."""
    clauses: list[str] = []
    params: list[Any] = []
    name = (who or "").strip().lower()
    if name.endswith("*"):
        clauses.append("starts_with(lower(username), ?)")
        params.append(name[:-1])
    elif name:
        clauses.append("lower(username) = ?")
        params.append(name)
    if actions:
        clauses.append("action IN (SELECT unnest(?))")
        params.append([str(a) for a in actions])
    start, end = _bounds(since, until)
    if start is not None:
        clauses.append("ts >= ?")
        params.append(start)
    if end is not None:
        clauses.append("ts < ?")
        params.append(end)
    if customer is not None and customer.strip():
        pseudonym = customer.strip()
        if not PSEUDONYM_PATTERN.fullmatch(pseudonym):
            raise ValueError(MSG_BAD_PSEUDONYM)
        token = _WHOLE_WORD.format(pseudonym=pseudonym)
        clauses.append(
            "(regexp_matches(coalesce(target, ''), ?) OR regexp_matches(coalesce(details, ''), ?))"
        )
        params.extend([token, token])
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def read_audit_log(
    db: Database,
    *,
    who: str | None = None,
    actions: Sequence[str] | None = None,
    since: date | datetime | None = None,
    until: date | datetime | None = None,
    customer: str | None = None,
    limit: int = DEFAULT_LIMIT,
) -> pl.DataFrame:
    """The newest audit rows that match every filter given (see the module docstring).

    Parameters
    ----------
    db : Database
        The database.
    who : str, optional
        User name, exact; ending in ``*`` a prefix. Case-insensitive.
    actions : sequence of str, optional
        Any of these actions.
    since, until : datetime.date or datetime.datetime, optional
        The period: dates are whole UTC days (both included), datetimes instants (``until`` excluded).
    customer : str, optional
        A customer pseudonym ``C-`` + 12 hex digits.
    limit : int
        At most this many rows, newest first (1 to :data:`MAX_LIMIT`).

    Returns
    -------
    polars.DataFrame
        ``event_id``, ``ts`` (UTC), ``username``, ``role``, ``action``, ``target``, ``details``
        (JSON text) and ``customers`` (the pseudonyms the row mentions, comma-separated, or null),
        newest first.

    Raises
    ------
    ValueError
        For a malformed pseudonym (:data:`MSG_BAD_PSEUDONYM`), a limit out of range
        (:data:`MSG_BAD_LIMIT`) or a period that ends before it starts (:data:`MSG_BAD_PERIOD`).

    Examples
    --------
    >>> db = Database(":memory:")
    >>> db.ensure_schema()
    >>> db.write_audit(username="ann", role="admin", action="sign_in", target="sign_in")
    >>> read_audit_log(db, who="ANN").get_column("action").to_list()
    ['sign_in']
    """
    if not 1 <= int(limit) <= MAX_LIMIT:
        raise ValueError(MSG_BAD_LIMIT)
    where, params = _where(who=who, actions=actions, since=since, until=until, customer=customer)
    columns = ", ".join(AUDIT_COLUMNS)
    # Fixed text: the table and columns come from the contract, every value is bound.
    mentioned = "regexp_extract_all(coalesce(target, '') || ' ' || coalesce(details, ''), ?, 2)"
    sql = (
        f"SELECT {columns}, nullif(array_to_string(list_sort(list_distinct({mentioned})), ', '), '')"  # noqa: S608 - contract names, values bound
        f' AS customers FROM "{AUDIT_LOG.name}"{where} ORDER BY event_id DESC LIMIT ?'
    )
    return db.query(sql, [_FOUND_PSEUDONYM, *params, int(limit)])


def count_audit_log(
    db: Database,
    *,
    who: str | None = None,
    actions: Sequence[str] | None = None,
    since: date | datetime | None = None,
    until: date | datetime | None = None,
    customer: str | None = None,
) -> int:
    """How many audit rows match the filters (the same as :func:`read_audit_log`, without a limit).

    Parameters
    ----------
    db : Database
        The database.
    who, actions, since, until, customer
        As in :func:`read_audit_log`.

    Returns
    -------
    int
        The number of matching rows.
    """
    where, params = _where(who=who, actions=actions, since=since, until=until, customer=customer)
    return int(db.query(f'SELECT count(*) AS n FROM "{AUDIT_LOG.name}"{where}', params).item())  # noqa: S608 - contract name, values bound


def audit_actions(db: Database) -> list[str]:
    """The actions present in the audit log, sorted: the choices of the action filter.

    Parameters
    ----------
    db : Database
        The database.

    Returns
    -------
    list of str
        Distinct actions.
    """
    rows = db.query(f'SELECT DISTINCT action FROM "{AUDIT_LOG.name}" ORDER BY action')  # noqa: S608 - contract name
    return rows.get_column("action").to_list()


def audit_log_view(
    db: Database,
    *,
    who: str | None = None,
    actions: Sequence[str] | None = None,
    since: date | datetime | None = None,
    until: date | datetime | None = None,
    customer: str | None = None,
    limit: int = DEFAULT_LIMIT,
    chain: ChainVerification | None = None,
) -> AuditLogView:
    """The rows, the total and the chain status in one call (what the page draws).

    Parameters
    ----------
    db : Database
        The database.
    who, actions, since, until, customer, limit
        As in :func:`read_audit_log`.
    chain : ChainVerification, optional
        A verification of the log as it is now (a caller that keeps one per :func:`audit_head`);
        checked here when omitted.

    Returns
    -------
    AuditLogView
        Rows, total matching and the chain verification of the whole log.

    Raises
    ------
    ValueError
        As :func:`read_audit_log`.
    """
    filters = {"who": who, "actions": actions, "since": since, "until": until, "customer": customer}
    rows = read_audit_log(db, **filters, limit=limit)
    total = count_audit_log(db, **filters)
    return AuditLogView(rows=rows, total=total, chain=chain if chain is not None else db.verify_audit())


def audit_head(db: Database) -> int | None:
    """The newest audit row's event id (None for an empty log): what a kept verification is valid for.

    The log only grows (nothing updates or deletes its rows), and the running app holds the
    database file alone, so a verification of the chain up to this id stays true until it moves.
    """
    return db.query(f'SELECT max(event_id) AS head FROM "{AUDIT_LOG.name}"').item()  # noqa: S608 - contract name


def audit_log_csv(rows: pl.DataFrame) -> bytes:
    """The rows as UTF-8 CSV bytes, cells a spreadsheet would run as formulas guarded.

    User names typed at a failed sign-in and free-text details can start with ``=``;
    :func:`analytics.common.exports.write_safe_csv` prefixes them with a quote.

    Parameters
    ----------
    rows : polars.DataFrame
        Rows from :func:`read_audit_log`.

    Returns
    -------
    bytes
        The CSV file's content.
    """
    return (write_safe_csv(rows) or "").encode("utf-8")


def record_audit_export(
    db: Database,
    *,
    username: str,
    role: str | None,
    rows: int,
    who: str | None = None,
    actions: Sequence[str] | None = None,
    since: date | datetime | None = None,
    until: date | datetime | None = None,
    customer: str | None = None,
) -> None:
    """Record in the audit log that ``username`` exported audit rows (action ``export``).

    Call it before the file is handed over: an export that cannot be audited does not happen.

    Parameters
    ----------
    db : Database
        The database.
    username, role : str
        Who exported.
    rows : int
        Rows in the file.
    who, actions, since, until, customer
        The filters the rows were read with (the customer as its pseudonym).
    """
    db.write_audit(
        username=username,
        role=role,
        action="export",
        target=AUDIT_LOG.name,
        details={
            "rows": rows,
            "who": who,
            "actions": list(actions) if actions else None,
            "since": since,
            "until": until,
            "customer": customer,
        },
    )
