"""Masking and pseudonymization of personal data by role.

Only roles that need raw personal data to do their job see it: the compliance
reviewer (subject access requests, individual decisions) and the admin. Every
other role gets masked names, e-mails and phones, the birth year instead of the
exact birth date, and a keyed pseudonym instead of the customer number. Each
time a frame with raw personal data is handed to a privileged role, the caller
records it with :func:`log_personal_data_view`.

Pseudonyms are HMAC-SHA256 of the customer number under a secret key: stable
(the same customer always maps to the same pseudonym, so analysts can follow a
customer across pages) but not reversible without the key. The key comes from
``TAILOR_PSEUDONYM_KEY`` or the key file beside the database, never from the
database itself (:mod:`analytics.store.keys`).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from analytics.store.contracts import CUSTOMERS
from analytics.store.database import Database

RAW_PERSONAL_DATA_ROLES: frozenset[str] = frozenset({"compliance_reviewer", "admin"})


def sees_raw_personal_data(role: str | None) -> bool:
    """Whether ``role`` may see unmasked personal data.

    Examples
    --------
    >>> sees_raw_personal_data("marketing_analyst")
    False
    """
    return role in RAW_PERSONAL_DATA_ROLES


def pseudonym_key(db: Database) -> bytes:
    """The secret behind customer pseudonyms: ``TAILOR_PSEUDONYM_KEY`` or the key file, never the database.

    See :mod:`analytics.store.keys`; a key an older release stored in the database is moved
    to the key file unchanged, so pseudonyms stay the same.
    """
    return db.keys.pseudonym


def pseudonymize_ids(ids: pl.Series, key: bytes) -> pl.Series:
    """Keyed pseudonyms ``C-`` + 12 hex digits for customer numbers (HMAC-SHA256).

    Parameters
    ----------
    ids : polars.Series
        Customer numbers.
    key : bytes
        Secret key, see :func:`pseudonym_key`.

    Returns
    -------
    polars.Series
        Strings of the same length; nulls stay null.
    """

    def one(value: Any) -> str:
        digest = hmac.new(key, str(value).encode(), hashlib.sha256).hexdigest()
        return f"C-{digest[:12]}"

    unique = ids.drop_nulls().unique()
    mapping = dict(zip(unique.to_list(), [one(v) for v in unique.to_list()], strict=True))
    return ids.replace_strict(mapping, default=None, return_dtype=pl.String).alias(ids.name)


def _mask_text(column: pl.Expr, keep: int) -> pl.Expr:
    # Keep the first characters so that a person can still tell records apart.
    return pl.when(column.is_null()).then(None).otherwise(column.str.slice(0, keep) + pl.lit("***"))


def mask_personal_data(frame: pl.DataFrame, role: str | None, *, key: bytes) -> pl.DataFrame:
    """Return ``frame`` with personal columns masked unless ``role`` may see them.

    Parameters
    ----------
    frame : polars.DataFrame
        Any frame; columns named like the customers table's personal fields
        (first_name, last_name, email, phone, birth_date) and customer_id are handled.
    role : str or None
        The viewer's role.
    key : bytes
        Pseudonym key (see :func:`pseudonym_key`).

    Returns
    -------
    polars.DataFrame
        Unchanged for privileged roles; otherwise names cut to their first letter,
        e-mail local part masked, phone reduced to its last two digits, birth date
        reduced to the birth year, and customer_id replaced by its pseudonym.
    """
    if sees_raw_personal_data(role):
        return frame
    out = frame
    exprs = []
    if "first_name" in out.columns:
        exprs.append(_mask_text(pl.col("first_name"), 1).alias("first_name"))
    if "last_name" in out.columns:
        exprs.append(_mask_text(pl.col("last_name"), 1).alias("last_name"))
    if "email" in out.columns:
        email = pl.col("email")
        exprs.append(
            # Keep the domain only when there is one; otherwise the whole value would leak.
            pl.when(email.str.contains("@", literal=True))
            .then(email.str.slice(0, 1) + pl.lit("***@") + email.str.split("@").list.last())
            .otherwise(_mask_text(email, 1))
            .alias("email")
        )
    if "phone" in out.columns:
        exprs.append((pl.lit("*** ") + pl.col("phone").str.slice(-2)).alias("phone"))
    if "birth_date" in out.columns:
        exprs.append(pl.col("birth_date").dt.year().cast(pl.String).alias("birth_date"))
    if exprs:
        out = out.with_columns(exprs)
    if "customer_id" in out.columns:
        out = out.with_columns(pseudonymize_ids(out.get_column("customer_id"), key).alias("customer_id"))
    return out


def personal_columns(frame: pl.DataFrame) -> list[str]:
    """Columns of ``frame`` that hold personal data per the customers contract."""
    return [c for c in frame.columns if c in CUSTOMERS.personal]


def log_personal_data_view(
    db: Database,
    *,
    username: str,
    role: str,
    target: str,
    details: Mapping[str, Any] | None = None,
) -> None:
    """Record in the audit log that a user was shown raw personal data."""
    db.write_audit(username=username, role=role, action="view_personal_data", target=target, details=details)


REDACTED_EMAIL = "[e-mail]"
REDACTED_PHONE = "[phone]"
REDACTED_NAME = "[name]"
_EMAIL_PATTERN = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# Nine or more digits, possibly split by spaces or dashes and led by a plus: phone numbers,
# account numbers. Shorter figures (amounts, years, minutes) stay readable.
_PHONE_PATTERN = re.compile(r"\+?\d(?:[\s-]?\d){8,}")


def redact_text(text: str | None, *, names: Sequence[str | None] = ()) -> str | None:
    """Replace e-mail addresses, phone-like numbers and the given names in free text.

    Names are matched as whole words, ignoring case; the caller passes the author's own
    first and last name (the customers table knows them), which is what free-text
    feedback repeats ("Regards, Leonard Daly").

    Parameters
    ----------
    text : str or None
        The text.
    names : sequence of str
        Names to remove.

    Returns
    -------
    str or None
        The text with :data:`REDACTED_EMAIL`, :data:`REDACTED_PHONE` and
        :data:`REDACTED_NAME` in place of what they replace.

    Examples
    --------
    >>> redact_text("Call me on +31 6 12345678. Regards, Ann Smith.", names=["Ann", "Smith"])
    'Call me on [phone]. Regards, [name] [name].'
    """
    if text is None:
        return None
    out = _EMAIL_PATTERN.sub(REDACTED_EMAIL, text)
    out = _PHONE_PATTERN.sub(REDACTED_PHONE, out)
    for name in names:
        if name and name.strip():
            out = re.sub(rf"(?<!\w){re.escape(name.strip())}(?!\w)", REDACTED_NAME, out, flags=re.IGNORECASE)
    return out


def redact_comments(frame: pl.DataFrame, role: str | None, *, key: bytes) -> pl.DataFrame:
    """Free-text answers as ``role`` may see them.

    Parameters
    ----------
    frame : polars.DataFrame
        Rows with ``comment`` and optionally ``customer_id``, ``first_name`` and
        ``last_name`` (the author's names, used to find them in the text).
    role : str or None
        The viewer's role.
    key : bytes
        Pseudonym key (see :func:`pseudonym_key`).

    Returns
    -------
    polars.DataFrame
        For roles that see raw personal data, the frame unchanged (the caller logs the
        view with :func:`log_personal_data_view`). For every other role, comments with
        e-mails, phone numbers and the author's names replaced (:func:`redact_text`),
        the name columns dropped and ``customer_id`` pseudonymized.
    """
    if sees_raw_personal_data(role):
        return frame
    first = (
        frame.get_column("first_name").to_list() if "first_name" in frame.columns else [None] * frame.height
    )
    last = frame.get_column("last_name").to_list() if "last_name" in frame.columns else [None] * frame.height
    comments = [
        redact_text(text, names=(a, b))
        for text, a, b in zip(frame.get_column("comment").to_list(), first, last, strict=True)
    ]
    out = frame.with_columns(pl.Series("comment", comments, dtype=pl.String))
    out = out.drop([c for c in ("first_name", "last_name") if c in out.columns])
    return mask_personal_data(out, role, key=key)
