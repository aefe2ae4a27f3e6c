"""Docstring text that many functions share, written once.

Most readers take the store's Ibis backend as their first argument, and each used to repeat the
same parameter paragraph (72 times). numpydoc has no include mechanism, so the paragraph lives in
:data:`SHARED_PARAMETERS` and a docstring names it on its own line, e.g. ``{backend}`` in its
Parameters section; :func:`shared_docs` writes the text in at import, so ``help()``, IDEs and
doctests see the full docstring.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TypeVar

F = TypeVar("F", bound=Callable)

SHARED_PARAMETERS: dict[str, str] = {
    "backend": (
        "backend : ibis.BaseBackend\n"
        "    The Ibis backend over the Tailor database (``Database.backend()`` of "
        ":mod:`analytics.store.database`); tests pass one over an in-memory database."
    ),
}
"""Parameter name -> its numpydoc entry (name, type, then the description indented by four)."""

_PLACEHOLDER = re.compile(r"^(?P<indent>[ \t]*)\{(?P<name>[a-z_]+)\}[ \t]*$", re.M)


def fill_docstring(doc: str) -> str:
    r"""``doc`` with each ``{name}`` line of :data:`SHARED_PARAMETERS` replaced by its entry.

    Parameters
    ----------
    doc : str
        A docstring.

    Returns
    -------
    str
        The docstring with the shared entries written in, at the placeholder's indentation.

    Examples
    --------
    >>> filled = fill_docstring("Parameters\n----------\n{backend}\n")
    >>> filled.splitlines()[2]
    'backend : ibis.BaseBackend'
    """

    def entry(match: re.Match) -> str:
        name = match.group("name")
        if name not in SHARED_PARAMETERS:
            return match.group(0)
        indent = match.group("indent")
        return "\n".join(indent + line for line in SHARED_PARAMETERS[name].splitlines())

    return _PLACEHOLDER.sub(entry, doc)


def shared_docs(func: F) -> F:
    """Decorator: fill the shared parameter entries of ``func``'s docstring (:func:`fill_docstring`)."""
    if func.__doc__:
        func.__doc__ = fill_docstring(func.__doc__)
    return func
