"""Reading a table that an older database file may not have yet."""

from __future__ import annotations

import ibis
from ibis.common.exceptions import TableNotFound

from analytics.common.docs import shared_docs


@shared_docs
def optional_table(backend: ibis.BaseBackend, name: str) -> ibis.Table | None:
    """The table ``name``, or None when the database has no such table.

    A file written before a table existed (models, maps, sign-offs...) and opened read-only cannot
    have it created: its readers treat it as empty. Written once here; it was copied into seven
    modules.

    Parameters
    ----------
    {backend}
    name : str
        Table name (from the contracts, never from user input).

    Returns
    -------
    ibis.Table or None
        The table, or None when it does not exist.
    """
    try:
        return backend.table(name)
    except TableNotFound:
        return None
