"""Sign-in, the local user store and role-based access.

The embedded default is a ``users`` table with Argon2id password hashes
(argon2-cffi: a random salt per hash, parameters stored in the hash). Failed
sign-ins are counted from the audit log per typed user name, whether or not
the account exists, so the lock-out itself never tells an attacker which names
are real. Enterprise deployments replace the form with Streamlit's OIDC
``st.login`` (docs/authentication.md); roles and page checks stay the same.
"""

from __future__ import annotations

import re
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import polars as pl
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from analytics.common.types import ROLES, Role, SignInResult, User
from analytics.store.contracts import AUDIT_LOG, USERS
from analytics.store.database import Database

MAX_FAILED_ATTEMPTS = 5
LOCKOUT = timedelta(minutes=15)
MIN_PASSWORD_LENGTH = 10
USERNAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{2,31}$")

MSG_SIGN_IN_FAILED = "Sign-in failed. Check your user name and password and try again."
MSG_SIGN_IN_LOCKED = (
    "Too many failed sign-ins for this user name. Wait {minutes} minutes and try again, "
    "or ask an administrator to unlock it."
)
MSG_SIGN_IN_EMPTY = "Enter your user name and password."
MSG_BAD_USERNAME = (
    "User name {username!r} is not allowed: use 3-32 lower-case letters, digits, '.', '_' or '-', "
    "starting with a letter or digit."
)
MSG_BAD_ROLE = "Role {role!r} does not exist. Choose one of: {roles}."
MSG_SHORT_PASSWORD = "The password is too short: use at least {n} characters."  # noqa: S105 - a message, not a password
MSG_USER_EXISTS = "User {username!r} already exists. Remove it first, or pass --replace."
MSG_NO_SUCH_USER = "There is no user {username!r}."

# Which roles may open which page. Checked by every page on the server side; the
# menu merely hides what a role cannot open.
PAGE_ACCESS: dict[str, tuple[Role, ...]] = {
    "executive_summary": ("executive", "marketing_analyst", "admin"),
    "kpis": ("executive", "marketing_analyst", "admin"),
    "segments": ("marketing_analyst", "admin"),
    "models": ("marketing_analyst", "compliance_reviewer", "admin"),
    "ab_tests": ("marketing_analyst", "admin"),
    # Reviewers and admins audit and sign; analysts read the latest signed results; executives
    # see only the pass/fail summary (the page decides what each role sees).
    "fairness": ("executive", "marketing_analyst", "compliance_reviewer", "admin"),
    "account": ROLES,
}

_HASHER = PasswordHasher()
# Counting failures, verifying and recording the outcome must be one step: otherwise
# parallel sessions could all pass the count before any failure is recorded.
_SIGN_IN_LOCK = threading.Lock()
# Verifying against a throw-away hash when the user does not exist keeps the time
# of a failed sign-in the same for real and unknown names.
_DUMMY_HASH = _HASHER.hash(secrets.token_urlsafe(16))


class UserError(ValueError):
    """A user-store command was refused; the message says why."""


@dataclass(frozen=True)
class DemoUser:
    """A demo account created on first run, with its one-time password."""

    username: str
    role: Role
    password: str


def can_view(role: str | None, page: str) -> bool:
    """Whether ``role`` may open ``page`` (unknown pages and roles: no).

    Examples
    --------
    >>> can_view("executive", "executive_summary")
    True
    >>> can_view("compliance_reviewer", "executive_summary")
    False
    """
    return role is not None and role in PAGE_ACCESS.get(page, ())


def normalize_username(username: str) -> str:
    """User names are case-insensitive and stored lower-case without surrounding spaces."""
    return (username or "").strip().lower()


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def add_user(db: Database, username: str, password: str, role: str, *, replace: bool = False) -> User:
    """Create a user with a salted Argon2id hash of ``password``.

    Parameters
    ----------
    db : Database
        The database holding the user store.
    username : str
        Sign-in name (case-insensitive).
    password : str
        Plain password, at least ``MIN_PASSWORD_LENGTH`` characters; only its hash is kept.
    role : str
        One of ``analytics.common.types.ROLES``.
    replace : bool
        Overwrite an existing user of that name (a password reset).

    Returns
    -------
    User
        The created user.

    Raises
    ------
    UserError
        For a malformed name, unknown role, short password or existing user.
    """
    name = normalize_username(username)
    if not USERNAME_PATTERN.match(name):
        raise UserError(MSG_BAD_USERNAME.format(username=username))
    if role not in ROLES:
        raise UserError(MSG_BAD_ROLE.format(role=role, roles=", ".join(ROLES)))
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise UserError(MSG_SHORT_PASSWORD.format(n=MIN_PASSWORD_LENGTH))
    exists = _find(db, name) is not None
    if exists and not replace:
        raise UserError(MSG_USER_EXISTS.format(username=name))
    if exists:
        db.execute(f'DELETE FROM "{USERS.name}" WHERE username = ?', [name])  # noqa: S608 - name from the contracts, values bound
    db.execute(
        f'INSERT INTO "{USERS.name}" (username, password_hash, role, created_at) VALUES (?, ?, ?, ?)',  # noqa: S608 - name from the contracts, values bound
        [name, _HASHER.hash(password), role, _now()],
    )
    db.write_audit(username=name, role=role, action="user_added", target="users")
    return User(username=name, role=role)


def remove_user(db: Database, username: str) -> None:
    """Delete a user; raises :class:`UserError` if there is none of that name."""
    name = normalize_username(username)
    if _find(db, name) is None:
        raise UserError(MSG_NO_SUCH_USER.format(username=name))
    db.execute(f'DELETE FROM "{USERS.name}" WHERE username = ?', [name])  # noqa: S608 - name from the contracts, values bound
    db.write_audit(username=name, role=None, action="user_removed", target="users")


def unlock_user(db: Database, username: str) -> None:
    """Clear the failed-sign-in count of a user name (recorded in the audit log)."""
    db.write_audit(username=normalize_username(username), role=None, action="unlock", target="users")


def list_users(db: Database) -> pl.DataFrame:
    """Users with role, creation and last sign-in time, and whether they are locked out now.

    Returns
    -------
    polars.DataFrame
        Columns username, role, created_at, last_sign_in_at, locked (never the hash).
    """
    users = db.query(
        f'SELECT username, role, created_at, last_sign_in_at FROM "{USERS.name}" ORDER BY username'  # noqa: S608 - name from the contracts, values bound
    )
    locked = [failed_attempts(db, name) >= MAX_FAILED_ATTEMPTS for name in users.get_column("username")]
    return users.with_columns(pl.Series("locked", locked, dtype=pl.Boolean))


def count_users(db: Database) -> int:
    """Number of accounts in the user store."""
    return int(db.query(f'SELECT count(*) AS n FROM "{USERS.name}"').item())  # noqa: S608 - name from the contracts, values bound


def failed_attempts(db: Database, username: str, *, now: datetime | None = None) -> int:
    """Failed sign-ins for a name within the lock-out window since its last success or unlock."""
    now = now or _now()
    return int(
        db.query(
            f"""
            SELECT count(*) AS n FROM "{AUDIT_LOG.name}"
            WHERE username = ? AND action = 'sign_in_failed' AND ts > ?
              AND ts > coalesce((SELECT max(ts) FROM "{AUDIT_LOG.name}"
                                 WHERE username = ? AND action IN ('sign_in', 'unlock')),
                                TIMESTAMP '1970-01-01')
            """,  # noqa: S608 - name from the contracts, values bound
            [username, now - LOCKOUT, username],
        ).item()
    )


def authenticate(db: Database, username: str, password: str, *, now: datetime | None = None) -> SignInResult:
    """Check a sign-in attempt, record it in the audit log and return the outcome.

    Parameters
    ----------
    db : Database
        The database holding the user store and the audit log.
    username, password : str
        What the person typed.
    now : datetime, optional
        Current UTC time (tests pass a fixed one).

    Returns
    -------
    SignInResult
        ``ok`` with the user on success; otherwise the same plain refusal whether the
        name or the password was wrong, or the lock-out message after
        ``MAX_FAILED_ATTEMPTS`` failures within ``LOCKOUT``.
    """
    name = normalize_username(username)
    if not name or not password:
        return SignInResult(ok=False, message=MSG_SIGN_IN_EMPTY)
    with _SIGN_IN_LOCK:
        return _authenticate(db, name, password, now=now)


def _authenticate(db: Database, name: str, password: str, *, now: datetime | None) -> SignInResult:
    if failed_attempts(db, name, now=now) >= MAX_FAILED_ATTEMPTS:
        db.write_audit(username=name, role=None, action="sign_in_locked", target="sign_in")
        return SignInResult(
            ok=False, message=MSG_SIGN_IN_LOCKED.format(minutes=int(LOCKOUT.total_seconds() // 60))
        )
    row = _find(db, name)
    stored = row["password_hash"] if row else _DUMMY_HASH
    try:
        _HASHER.verify(stored, password)
        verified = row is not None
    except (VerificationError, InvalidHashError):
        verified = False
    if not verified:
        db.write_audit(username=name, role=None, action="sign_in_failed", target="sign_in")
        return SignInResult(ok=False, message=MSG_SIGN_IN_FAILED)
    updates = ["last_sign_in_at = ?"]
    params: list[object] = [now or _now()]
    if _HASHER.check_needs_rehash(stored):
        updates.append("password_hash = ?")
        params.append(_HASHER.hash(password))
    db.execute(f'UPDATE "{USERS.name}" SET {", ".join(updates)} WHERE username = ?', [*params, name])  # noqa: S608 - name from the contracts, values bound
    db.write_audit(username=name, role=row["role"], action="sign_in", target="sign_in")
    return SignInResult(ok=True, message="Signed in.", user=User(username=name, role=row["role"]))


def create_demo_users(db: Database) -> list[DemoUser]:
    """Create one demo user per role with a random password, only if the store is empty.

    Returns
    -------
    list of DemoUser
        The accounts created with their passwords (shown once, never stored), or an
        empty list when users already exist.
    """
    if count_users(db):
        return []
    created = []
    for role in ROLES:
        password = secrets.token_urlsafe(12)
        username = f"demo_{role}" if role != "admin" else "admin"
        add_user(db, username, password, role)
        created.append(DemoUser(username=username, role=role, password=password))
    return created


def recent_activity(db: Database, username: str, *, limit: int = 20) -> pl.DataFrame:
    """A user's own latest sign-in events (time, action) for the account page."""
    return db.query(
        f"""SELECT ts, action FROM "{AUDIT_LOG.name}"
            WHERE username = ? AND action IN ('sign_in', 'sign_in_failed', 'sign_in_locked', 'sign_out')
            ORDER BY ts DESC, event_id DESC LIMIT ?""",  # noqa: S608 - name from the contracts, values bound
        [normalize_username(username), limit],
    )


def _find(db: Database, name: str) -> dict | None:
    rows = db.query(f'SELECT username, password_hash, role FROM "{USERS.name}" WHERE username = ?', [name])  # noqa: S608 - name from the contracts, values bound
    return rows.row(0, named=True) if rows.height else None
