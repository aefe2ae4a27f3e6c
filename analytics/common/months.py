"""Calendar-month arithmetic on first-of-month dates (periods, windows, the last full month)."""

from __future__ import annotations

from datetime import date, timedelta


def last_full_month(as_of: date) -> date:
    """The last whole month of data: the snapshot month if the snapshot is its last day, else the one before.

    Examples
    --------
    >>> last_full_month(date(2026, 10, 31)), last_full_month(date(2026, 10, 30))
    (datetime.date(2026, 10, 1), datetime.date(2026, 9, 1))
    """
    if (as_of + timedelta(days=1)).day == 1:
        return as_of.replace(day=1)
    return add_months(as_of.replace(day=1), -1)


def add_months(month: date, n: int) -> date:
    """The first day of the month ``n`` months after ``month`` (``n`` may be negative).

    Examples
    --------
    >>> add_months(date(2025, 1, 1), -2)
    datetime.date(2024, 11, 1)
    """
    index = month.year * 12 + month.month - 1 + n
    return date(index // 12, index % 12 + 1, 1)


def months_between(first: date, last: date) -> int:
    """Whole calendar months from ``first`` to ``last`` (first days of months; negative if before).

    Examples
    --------
    >>> months_between(date(2025, 11, 1), date(2026, 2, 1))
    3
    """
    return (last.year - first.year) * 12 + last.month - first.month
