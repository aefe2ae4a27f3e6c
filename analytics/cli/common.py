"""What every command shares: the refusal, output as text or JSON, progress lines, argument types.

Standard output carries the result only (text, or JSON with ``--json``); progress lines go to
standard error, so the output stays machine-readable.
"""

from __future__ import annotations

import argparse
import dataclasses
import getpass
import json
import sys
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import polars as pl

from analytics.common.uploads import read_table as _read_upload

MSG_BAD_MONTH = "{flag} must be a month as YYYY-MM (got {value!r})."
MSG_BAD_DAY = "{flag} must be a date as YYYY-MM-DD (got {value!r})."


class CliError(Exception):
    """A refusal with a message for the person at the terminal."""


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, got {text!r}")
    return value


def progress(line: str) -> None:
    """One progress line on standard error."""
    print(line, file=sys.stderr, flush=True)


def to_jsonable(value: Any) -> Any:
    """Dataclasses, tables, dates and NaN as plain JSON values (NaN becomes null)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, pl.DataFrame):
        return [to_jsonable(row) for row in value.to_dicts()]
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, float) and value != value:  # NaN never reaches the output
        return None
    return value


def emit(payload: Any, *, as_json: bool, text: Callable[[], str]) -> None:
    """Print the payload as JSON, or the text ``text()`` makes of it."""
    if as_json:
        print(json.dumps(to_jsonable(payload), indent=2, sort_keys=False))
    else:
        print(text())


def parse_month(value: str | None, flag: str) -> date | None:
    """``YYYY-MM`` as the first day of the month (None stays None)."""
    if value is None:
        return None
    try:
        parsed = datetime.strptime(value, "%Y-%m")
    except ValueError as exc:
        raise CliError(MSG_BAD_MONTH.format(flag=flag, value=value)) from exc
    return date(parsed.year, parsed.month, 1)


def parse_day(value: str | None, flag: str) -> date | None:
    """``YYYY-MM-DD`` as a date (None stays None)."""
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise CliError(MSG_BAD_DAY.format(flag=flag, value=value)) from exc


def split_names(text: str | None) -> list[str]:
    """Comma-separated names, blanks dropped."""
    return [name.strip() for name in (text or "").split(",") if name.strip()]


def read_table(path: str) -> pl.DataFrame:
    """A CSV or Parquet file as a table, or a refusal saying why it cannot be read."""
    try:
        return _read_upload(path)
    except ValueError as exc:
        raise CliError(str(exc)) from exc


def run_by() -> str:
    """Who runs the command, as stored with a fit: the login at a terminal, else ``batch``."""
    return getpass.getuser() if sys.stdin.isatty() else "batch"
