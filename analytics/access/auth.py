"""Sign-in, the local user store and role-based access.

The embedded default is a ``users`` table with Argon2id password hashes
(argon2-cffi: a random salt per hash, parameters stored in the hash). Failed
sign-ins are counted from the audit log per typed user name, whether or not
the account exists, so the lock-out itself never tells an attacker which names
are real. User management records who did it (``actor``: the OS user for the CLI) in the
audit row's user name and whom it concerns in its target. A signed-in session ends after
``IDLE_TIMEOUT`` without activity or ``ABSOLUTE_TIMEOUT`` in all (:func:`session_expiry`; the app
checks it on every rerun and re-reads the account with :func:`load_account`). Enterprise
deployments replace the form with Streamlit's OIDC ``st.login`` (docs/authentication.md); roles
and page checks stay the same.
"""

from __future__ import annotations

import getpass
import re
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import polars as pl
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from analytics.common.types import ROLES, Role, SignInResult, User
from analytics.store.contracts import AUDIT_LOG, USERS
from analytics.store.database import Database

MAX_FAILED_ATTEMPTS = 5
LOCKOUT = timedelta(minutes=15)
MIN_PASSWORD_LENGTH = 10
# Caps checked before anything else (before any hashing): a megabyte "password" is refused at
# the cost of len(). Created names are shorter still (USERNAME_PATTERN: 32).
MAX_USERNAME_LENGTH = 64
MAX_PASSWORD_LENGTH = 1024
IDLE_TIMEOUT = timedelta(minutes=30)
ABSOLUTE_TIMEOUT = timedelta(hours=12)
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
MSG_LONG_USERNAME = "The user name is too long: use at most {n} characters."
MSG_LONG_PASSWORD = "The password is too long: use at most {n:,} characters."  # noqa: S105 - a message, not a password
MSG_SIGN_IN_TOO_LONG = (
    "Sign-in failed: user names have at most {username:,} characters and passwords at most {password:,}."
)
MSG_WRONG_CURRENT_PASSWORD = "The current password is not right. Your password was not changed."  # noqa: S105 - a message, not a password
MSG_SAME_PASSWORD = "The new password must differ from the current one."  # noqa: S105 - a message, not a password
MSG_PASSWORDS_DIFFER = "The two new passwords differ. Type the same password twice."  # noqa: S105 - a message, not a password
MSG_PASSWORD_CHANGED = "Your password was changed."  # noqa: S105 - a message, not a password
MSG_SESSION_IDLE = "Your session ended after {minutes} minutes without activity. Sign in again to continue."
MSG_SESSION_ABSOLUTE = (
    "Your session ended after {hours} hours, the longest a session may last. Sign in again to continue."
)
MSG_ACCOUNT_GONE = (
    "Your session ended because your account was removed or disabled. Ask your administrator if you "
    "need access."
)
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
    # The data-protection officer's page: the dictionary, checks, consent, subject requests and
    # the audit log for reviewers and admins; the import of the bank's tables for admins only.
    "data_privacy": ("compliance_reviewer", "admin"),
    "account": ROLES,
}

# Why a session ends, as recorded in the audit row of the sign-out.
SessionEnd = Literal["idle_timeout", "absolute_timeout", "account_removed"]
SESSION_END_MESSAGES: dict[SessionEnd, str] = {
    "idle_timeout": MSG_SESSION_IDLE.format(minutes=int(IDLE_TIMEOUT.total_seconds() // 60)),
    "absolute_timeout": MSG_SESSION_ABSOLUTE.format(hours=int(ABSOLUTE_TIMEOUT.total_seconds() // 3600)),
    "account_removed": MSG_ACCOUNT_GONE,
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
class Account:
    """A user's row as the app re-reads it on every rerun (never the hash)."""

    username: str
    role: Role
    must_change_password: bool


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


def os_actor() -> str:
    """Who runs this process, as an audit actor: ``os:<login>`` (``os:unknown`` without one).

    Examples
    --------
    >>> os_actor().startswith("os:")
    True
    """
    try:
        return f"os:{getpass.getuser()}"
    except (OSError, KeyError):  # no login name in the environment and no passwd entry
        return "os:unknown"


def user_target(username: str) -> str:
    """The audit target naming a user account, e.g. ``user:alice``."""
    return f"user:{normalize_username(username)}"


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _check_new_password(password: str) -> None:
    if len(password or "") > MAX_PASSWORD_LENGTH:
        raise UserError(MSG_LONG_PASSWORD.format(n=MAX_PASSWORD_LENGTH))
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise UserError(MSG_SHORT_PASSWORD.format(n=MIN_PASSWORD_LENGTH))


def add_user(
    db: Database,
    username: str,
    password: str,
    role: str,
    *,
    replace: bool = False,
    must_change_password: bool = False,
    actor: str | None = None,
) -> User:
    """Create a user with a salted Argon2id hash of ``password``.

    Parameters
    ----------
    db : Database
        The database holding the user store.
    username : str
        Sign-in name (case-insensitive), at most ``MAX_USERNAME_LENGTH`` characters.
    password : str
        Plain password of ``MIN_PASSWORD_LENGTH`` to ``MAX_PASSWORD_LENGTH`` characters; only its
        hash is kept.
    role : str
        One of ``analytics.common.types.ROLES``.
    replace : bool
        Overwrite an existing user of that name (a password reset).
    must_change_password : bool
        The password was printed or chosen by someone else: the user must set their own at the
        next sign-in (the CLI's ``users add`` and ``users demo`` set it).
    actor : str, optional
        Who does it, recorded as the audit row's user name; defaults to :func:`os_actor`.

    Returns
    -------
    User
        The created user.

    Raises
    ------
    UserError
        For a malformed or overlong name, unknown role, short or overlong password, or existing user.
    """
    if len(username or "") > MAX_USERNAME_LENGTH:
        raise UserError(MSG_LONG_USERNAME.format(n=MAX_USERNAME_LENGTH))
    name = normalize_username(username)
    if not USERNAME_PATTERN.match(name):
        raise UserError(MSG_BAD_USERNAME.format(username=username))
    if role not in ROLES:
        raise UserError(MSG_BAD_ROLE.format(role=role, roles=", ".join(ROLES)))
    _check_new_password(password)
    exists = _find(db, name) is not None
    if exists and not replace:
        raise UserError(MSG_USER_EXISTS.format(username=name))
    if exists:
        db.execute(f'DELETE FROM "{USERS.name}" WHERE username = ?', [name])  # noqa: S608 - name from the contracts, values bound
    db.execute(
        f'INSERT INTO "{USERS.name}" (username, password_hash, role, created_at, must_change_password) '  # noqa: S608 - name from the contracts, values bound
        "VALUES (?, ?, ?, ?, ?)",
        [name, _HASHER.hash(password), role, _now(), must_change_password],
    )
    db.write_audit(
        username=actor or os_actor(),
        role=None,
        action="user_added",
        target=user_target(name),
        details={"role": role, "replaced": exists, "must_change_password": must_change_password},
    )
    return User(username=name, role=role)


def remove_user(db: Database, username: str, *, actor: str | None = None) -> None:
    """Delete a user; raises :class:`UserError` if there is none of that name.

    ``actor`` (default :func:`os_actor`) is recorded as who removed it.
    """
    name = normalize_username(username)
    if _find(db, name) is None:
        raise UserError(MSG_NO_SUCH_USER.format(username=name))
    db.execute(f'DELETE FROM "{USERS.name}" WHERE username = ?', [name])  # noqa: S608 - name from the contracts, values bound
    db.write_audit(username=actor or os_actor(), role=None, action="user_removed", target=user_target(name))


def unlock_user(db: Database, username: str, *, actor: str | None = None) -> None:
    """Clear the failed-sign-in count of a user name (recorded in the audit log).

    ``actor`` (default :func:`os_actor`) is recorded as who unlocked it; the name unlocked is the
    row's target, which :func:`failed_attempts` reads.
    """
    db.write_audit(username=actor or os_actor(), role=None, action="unlock", target=user_target(username))


def change_password(db: Database, username: str, current_password: str, new_password: str) -> None:
    """Replace a user's password after checking the current one (Account page, first sign-in).

    The user who knows the current password is the actor: the audit row ``password_changed`` is in
    their name. A wrong current password is recorded as ``password_change_failed`` and counts
    towards the lock-out like a failed sign-in, so an unattended session is no password oracle.
    Clears ``must_change_password``.

    Parameters
    ----------
    db : Database
        The database holding the user store.
    username : str
        The signed-in user.
    current_password, new_password : str
        What the person typed; the new one of ``MIN_PASSWORD_LENGTH`` to ``MAX_PASSWORD_LENGTH``
        characters and different from the current one.

    Raises
    ------
    UserError
        With the message to show: too short or long, unchanged, wrong current password, locked
        out, or no such user.
    """
    name = normalize_username(username)
    if len(current_password or "") > MAX_PASSWORD_LENGTH:
        raise UserError(MSG_WRONG_CURRENT_PASSWORD)
    _check_new_password(new_password)
    if new_password == current_password:
        raise UserError(MSG_SAME_PASSWORD)
    with _SIGN_IN_LOCK:
        if failed_attempts(db, name) >= MAX_FAILED_ATTEMPTS:
            raise UserError(MSG_SIGN_IN_LOCKED.format(minutes=int(LOCKOUT.total_seconds() // 60)))
        row = _find(db, name)
        if row is None:
            raise UserError(MSG_NO_SUCH_USER.format(username=name))
        if not _verify(row["password_hash"], current_password or ""):
            db.write_audit(
                username=name, role=row["role"], action="password_change_failed", target=user_target(name)
            )
            raise UserError(MSG_WRONG_CURRENT_PASSWORD)
        db.execute(
            f'UPDATE "{USERS.name}" SET password_hash = ?, must_change_password = false WHERE username = ?',  # noqa: S608 - name from the contracts, values bound
            [_HASHER.hash(new_password), name],
        )
        db.write_audit(
            username=name,
            role=row["role"],
            action="password_changed",
            target=user_target(name),
            details={"was_required": bool(row["must_change_password"])},
        )


def load_account(db: Database, username: str) -> Account | None:
    """The user's current row (role, whether a new password is due), or None if it is gone.

    The app calls it on every rerun, so a removed user or a changed role takes effect at the next
    click rather than at the next sign-in.
    """
    row = _find(db, normalize_username(username))
    if row is None:
        return None
    return Account(
        username=row["username"], role=row["role"], must_change_password=bool(row["must_change_password"])
    )


def session_expiry(signed_in_at: datetime, last_activity_at: datetime, *, now: datetime) -> SessionEnd | None:
    """Whether a signed-in session has run out, and why.

    Parameters
    ----------
    signed_in_at : datetime
        When the session signed in.
    last_activity_at : datetime
        The session's last rerun (click, input) before this one.
    now : datetime
        The current time, in the same time zone convention as the two above.

    Returns
    -------
    SessionEnd or None
        ``"absolute_timeout"`` after ``ABSOLUTE_TIMEOUT`` since sign-in (checked first),
        ``"idle_timeout"`` after ``IDLE_TIMEOUT`` without activity, else None.

    Examples
    --------
    >>> t = datetime(2025, 1, 1, 9)
    >>> session_expiry(t, t + timedelta(minutes=10), now=t + timedelta(minutes=45))
    'idle_timeout'
    >>> session_expiry(t, t + timedelta(hours=12), now=t + timedelta(hours=12, minutes=1))
    'absolute_timeout'
    """
    if now - signed_in_at >= ABSOLUTE_TIMEOUT:
        return "absolute_timeout"
    if now - last_activity_at >= IDLE_TIMEOUT:
        return "idle_timeout"
    return None


def list_users(db: Database) -> pl.DataFrame:
    """Users with role, creation and last sign-in time, and whether they are locked out now.

    Returns
    -------
    polars.DataFrame
        Columns username, role, created_at, last_sign_in_at, must_change_password, locked (never
        the hash).
    """
    users = db.query(
        f"""SELECT username, role, created_at, last_sign_in_at,
                   coalesce(must_change_password, false) AS must_change_password
            FROM "{USERS.name}" ORDER BY username"""  # noqa: S608 - name from the contracts, values bound
    )
    locked = [failed_attempts(db, name) >= MAX_FAILED_ATTEMPTS for name in users.get_column("username")]
    return users.with_columns(pl.Series("locked", locked, dtype=pl.Boolean))


def count_users(db: Database) -> int:
    """Number of accounts in the user store."""
    return int(db.query(f'SELECT count(*) AS n FROM "{USERS.name}"').item())  # noqa: S608 - name from the contracts, values bound


def failed_attempts(db: Database, username: str, *, now: datetime | None = None) -> int:
    """Failed sign-ins (and wrong current passwords) for a name within the lock-out window.

    Counted since the name's last success (a sign-in or a password change in its name) or its last
    unlock (whose target names it).
    """
    now = now or _now()
    return int(
        db.query(
            f"""
            SELECT count(*) AS n FROM "{AUDIT_LOG.name}"
            WHERE username = ? AND action IN ('sign_in_failed', 'password_change_failed') AND ts > ?
              AND ts > coalesce((SELECT max(ts) FROM "{AUDIT_LOG.name}"
                                 WHERE (username = ? AND action IN ('sign_in', 'password_changed'))
                                    OR (target = ? AND action = 'unlock')),
                                TIMESTAMP '1970-01-01')
            """,  # noqa: S608 - name from the contracts, values bound
            [username, now - LOCKOUT, username, user_target(username)],
        ).item()
    )


def authenticate(db: Database, username: str, password: str, *, now: datetime | None = None) -> SignInResult:
    """Check a sign-in attempt, record it in the audit log and return the outcome.

    Parameters
    ----------
    db : Database
        The database holding the user store and the audit log.
    username, password : str
        What the person typed. Longer than ``MAX_USERNAME_LENGTH`` or ``MAX_PASSWORD_LENGTH``
        characters is refused before any hashing or look-up (and not recorded: no account can
        match it).
    now : datetime, optional
        Current UTC time (tests pass a fixed one).

    Returns
    -------
    SignInResult
        ``ok`` with the user on success; otherwise the same plain refusal whether the
        name or the password was wrong, or the lock-out message after
        ``MAX_FAILED_ATTEMPTS`` failures within ``LOCKOUT``.
    """
    if len(username or "") > MAX_USERNAME_LENGTH or len(password or "") > MAX_PASSWORD_LENGTH:
        return SignInResult(
            ok=False,
            message=MSG_SIGN_IN_TOO_LONG.format(username=MAX_USERNAME_LENGTH, password=MAX_PASSWORD_LENGTH),
        )
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
    verified = _verify(stored, password) and row is not None
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


def _verify(stored_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def create_demo_users(db: Database, *, actor: str | None = None) -> list[DemoUser]:
    """Create one demo user per role with a random password, only if the store is empty.

    The passwords are printed once, so each account must set its own at first sign-in.

    Parameters
    ----------
    db : Database
        The database holding the user store.
    actor : str, optional
        Who creates them, for the audit log; defaults to :func:`os_actor`.

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
        add_user(db, username, password, role, must_change_password=True, actor=actor)
        created.append(DemoUser(username=username, role=role, password=password))
    return created


def recent_activity(db: Database, username: str, *, limit: int = 20) -> pl.DataFrame:
    """A user's own latest sign-in and password events (time, action) for the account page."""
    return db.query(
        f"""SELECT ts, action FROM "{AUDIT_LOG.name}"
            WHERE username = ?
              AND action IN ('sign_in', 'sign_in_failed', 'sign_in_locked', 'sign_out', 'password_changed')
            ORDER BY ts DESC, event_id DESC LIMIT ?""",  # noqa: S608 - name from the contracts, values bound
        [normalize_username(username), limit],
    )


def _find(db: Database, name: str) -> dict | None:
    rows = db.query(
        f"""SELECT username, password_hash, role,
                   coalesce(must_change_password, false) AS must_change_password
            FROM "{USERS.name}" WHERE username = ?""",  # noqa: S608 - name from the contracts, values bound
        [name],
    )
    return rows.row(0, named=True) if rows.height else None
