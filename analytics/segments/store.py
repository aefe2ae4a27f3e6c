"""Saved segments: the customer groups analysts name and keep, and that other pages filter by.

A saved segment is a version of a named set of customers (``segments`` and
``segment_members``): saving the same name again makes version 2, 3, ... and keeps the
earlier ones. Segments stay when new data is loaded (they are the analysts' work);
``data_as_of`` tells which data their members come from, and the pages mark a segment
made on other data as such. Every save and every export is written to the audit log.

Consent (docs/privacy.md): a segment is a profile, so it holds only customers who consented to
profiling (:func:`save_segment` leaves the others out, :func:`segment_members` drops a member who
withdrew since); its export is a marketing list, so it names only members who consent to
marketing and to profiling and whose account is open (:func:`export_segment`), with personal
data masked per role (:mod:`analytics.access.privacy`).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal, get_args

import ibis
import polars as pl

from analytics.access.consent import marketing_reachable, profiling_consented
from analytics.access.privacy import mask_personal_data, pseudonym_key, sees_raw_personal_data
from analytics.common.docs import shared_docs
from analytics.store.contracts import SEGMENT_MEMBERS, SEGMENTS
from analytics.store.database import Database

SegmentSource = Literal["clustering", "map_selection", "upload"]
SEGMENT_SOURCES: tuple[str, ...] = get_args(SegmentSource)
MAX_NAME_LENGTH = 80
MIN_SEGMENT_CUSTOMERS = 50
"""Below this many members a segment is saved with a warning: too small to read KPIs from."""

MSG_EMPTY_NAME = "Give the segment a name."
MSG_LONG_NAME = "A segment name has at most {most} characters; this one has {length}."
MSG_NO_MEMBERS = "The segment has no customers: nothing to save."
MSG_BAD_SOURCE = "Unknown segment source {source!r}: one of {choices}."
MSG_UNKNOWN_SEGMENT = "No saved segment {segment!r}."
MSG_UNKNOWN_CUSTOMERS = (
    "{count:,} of the customers are not in the bank's data (e.g. {example}); nothing was saved."
)
MSG_NO_CONSENTING_MEMBERS = (
    "None of the {count:,} customers consented to profiling: a segment is a profile, so nothing was saved."
)
MSG_LEFT_OUT_NO_CONSENT = "{count:,} customers without profiling consent were left out of the segment."
MSG_SMALL_SEGMENT = "The segment has {count:,} customers, fewer than {least}: its KPIs will be noisy."


@dataclass(frozen=True)
class SavedSegment:
    """One saved version of a segment.

    Parameters
    ----------
    segment_id : str
        Identifier of this version (12 hex digits).
    name : str
        The analyst's name.
    version : int
        1 for the first save of the name, then 2, 3, ...
    customers : int
        Number of members.
    warnings : tuple of str
        E.g. customers left out for lack of profiling consent
        (:data:`MSG_LEFT_OUT_NO_CONSENT`), a segment under :data:`MIN_SEGMENT_CUSTOMERS` customers.
    """

    segment_id: str
    name: str
    version: int
    customers: int
    warnings: tuple[str, ...] = ()


def save_segment(
    db: Database,
    *,
    name: str,
    customer_ids: Iterable[int],
    source: SegmentSource,
    created_by: str,
    role: str | None = None,
    parameters: Mapping[str, Any] | None = None,
    description: str | None = None,
) -> SavedSegment:
    """Save a named set of customers as a new version, in one transaction, and audit it.

    Parameters
    ----------
    db : Database
        The bank, read-write.
    name : str
        The segment's name (trimmed; 1 to :data:`MAX_NAME_LENGTH` characters).
    customer_ids : iterable of int
        The members (duplicates are dropped); every one must be a customer of the bank. Those
        without profiling consent are left out (a warning says how many).
    source : {"clustering", "map_selection", "upload"}
        How it was made.
    created_by : str
        The user saving it.
    role : str, optional
        Their role, for the audit log.
    parameters : mapping, optional
        How to remake it (feature set, algorithm, k, cluster, ...), stored as JSON.
    description : str, optional
        Free text.

    Returns
    -------
    SavedSegment
        The new version.

    Raises
    ------
    ValueError
        For an empty or too long name, no members, an unknown source, members that are
        not customers of the bank, or no member with profiling consent
        (:data:`MSG_NO_CONSENTING_MEMBERS`); nothing is written then.
    """
    clean = (name or "").strip()
    if not clean:
        raise ValueError(MSG_EMPTY_NAME)
    if len(clean) > MAX_NAME_LENGTH:
        raise ValueError(MSG_LONG_NAME.format(most=MAX_NAME_LENGTH, length=len(clean)))
    if source not in SEGMENT_SOURCES:
        raise ValueError(MSG_BAD_SOURCE.format(source=source, choices=", ".join(SEGMENT_SOURCES)))
    members = pl.Series("customer_id", list(customer_ids), dtype=pl.Int64).unique().sort()
    if members.is_empty():
        raise ValueError(MSG_NO_MEMBERS)
    known = db.backend().table("customers").select("customer_id").to_polars().get_column("customer_id")
    unknown = members.filter(~members.is_in(known.implode()))
    if unknown.len():
        raise ValueError(MSG_UNKNOWN_CUSTOMERS.format(count=unknown.len(), example=unknown[0]))
    consenting = profiling_consented(db.backend()).to_polars().get_column("customer_id")
    asked = members.len()
    members = members.filter(members.is_in(consenting.implode()))
    if members.is_empty():
        raise ValueError(MSG_NO_CONSENTING_MEMBERS.format(count=asked))
    versions = db.query(f'SELECT max(version) AS v FROM "{SEGMENTS.name}" WHERE name = ?', [clean])  # noqa: S608 - name from the contracts, values bound
    version = int(versions.item() or 0) + 1
    segment_id = uuid.uuid4().hex[:12]
    record = pl.DataFrame(
        {
            "segment_id": [segment_id],
            "name": [clean],
            "version": [version],
            "description": [description],
            "source": [source],
            "parameters": [json.dumps(dict(parameters or {}), default=str, sort_keys=True)],
            "created_by": [created_by],
            "created_at": [datetime.now(UTC).replace(tzinfo=None, microsecond=0)],
            "data_as_of": [db.snapshot_date()],
            "customers": [members.len()],
        },
        schema=SEGMENTS.schema,
    )
    rows = pl.DataFrame({"segment_id": segment_id, "customer_id": members}, schema=SEGMENT_MEMBERS.schema)
    db.append_rows({SEGMENTS.name: record, SEGMENT_MEMBERS.name: rows})
    db.write_audit(
        username=created_by,
        role=role,
        action="save_segment",
        target=segment_id,
        details={
            "name": clean,
            "version": version,
            "customers": members.len(),
            "source": source,
            "left_out_no_consent": asked - members.len(),
        },
    )
    warnings: tuple[str, ...] = ()
    if asked > members.len():
        warnings += (MSG_LEFT_OUT_NO_CONSENT.format(count=asked - members.len()),)
    if members.len() < MIN_SEGMENT_CUSTOMERS:
        warnings += (MSG_SMALL_SEGMENT.format(count=members.len(), least=MIN_SEGMENT_CUSTOMERS),)
    return SavedSegment(segment_id, clean, version, members.len(), warnings)


@shared_docs
def list_segments(backend: ibis.BaseBackend, *, as_of: date | None = None) -> pl.DataFrame:
    """Saved segments, newest first, with whether each is the latest version of its name.

    Parameters
    ----------
    {backend}
    as_of : datetime.date, optional
        The current data's snapshot date: adds ``current`` (the members come from this data).

    Returns
    -------
    polars.DataFrame
        The ``segments`` columns, ``latest`` (bool) and, with ``as_of``, ``current`` (bool).
    """
    frame = backend.table(SEGMENTS.name).to_polars().sort("created_at", "version", descending=True)
    frame = frame.with_columns(latest=pl.col("version") == pl.col("version").max().over("name"))
    if as_of is not None:
        frame = frame.with_columns(current=pl.col("data_as_of") == as_of)
    return frame


def segment_label(row: Mapping[str, Any]) -> str:
    """``Name (v2, 1,234 customers)`` for a row of :func:`list_segments`."""
    return f"{row['name']} (v{row['version']}, {row['customers']:,} customers)"


def segment_members(backend: ibis.BaseBackend, segment_id: str) -> pl.Series:
    """Customer ids of one saved segment version who consent to profiling now (sorted).

    A member who withdrew profiling consent after the save is left out.

    Raises
    ------
    ValueError
        When no segment has this id.
    """
    segments = backend.table(SEGMENTS.name)
    if segments.filter(segments.segment_id == segment_id).count().to_polars() == 0:
        raise ValueError(MSG_UNKNOWN_SEGMENT.format(segment=segment_id))
    members = backend.table(SEGMENT_MEMBERS.name)
    found = (
        members.filter(members.segment_id == segment_id)
        .semi_join(profiling_consented(backend), "customer_id")
        .select("customer_id")
        .order_by("customer_id")
    )
    return found.to_polars().get_column("customer_id")


def export_segment(
    db: Database, segment_id: str, *, username: str, role: str | None
) -> tuple[pl.DataFrame, int]:
    """Members of a segment for a marketing list: consent applied, personal data per role, audited.

    A marketing list built from a profile names only members who consent to marketing and to
    profiling and whose account is open on the snapshot
    (:func:`analytics.access.consent.marketing_reachable`).

    Parameters
    ----------
    db : Database
        The bank (the export is written to the audit log).
    segment_id : str
        The segment version.
    username, role : str
        Who exports.

    Returns
    -------
    tuple of (polars.DataFrame, int)
        ``customer_id, first_name, last_name, email, phone, region, preferred_channel`` of the
        reachable members (masked unless ``role`` may see raw personal data), and the number
        of members left out (no marketing or profiling consent, or closed).
    """
    backend = db.backend()
    members = segment_members(backend, segment_id)
    stored = backend.table(SEGMENT_MEMBERS.name)
    saved = stored.filter(stored.segment_id == segment_id).count().to_polars()
    reachable = marketing_reachable(backend, as_of=db.snapshot_date(), from_profile=True)
    customers = backend.table("customers")
    rows = (
        customers.filter(customers.customer_id.isin(members.to_list()))
        .semi_join(reachable, "customer_id")
        .select(
            "customer_id",
            "first_name",
            "last_name",
            "email",
            "phone",
            "region",
            "preferred_channel",
        )
        .order_by("customer_id")
        .to_polars()
    )
    left_out = int(saved) - rows.height
    shown = mask_personal_data(rows, role, key=pseudonym_key(db))
    db.write_audit(
        username=username,
        role=role,
        action="export_segment",
        target=segment_id,
        details={
            "rows": shown.height,
            "left_out_no_consent_or_closed": left_out,
            "raw": sees_raw_personal_data(role),
        },
    )
    return shown, left_out
