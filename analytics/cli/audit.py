"""``audit verify``: check the audit log's HMAC chain and name the first broken row.

Exit code 0 when every seal matches, 1 when one does not (or the database cannot be read);
with ``--json`` the result is printed either way, so a scheduled job can keep the head (last
event id and seal) outside the database and compare it next time (docs/security.md).
"""

from __future__ import annotations

import argparse

from analytics.cli.common import emit, progress
from analytics.store.database import open_database


def cmd_audit(args: argparse.Namespace) -> int:
    """Verify the chain of seals over the whole audit log."""
    db = open_database(args.db, read_only=True)
    try:
        result = db.verify_audit()
        path = db.path
    finally:
        db.close()
    payload = {"db": path, **vars(result)}
    emit(payload, as_json=args.json, text=lambda: _text(payload))
    if not result.ok:
        progress(f"error: the audit log's chain is broken at event_id {result.first_broken_event_id}")
    return 0 if result.ok else 1


def _text(payload: dict) -> str:
    if payload["ok"]:
        head = f"head event_id {payload['head_event_id']}, seal {payload['head_hmac']}"
        return f"audit log intact: {payload['rows']:,} rows, every seal matches; {head}"
    return f"audit log BROKEN: {payload['problem']} ({payload['rows']:,} rows checked)"


def add_parsers(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``audit verify`` to the command parser."""
    nested = argparse.ArgumentParser(add_help=False)
    nested.add_argument("--db", default=argparse.SUPPRESS, help="DuckDB file")
    nested.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print JSON")
    audit = sub.add_parser("audit", parents=[common], help="check the audit log's tamper-evident chain")
    actions = audit.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser(
        "verify", parents=[nested], help="check every row's HMAC seal; name the first broken row"
    )
    audit.set_defaults(func=cmd_audit)
