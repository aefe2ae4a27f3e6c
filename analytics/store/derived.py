"""Builders of the derived tables, registered by the capabilities that own their logic.

The store rebuilds ``customer_month``, the KPI cubes and ``customer_features`` whenever data
comes in, but the expressions that build them belong to the capabilities (the rollups live in
:mod:`analytics.kpis.rollups`). So the store imports no capability: each registers its builders
here when imported, and ``analytics/__init__.py`` imports them, so any use of the library has
them. A load with a derived table that nobody registered fails with :data:`MSG_NO_BUILDER`
rather than leaving the table stale.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import ibis
import ibis.expr.types as ir

Build = Callable[..., ir.Table]
"""``build(backend, *, as_of=..., history_start=...)`` returning the table's expression."""

MSG_NO_BUILDER = (
    "No builder is registered for the derived table(s) {tables}: import analytics (its __init__ "
    "registers them) before loading data."
)


@dataclass(frozen=True)
class Builder:
    """One derived table's builder.

    Parameters
    ----------
    table : str
        The derived table it fills.
    build : callable
        ``build(backend, *, history_start, [as_of])`` -> Ibis table expression.
    order : int
        Builders run in ascending order (the cubes read ``customer_month``).
    uses_as_of : bool
        Whether ``build`` takes the snapshot date ``as_of``.
    """

    table: str
    build: Build
    order: int
    uses_as_of: bool = True

    def expression(self, backend: ibis.BaseBackend, *, as_of: date, history_start: date) -> ir.Table:
        """The table's expression for this data set."""
        if self.uses_as_of:
            return self.build(backend, as_of=as_of, history_start=history_start)
        return self.build(backend, history_start=history_start)


_BUILDERS: dict[str, Builder] = {}


def register_builder(table: str, build: Build, *, order: int, uses_as_of: bool = True) -> None:
    """Register (or replace) the builder of a derived table.

    Parameters
    ----------
    table : str
        Name of a derived table of :data:`analytics.store.contracts.DERIVED_TABLES`.
    build : callable
        ``build(backend, *, history_start, [as_of])`` -> Ibis table expression.
    order : int
        Position among the builders (lower runs first).
    uses_as_of : bool
        Whether ``build`` takes ``as_of``.
    """
    _BUILDERS[table] = Builder(table, build, order, uses_as_of)


def registered_builders(tables: tuple[str, ...]) -> list[Builder]:
    """The builders of ``tables`` in run order; refuses a table that has none.

    Parameters
    ----------
    tables : tuple of str
        Every derived table the load must fill.

    Returns
    -------
    list of Builder
        Sorted by ``order``.
    """
    missing = [t for t in tables if t not in _BUILDERS]
    if missing:
        raise RuntimeError(MSG_NO_BUILDER.format(tables=", ".join(missing)))
    return sorted((_BUILDERS[t] for t in tables), key=lambda b: b.order)
