"""Which customer a data-subject request is about: a customer number, or the pseudonym a person was shown.

A request arrives with whatever the requester or the reviewer has: the number from the bank's
records, or the masked id (``C-`` + 12 hex) an analyst or a letter quoted. Both resolve to the
customer number here, over every customer the bank holds (closed ones included).
"""

from __future__ import annotations

from analytics.access.privacy import pseudonym_key, pseudonymize_ids
from analytics.store.contracts import CUSTOMERS
from analytics.store.database import Database

MSG_BAD_REFERENCE = (
    "{text!r} is neither a customer number nor a masked id (C- and 12 hex digits such as C-1a2b3c4d5e6f)."
)
MSG_NO_SUCH_PSEUDONYM = "No customer of this bank has the masked id {text!r}."


def resolve_customer_reference(db: Database, text: str) -> int:
    """The customer number a request names, given as a number or as a pseudonym.

    Parameters
    ----------
    db : Database
        The bank (its key turns numbers into pseudonyms).
    text : str
        What was typed: ``100001`` or ``C-1a2b3c4d5e6f``.

    Returns
    -------
    int
        The customer number (not checked to exist when given as a number: the request then
        reports that nothing is held).

    Raises
    ------
    ValueError
        For text that is neither (:data:`MSG_BAD_REFERENCE`), or a pseudonym of no customer
        (:data:`MSG_NO_SUCH_PSEUDONYM`).
    """
    value = (text or "").strip()
    if value.isdigit():
        return int(value)
    if len(value) != 14 or not value.startswith("C-") or any(c not in "0123456789abcdef" for c in value[2:]):
        raise ValueError(MSG_BAD_REFERENCE.format(text=value))
    ids = db.table(CUSTOMERS.name).select("customer_id").to_polars().get_column("customer_id")
    # HMAC of every customer number (vectorised per unique value in pseudonymize_ids): 20,000 in ~0.05 s.
    matches = ids.filter(pseudonymize_ids(ids, pseudonym_key(db)) == value)
    if matches.len() == 0:
        raise ValueError(MSG_NO_SUCH_PSEUDONYM.format(text=value))
    return int(matches[0])
