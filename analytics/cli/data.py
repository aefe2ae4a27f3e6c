"""``sample-data`` and ``users``: build the sample bank, manage the sign-in users.

The generator and the user store are imported inside their commands: the generator pulls in
faker, the user store argon2 (about 0.3 and 0.4 s of a 0.9 s start when imported up front), which
``--help`` and every other command would pay (see ``main``).
"""

from __future__ import annotations

import argparse
import getpass
import sys
import time
from collections.abc import Sequence
from typing import Any

from analytics.cli.common import CliError, emit, progress
from analytics.common.types import ROLES
from analytics.store.contracts import AUDIT_LOG, FAIRNESS_SIGNOFFS, USERS
from analytics.store.database import Database, DatabaseError, open_database, resolve_db_path

MSG_BAD_CUSTOMERS = "--customers must be between {low:,} and {high:,} (got {value:,})."
MAX_SAMPLE_CUSTOMERS = 1_000_000
MIN_SAMPLE_CUSTOMERS = 100
MSG_WOULD_LOSE = (
    "{path} holds {what}, which a new sample bank would not keep. Pass --force to replace it "
    "anyway (back it up first), or --if-missing to keep it."
)
MSG_UNREADABLE_TARGET = (
    "{path} exists but could not be read to check what replacing it would lose ({reason}). "
    "Pass --force to replace it anyway."
)
# The app's own records a rebuilt sample bank starts without, with their names in the refusal.
_KEPT_RECORDS = (
    (USERS.name, "user", "users"),
    (FAIRNESS_SIGNOFFS.name, "fairness sign-off", "fairness sign-offs"),
    (AUDIT_LOG.name, "audit row", "audit rows"),
)
MSG_NO_PASSWORD = "No password given: type it at the prompt or pipe it with --password-stdin."  # noqa: S105 - a message, not a password


def cmd_sample_data(args: argparse.Namespace) -> int:
    """Build the sample bank (all or nothing) at --db."""
    from sample_data import build_sample_database  # faker: see the docstring

    path = resolve_db_path(args.db)
    if not MIN_SAMPLE_CUSTOMERS <= args.customers <= MAX_SAMPLE_CUSTOMERS:
        raise CliError(
            MSG_BAD_CUSTOMERS.format(
                low=MIN_SAMPLE_CUSTOMERS, high=MAX_SAMPLE_CUSTOMERS, value=args.customers
            )
        )
    if args.if_missing and path.exists():
        progress(f"sample database present at {path}; nothing to do")
        return 0
    if path.exists() and not args.force:
        _refuse_to_lose_records(path)
    started = time.perf_counter()
    progress(f"building the sample bank: {args.customers:,} customers, seed {args.seed} -> {path}")
    truth = build_sample_database(
        path, customers=args.customers, seed=args.seed, truth_path=args.truth, progress=progress
    )
    seconds = time.perf_counter() - started
    summary = {"db": str(path), "customers": args.customers, "seed": args.seed, "seconds": round(seconds, 1)}
    progress(f"done in {seconds:.1f} s")
    if args.json:
        emit(summary | {"truth_keys": sorted(truth)}, as_json=True, text=str)
    return 0


def _refuse_to_lose_records(path) -> None:
    """Raise CliError naming what the existing database at ``path`` would lose, if anything."""
    try:
        db = Database(path, read_only=True)
    except DatabaseError as exc:
        raise CliError(MSG_UNREADABLE_TARGET.format(path=path, reason=exc)) from exc
    try:
        present = set(
            db.query("select table_name from information_schema.tables where table_schema = 'main'")
            .get_column("table_name")
            .to_list()
        )
        counts = {
            table: int(db.query(f'select count(*) from "{table}"').item())  # noqa: S608 - names from the contracts
            for table, _, _ in _KEPT_RECORDS
            if table in present
        }
    except Exception as exc:  # noqa: BLE001 - any failure to read is reported, never a replace
        raise CliError(MSG_UNREADABLE_TARGET.format(path=path, reason=str(exc).splitlines()[0])) from exc
    finally:
        db.close()
    lost = [
        f"{counts[table]:,} {one if counts[table] == 1 else many}"
        for table, one, many in _KEPT_RECORDS
        if counts.get(table)
    ]
    if lost:
        what = lost[0] if len(lost) == 1 else f"{', '.join(lost[:-1])} and {lost[-1]}"
        raise CliError(MSG_WOULD_LOSE.format(path=path, what=what))


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    elif sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Repeat password: ") != password:
            raise CliError("The two passwords differ.")
    else:
        password = ""
    if not password:
        raise CliError(MSG_NO_PASSWORD)
    return password


def cmd_users(args: argparse.Namespace) -> int:
    """Manage the local user store: add, remove, list, unlock, demo."""
    from analytics.access import auth  # argon2: see the docstring

    actor = auth.os_actor()  # the login running the command, recorded as who did it
    db = open_database(args.db)
    try:
        if args.action == "add":
            # A password typed here is known to whoever typed it: the user sets their own at first sign-in.
            user = auth.add_user(
                db,
                args.username,
                _read_password(args),
                args.role,
                replace=args.replace,
                must_change_password=True,
                actor=actor,
            )
            emit(user, as_json=args.json, text=lambda: f"added {user.username} ({user.role})")
        elif args.action == "remove":
            auth.remove_user(db, args.username, actor=actor)
            emit({"removed": args.username}, as_json=args.json, text=lambda: f"removed {args.username}")
        elif args.action == "unlock":
            auth.unlock_user(db, args.username, actor=actor)
            emit({"unlocked": args.username}, as_json=args.json, text=lambda: f"unlocked {args.username}")
        elif args.action == "list":
            users = auth.list_users(db)
            emit(users, as_json=args.json, text=lambda: str(users))
        elif args.action == "demo":
            created = auth.create_demo_users(db, actor=actor)
            emit(created, as_json=args.json, text=lambda: _demo_text(created))
    except auth.UserError as exc:
        raise CliError(str(exc)) from exc
    finally:
        db.close()
    return 0


def _demo_text(created: Sequence[Any]) -> str:
    if not created:
        return "Users exist already; no demo users created."
    lines = [
        "Demo users created. Their passwords are shown this once and stored only as hashes:",
        *(f"  {u.role:<20} user {u.username:<28} password {u.password}" for u in created),
        "Reset one with: python -m analytics users add NAME --role ROLE --replace",
    ]
    return "\n".join(lines)


def add_parsers(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``sample-data`` and ``users`` (with its actions) to the command parser."""
    sample = sub.add_parser("sample-data", parents=[common], help="build the sample bank (all or nothing)")
    sample.add_argument("--customers", type=int, default=20_000, help="number of customers (default 20000)")
    sample.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    sample.add_argument("--truth", help="where to write the planted truths (default sample_data/truth.json)")
    sample.add_argument("--if-missing", action="store_true", help="do nothing if the database exists")
    sample.add_argument(
        "--force",
        action="store_true",
        help="replace an existing database even if it holds users, fairness sign-offs or audit rows",
    )
    sample.set_defaults(func=cmd_sample_data)

    # The same options on nested actions must not reset what was given before the action
    # (``users --db X list``), so there they have no default of their own.
    nested = argparse.ArgumentParser(add_help=False)
    nested.add_argument("--db", default=argparse.SUPPRESS, help="DuckDB file")
    nested.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print JSON")

    users = sub.add_parser(
        "users", parents=[common], help="manage sign-in users: add, remove, list, unlock, demo"
    )
    users_sub = users.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = users_sub.add_parser("add", parents=[nested], help="add a user (password prompted or from stdin)")
    add.add_argument("username")
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    add.add_argument(
        "--replace",
        action="store_true",
        help="overwrite an existing user (password reset; the user sets a new one at next sign-in)",
    )
    remove = users_sub.add_parser("remove", parents=[nested], help="remove a user")
    remove.add_argument("username")
    unlock = users_sub.add_parser("unlock", parents=[nested], help="clear a user name's failed sign-ins")
    unlock.add_argument("username")
    users_sub.add_parser("list", parents=[nested], help="list users, roles, last sign-in, lock state")
    users_sub.add_parser(
        "demo",
        parents=[nested],
        help="create one demo user per role if there are no users; print passwords once",
    )
    users.set_defaults(func=cmd_users)
