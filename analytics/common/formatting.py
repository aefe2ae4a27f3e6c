"""Number formats shared by the pages (pure functions, unit-tested)."""

from __future__ import annotations

import re
from datetime import date

MISSING = "n/a"


def format_value(value: float | None, unit: str) -> str:
    """Format a KPI value for a tile: % for shares, EUR for money, plain scores.

    Examples
    --------
    >>> format_value(0.1234, "pct")
    '12.3%'
    >>> format_value(1234.5, "eur")
    '€1,234'
    """
    if value is None:
        return MISSING
    if unit == "pct":
        return f"{value * 100:.1f}%"
    if unit == "eur":
        return f"€{value:,.0f}"
    if unit == "count":
        return f"{value:,.0f}"
    if unit == "ratio":
        return f"{value:.2f}"
    return f"{value:.1f}"


def format_change(change: float | None, unit: str) -> str | None:
    """Format a period-over-period change: percentage points for shares, signed otherwise.

    Examples
    --------
    >>> format_change(0.012, "pct")
    '+1.2 pp'
    >>> format_change(-3.0, "score")
    '-3.0 pts'
    """
    if change is None:
        return None
    digits = {"pct": 1, "eur": 0, "count": 0, "ratio": 2}.get(unit, 1)
    # Round before formatting and add 0.0, so that a change that rounds to zero reads
    # "+0.0", never "-0.0".
    shown = round(change * (100 if unit == "pct" else 1), digits) + 0.0
    if unit == "pct":
        return f"{shown:+.1f} pp"
    if unit == "eur":
        return f"{'+' if shown >= 0 else '-'}€{abs(shown):,.0f}"
    if unit == "count":
        return f"{shown:+,.0f}"
    if unit == "ratio":
        return f"{shown:+.2f}"
    return f"{shown:+.1f} pts"


def format_interval(low: float | None, high: float | None, unit: str) -> str | None:
    """``[low, high]`` in the KPI's unit, or None when there is no interval."""
    if low is None or high is None:
        return None
    return f"[{format_value(low, unit)}, {format_value(high, unit)}]"


def format_month(month: date) -> str:
    """``Oct 2026``."""
    return month.strftime("%b %Y")


def format_period(start: date, end: date) -> str:
    """``Aug–Oct 2026``, ``Dec 2025–Feb 2026`` or ``Oct 2026`` for one month."""
    if (start.year, start.month) == (end.year, end.month):
        return format_month(end)
    if start.year == end.year:
        return f"{start:%b}–{end:%b %Y}"
    return f"{start:%b %Y}–{end:%b %Y}"


# Characters that start markdown syntax anywhere in a line in Streamlit's renderer (CommonMark +
# GFM, plus Streamlit's ``:color[...]`` / ``:material/...:`` directives and ``$`` maths).
# Backslash first, so the escapes added for the others are not escaped again. ``-``, ``+`` and
# ``.`` only start a list at the beginning of a line, so only there are they escaped.
_MARKDOWN_SPECIALS = "\\`*_{}[]()#!|<>~$:"
_MARKDOWN_ESCAPES = str.maketrans({c: f"\\{c}" for c in _MARKDOWN_SPECIALS} | {"\n": " ", "\r": " "})
_LIST_START = re.compile(r"^(\s*)([-+]|\d+\.)")


def escape_markdown(text: str) -> str:
    r"""Escape user-named text (a segment's name, a file's name) so markdown shows it literally.

    Every markdown special character is backslash-escaped (``-``, ``+`` and ``1.`` where they
    would start a list), and line breaks become spaces, so a name can carry neither a link, an
    image, emphasis, a heading nor a list into a caption.

    Parameters
    ----------
    text : str
        The text as the user typed it.

    Returns
    -------
    str
        The text to interpolate into ``st.markdown``, ``st.caption``, ``st.info`` and the like.

    Examples
    --------
    >>> print(escape_markdown("[click](http://x) **bold**"))
    \[click\]\(http\://x\) \*\*bold\*\*
    >>> print(escape_markdown("- High-value 2.0"))
    \- High-value 2.0
    """
    escaped = str(text).translate(_MARKDOWN_ESCAPES)
    return _LIST_START.sub(lambda m: m.group(1) + (m.group(2)[:-1] + "\\" + m.group(2)[-1]), escaped)
