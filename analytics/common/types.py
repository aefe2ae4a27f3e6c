"""Domain types every capability shares: roles, products, regions, age bands, users, KPI filters."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Literal

Role = Literal["executive", "marketing_analyst", "compliance_reviewer", "admin"]


ROLES: tuple[Role, ...] = ("executive", "marketing_analyst", "compliance_reviewer", "admin")


ProductId = Literal[
    "current_account",
    "savings",
    "credit_card",
    "personal_loan",
    "mortgage",
    "investment_fund",
    "insurance",
]


PRODUCT_IDS: tuple[str, ...] = (
    "current_account",
    "savings",
    "credit_card",
    "personal_loan",
    "mortgage",
    "investment_fund",
    "insurance",
)


AGE_BANDS: tuple[str, ...] = ("18-24", "25-34", "35-44", "45-54", "55-64", "65+")


REGIONS: tuple[str, ...] = ("Capital", "North", "South", "East", "West", "Central")


@dataclass(frozen=True)
class User:
    """A signed-in user as the app sees it (never carries the hash)."""

    username: str
    role: Role


@dataclass(frozen=True)
class SignInResult:
    """Outcome of one sign-in attempt.

    ``user`` is set only on success; ``message`` is what the person is shown.
    """

    ok: bool
    message: str
    user: User | None = None


@dataclass(frozen=True)
class KpiFilters:
    """Filters shared by every KPI: a month range and optional slices.

    Parameters
    ----------
    start_month, end_month : datetime.date
        First days of the first and last calendar month included.
    regions, age_bands, products : tuple of str
        Keep only customers in these regions / age bands / holding one of these
        products during the period. Empty means no restriction.
    segment_id : str or None
        Keep only the members of this saved segment version (``segment_members``).
    """

    start_month: date
    end_month: date
    regions: tuple[str, ...] = field(default_factory=tuple)
    age_bands: tuple[str, ...] = field(default_factory=tuple)
    products: tuple[str, ...] = field(default_factory=tuple)
    segment_id: str | None = None


MSG_BAD_PERIOD = "The period starts ({start:%Y-%m}) after it ends ({end:%Y-%m})."


MSG_BAD_SEGMENT = "Unknown segment reference {segment!r}: pick a saved segment from the list."


_SEGMENT_ID = re.compile(r"[0-9a-f]{12}")


def normalize_filters(filters: KpiFilters) -> KpiFilters:
    """Filters with months moved to their first day and slices as tuples.

    Parameters
    ----------
    filters : KpiFilters
        Filters as a caller built them.

    Returns
    -------
    KpiFilters
        The same selection, normalized.

    Raises
    ------
    ValueError
        When the period starts after it ends (:data:`MSG_BAD_PERIOD`), or the segment
        reference is not a segment id (:data:`MSG_BAD_SEGMENT`).
    """
    start, end = filters.start_month.replace(day=1), filters.end_month.replace(day=1)
    if start > end:
        raise ValueError(MSG_BAD_PERIOD.format(start=start, end=end))
    # Segment ids are made by analytics.segments.store; anything else never reaches a query.
    if filters.segment_id is not None and not _SEGMENT_ID.fullmatch(filters.segment_id):
        raise ValueError(MSG_BAD_SEGMENT.format(segment=filters.segment_id))
    return replace(
        filters,
        start_month=start,
        end_month=end,
        regions=tuple(filters.regions),
        age_bands=tuple(filters.age_bands),
        products=tuple(filters.products),
    )
