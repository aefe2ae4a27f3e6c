"""The audit log's HMAC chain: how a row is sealed, and how the chain is checked.

Each audit row carries ``chain_hmac`` = HMAC-SHA256, under the audit key
(:mod:`analytics.store.keys`, never in the database), of the row's own fields and
the previous row's ``chain_hmac``. Editing a row breaks its own seal; removing or
inserting a row breaks the seal of the row after it; a forger without the key
cannot compute a new seal. What the chain cannot show on its own is a cut-off
tail (the newest rows removed): :func:`verify_chain` reports the head (last id
and seal) so that a scheduled job can keep it elsewhere and compare
(docs/security.md).

HMAC-SHA256 (RFC 2104) from the standard library is the construction; only the
serialisation of a row is ours, and it is fixed here: a JSON array of the
fields in contract order with the timestamp in ISO format.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

GENESIS = "0" * 64
"""The 'previous seal' of the first row."""

SEALED_FIELDS: tuple[str, ...] = ("event_id", "ts", "username", "role", "action", "target", "details")

MSG_BROKEN_SEAL = (
    "row event_id {event_id}: its seal does not match its contents and the row before it "
    "(the row was edited, or a row before it was removed or inserted)"
)
MSG_UNSEALED = "row event_id {event_id}: it has no seal (written or changed outside the app)"
MSG_GAP_HINT = " (event ids jump from {previous} to {event_id}: rows may be missing)"


def _canonical(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def seal(key: bytes, previous: str, row: Mapping[str, Any]) -> str:
    """HMAC-SHA256 hex of one audit row chained to the previous row's seal.

    Parameters
    ----------
    key : bytes
        The audit key.
    previous : str
        The previous row's ``chain_hmac`` (:data:`GENESIS` for the first row).
    row : mapping
        The row's :data:`SEALED_FIELDS`.

    Returns
    -------
    str
        64 hex digits.

    Examples
    --------
    >>> row = dict(event_id=1, ts=datetime(2026, 1, 1), username="a", role=None,
    ...            action="sign_in", target="sign_in", details="{}")
    >>> len(seal(b"k" * 32, GENESIS, row))
    64
    """
    payload = json.dumps(
        [previous, *(_canonical(row[name]) for name in SEALED_FIELDS)],
        ensure_ascii=True,
        separators=(",", ":"),
    )
    return hmac.new(key, payload.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class ChainVerification:
    """The outcome of checking the audit chain."""

    ok: bool
    rows: int
    first_broken_event_id: int | None
    problem: str | None
    head_event_id: int | None
    head_hmac: str | None


def verify_chain(key: bytes, rows: Iterable[Mapping[str, Any]]) -> ChainVerification:
    """Check every seal of audit rows given in ``event_id`` order; name the first broken row.

    Parameters
    ----------
    key : bytes
        The audit key.
    rows : iterable of mappings
        Rows with :data:`SEALED_FIELDS` and ``chain_hmac``, ordered by ``event_id``.

    Returns
    -------
    ChainVerification
        ``ok`` when every seal matches; otherwise the first row whose seal fails and why,
        and the head (last row's id and seal) in both cases.
    """
    previous = GENESIS
    previous_id: int | None = None
    count = 0
    head_id: int | None = None
    head_hmac: str | None = None
    broken: tuple[int, str] | None = None
    for row in rows:
        count += 1
        event_id = int(row["event_id"])
        stored = row.get("chain_hmac")
        if broken is None:
            if not stored:
                broken = (event_id, MSG_UNSEALED.format(event_id=event_id))
            elif not hmac.compare_digest(stored, seal(key, previous, row)):
                problem = MSG_BROKEN_SEAL.format(event_id=event_id)
                if previous_id is not None and event_id != previous_id + 1:
                    problem += MSG_GAP_HINT.format(previous=previous_id, event_id=event_id)
                broken = (event_id, problem)
        previous = stored or ""
        previous_id = event_id
        head_id, head_hmac = event_id, stored
    return ChainVerification(
        ok=broken is None,
        rows=count,
        first_broken_event_id=broken[0] if broken else None,
        problem=broken[1] if broken else None,
        head_event_id=head_id,
        head_hmac=head_hmac,
    )
