"""``python -m analytics``: the computations of the pages, for batch jobs and checks.

Every command accepts ``--db PATH`` (default: ``TAILOR_DB``, else
sample_data/bank.duckdb) and prints JSON with ``--json``. Progress lines go to
standard error so that standard output stays machine-readable. Exit codes: 0
success, 1 refused (bad input, missing database), 2 usage error.
"""

from __future__ import annotations

import argparse
import dataclasses
import getpass
import json
import sys
import time
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any

import polars as pl

from analytics.db import DatabaseError, DataValidationError, open_database, resolve_db_path
from analytics.formatting import format_change, format_interval, format_value
from analytics.schemas import AGE_BANDS, PRODUCT_IDS, REGIONS, ROLES, KpiFilters

MSG_BAD_MONTH = "{flag} must be a month as YYYY-MM (got {value!r})."
MSG_BAD_CUSTOMERS = "--customers must be between {low:,} and {high:,} (got {value:,})."
MAX_SAMPLE_CUSTOMERS = 1_000_000
MIN_SAMPLE_CUSTOMERS = 100
MSG_OUTSIDE_DATA = "--start/--end must lie within the full months of data: {first:%Y-%m} to {last:%Y-%m}."
MSG_NO_PASSWORD = "No password given: type it at the prompt or pipe it with --password-stdin."


class CliError(Exception):
    """A refusal with a message for the person at the terminal."""


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _to_jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, pl.DataFrame):
        return [_to_jsonable(row) for row in value.to_dicts()]
    if isinstance(value, dict):
        return {str(k): _to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_jsonable(v) for v in value]
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, float) and value != value:  # NaN never reaches the output
        return None
    return value


def _emit(payload: Any, *, as_json: bool, text: Callable[[], str]) -> None:
    if as_json:
        print(json.dumps(_to_jsonable(payload), indent=2, sort_keys=False))
    else:
        print(text())


def _parse_month(value: str | None, flag: str) -> date | None:
    if value is None:
        return None
    try:
        parsed = datetime.strptime(value, "%Y-%m")
    except ValueError as exc:
        raise CliError(MSG_BAD_MONTH.format(flag=flag, value=value)) from exc
    return date(parsed.year, parsed.month, 1)


# -- sample-data ------------------------------------------------------------------------
def cmd_sample_data(args: argparse.Namespace) -> int:
    """Build the sample bank (all or nothing) at --db."""
    from sample_data import build_sample_database

    path = resolve_db_path(args.db)
    if not MIN_SAMPLE_CUSTOMERS <= args.customers <= MAX_SAMPLE_CUSTOMERS:
        raise CliError(
            MSG_BAD_CUSTOMERS.format(
                low=MIN_SAMPLE_CUSTOMERS, high=MAX_SAMPLE_CUSTOMERS, value=args.customers
            )
        )
    if args.if_missing and path.exists():
        _progress(f"sample database present at {path}; nothing to do")
        return 0
    started = time.perf_counter()
    _progress(f"building the sample bank: {args.customers:,} customers, seed {args.seed} -> {path}")
    truth = build_sample_database(
        path, customers=args.customers, seed=args.seed, truth_path=args.truth, progress=_progress
    )
    seconds = time.perf_counter() - started
    summary = {"db": str(path), "customers": args.customers, "seed": args.seed, "seconds": round(seconds, 1)}
    _progress(f"done in {seconds:.1f} s")
    if args.json:
        _emit(summary | {"truth_keys": sorted(truth)}, as_json=True, text=str)
    return 0


# -- users ------------------------------------------------------------------------------
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
    from analytics import auth

    db = open_database(args.db)
    try:
        if args.action == "add":
            user = auth.add_user(db, args.username, _read_password(args), args.role, replace=args.replace)
            _emit(user, as_json=args.json, text=lambda: f"added {user.username} ({user.role})")
        elif args.action == "remove":
            auth.remove_user(db, args.username)
            _emit({"removed": args.username}, as_json=args.json, text=lambda: f"removed {args.username}")
        elif args.action == "unlock":
            auth.unlock_user(db, args.username)
            _emit({"unlocked": args.username}, as_json=args.json, text=lambda: f"unlocked {args.username}")
        elif args.action == "list":
            users = auth.list_users(db)
            _emit(users, as_json=args.json, text=lambda: str(users))
        elif args.action == "demo":
            created = auth.create_demo_users(db)
            _emit(created, as_json=args.json, text=lambda: _demo_text(created))
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


# -- kpis -------------------------------------------------------------------------------
def cmd_kpis(args: argparse.Namespace) -> int:
    """Print the executive KPIs (the numbers on the executive summary page)."""
    from analytics import kpis

    db = open_database(args.db, read_only=True)
    try:
        backend = db.backend()
        months = kpis.available_months(backend)
        default = kpis.default_filters(backend)
        start = _parse_month(args.start, "--start") or default.start_month
        end = _parse_month(args.end, "--end") or default.end_month
        last_full = kpis.default_filters(backend, months=1).end_month
        if months and (start < months[0] or end > last_full):
            # A period partly outside the data would count empty months as real ones.
            raise CliError(MSG_OUTSIDE_DATA.format(first=months[0], last=last_full))
        if start > end:
            raise CliError(f"--start ({start:%Y-%m}) is after --end ({end:%Y-%m}).")
        filters = KpiFilters(
            start_month=start,
            end_month=end,
            regions=tuple(args.region or ()),
            age_bands=tuple(args.age_band or ()),
            products=tuple(args.product or ()),
        )
        summary = kpis.compute_executive_summary(backend, filters)
    finally:
        db.close()
    _emit(summary, as_json=args.json, text=lambda: _kpi_text(summary))
    return 0


def _kpi_text(summary: Any) -> str:
    f = summary.filters
    lines = [f"KPIs {f.start_month:%Y-%m} to {f.end_month:%Y-%m}, {summary.customers_matched:,} customers"]
    for tile in summary.tiles:
        change = format_change(tile.change, tile.unit)
        interval = format_interval(tile.ci_low, tile.ci_high, tile.unit)
        extras = "  ".join(x for x in (f"95% CI {interval}" if interval else "", change or "") if x)
        lines.append(f"  {tile.label:<32} {format_value(tile.value, tile.unit):>10}  {extras}".rstrip())
    return "\n".join(lines)


# -- parser -----------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m analytics``."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", help="DuckDB file (default: $TAILOR_DB, else sample_data/bank.duckdb)")
    common.add_argument("--json", action="store_true", help="print machine-readable JSON")
    # The same options on nested actions must not reset what was given before the action
    # (``users --db X list``), so there they have no default of their own.
    nested = argparse.ArgumentParser(add_help=False)
    nested.add_argument("--db", default=argparse.SUPPRESS, help="DuckDB file")
    nested.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print JSON")

    parser = argparse.ArgumentParser(
        prog="python -m analytics",
        description="Tailor analytics from the command line: the numbers behind every page.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sample = sub.add_parser("sample-data", parents=[common], help="build the sample bank (all or nothing)")
    sample.add_argument("--customers", type=int, default=20_000, help="number of customers (default 20000)")
    sample.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    sample.add_argument("--truth", help="where to write the planted truths (default sample_data/truth.json)")
    sample.add_argument("--if-missing", action="store_true", help="do nothing if the database exists")
    sample.set_defaults(func=cmd_sample_data)

    users = sub.add_parser(
        "users", parents=[common], help="manage sign-in users: add, remove, list, unlock, demo"
    )
    users_sub = users.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = users_sub.add_parser("add", parents=[nested], help="add a user (password prompted or from stdin)")
    add.add_argument("username")
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    add.add_argument("--replace", action="store_true", help="overwrite an existing user (password reset)")
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

    kpi = sub.add_parser("kpis", parents=[common], help="the executive KPIs, with the page's filters")
    kpi.add_argument("--start", help="first month YYYY-MM (default: three months before the last)")
    kpi.add_argument("--end", help="last month YYYY-MM (default: the last full month)")
    kpi.add_argument("--region", action="append", choices=REGIONS, help="keep a region (repeatable)")
    kpi.add_argument("--age-band", action="append", choices=AGE_BANDS, help="keep an age band (repeatable)")
    kpi.add_argument("--product", action="append", choices=PRODUCT_IDS, help="keep holders of a product")
    kpi.set_defaults(func=cmd_kpis)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (CliError, DatabaseError, DataValidationError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
