"""Shared docstring entries (analytics.common.docs): written once, filled in everywhere they are named."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re

import analytics
from analytics.common.docs import SHARED_PARAMETERS, fill_docstring, shared_docs


def _public_functions():
    for info in pkgutil.walk_packages(analytics.__path__, "analytics."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for _, obj in inspect.getmembers(module):
            if getattr(obj, "__module__", None) != module.__name__:
                continue
            if inspect.isfunction(obj):
                yield obj
            elif inspect.isclass(obj):
                yield from (m for _, m in inspect.getmembers(obj, inspect.isfunction))


def test_every_named_shared_entry_is_filled_in():
    placeholder = re.compile(r"^\s*\{(" + "|".join(SHARED_PARAMETERS) + r")\}\s*$", re.M)
    unfilled = [
        f"{f.__module__}.{f.__qualname__}" for f in _public_functions() if placeholder.search(f.__doc__ or "")
    ]
    assert unfilled == []


def test_the_backend_entry_is_written_once_and_reaches_the_readers():
    functions = list(_public_functions())
    text = "The Ibis backend over the Tailor database"
    assert text in SHARED_PARAMETERS["backend"]
    filled = [f for f in functions if text in (f.__doc__ or "")]
    assert len(filled) >= 60  # every reader that takes the backend
    modules = {f.__module__ for f in filled}
    sources = "".join(inspect.getsource(importlib.import_module(name)) for name in modules)
    # The readers' source names the entry; the text itself is written in analytics/common/docs.py only.
    assert text not in sources


def test_fill_keeps_the_placeholders_indentation_and_leaves_other_braces():
    doc = (
        "Summary.\n\n    Parameters\n    ----------\n    {backend}\n"
        "    n : int\n        {not_shared} stays.\n"
    )
    filled = fill_docstring(doc)
    lines = filled.splitlines()
    assert lines[4] == "    backend : ibis.BaseBackend"
    assert lines[5].startswith("        The Ibis backend over the Tailor database")
    assert "{not_shared} stays." in filled

    @shared_docs
    def reader(backend):
        """Read.

        Parameters
        ----------
        {backend}
        """

    assert "backend : ibis.BaseBackend" in reader.__doc__ and "{backend}" not in reader.__doc__
