"""Number formats shown on tiles and in the CLI (analytics.common.formatting)."""

from datetime import date

import pytest

from analytics.common.formatting import (
    escape_markdown,
    format_change,
    format_interval,
    format_period,
    format_value,
)


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        (0.98765, "pct", "98.8%"),
        (6037.4, "eur", "€6,037"),
        (17287.0, "count", "17,287"),
        (2.9349, "ratio", "2.93"),
        (-3.04, "score", "-3.0"),
        (None, "pct", "n/a"),
    ],
)
def test_values(value, unit, expected):
    assert format_value(value, unit) == expected


@pytest.mark.parametrize(
    ("change", "unit", "expected"),
    [
        (-0.0013, "pct", "-0.1 pp"),
        (-73.2, "eur", "-€73"),
        (248.0, "eur", "+€248"),
        (-44.0, "count", "-44"),
        (0.04, "ratio", "+0.04"),
        (1.93, "score", "+1.9 pts"),
        (None, "score", None),
        (-0.00002, "pct", "+0.0 pp"),
        (-0.3, "eur", "+€0"),
    ],
)
def test_changes(change, unit, expected):
    assert format_change(change, unit) == expected


def test_intervals_and_periods():
    assert format_interval(0.648, 0.704, "pct") == "[64.8%, 70.4%]"
    assert format_interval(None, 1.0, "pct") is None
    assert format_period(date(2026, 8, 1), date(2026, 10, 1)) == "Aug–Oct 2026"
    assert format_period(date(2025, 11, 1), date(2026, 10, 1)) == "Nov 2025–Oct 2026"
    assert format_period(date(2026, 10, 1), date(2026, 10, 1)) == "Oct 2026"


EVIL_NAME = "[click](http://evil.example) ![x](http://evil.example/x.png) **bold**"


def test_escape_markdown_leaves_no_link_image_or_emphasis():
    escaped = escape_markdown(EVIL_NAME)
    assert escaped == (
        r"\[click\]\(http\://evil.example\) \!\[x\]\(http\://evil.example/x.png\) \*\*bold\*\*"
    )
    assert "](" not in escaped and "**" not in escaped


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Young salaried", "Young salaried"),
        ("# heading", r"\# heading"),
        ("a\\b", r"a\\b"),
        ("`code` _it_ <b>|x|</b>", r"\`code\` \_it\_ \<b\>\|x\|\</b\>"),
        (":red[alarm] $x$ ~~old~~", r"\:red\[alarm\] \$x\$ \~\~old\~\~"),
        ("two\nlines", "two lines"),
        ("- item", r"\- item"),
        ("+ item", r"\+ item"),
        ("12. item", r"12\. item"),
        ("High-value 2.0 + more", "High-value 2.0 + more"),
    ],
)
def test_escape_markdown_escapes_each_special(text, expected):
    assert escape_markdown(text) == expected
