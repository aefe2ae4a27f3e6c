"""Shared machinery: the history window, named random streams and vectorized samplers.

Dates are handled as ``int64`` days since 1970-01-01 and timestamps as
``int64`` microseconds since the epoch (naive UTC) until the frames are built.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import polars as pl

DAY_US = 86_400_000_000
HOUR_US = 3_600_000_000
MINUTE_US = 60_000_000
SECOND_US = 1_000_000
NEVER = np.iinfo(np.int64).max // 4
"""Sentinel day for "not closed": far beyond any window, still safe to add to."""

HISTORY_MONTHS = 24
EPOCH = date(1970, 1, 1)


def to_day(value: date) -> int:
    """Days since 1970-01-01."""
    return (value - EPOCH).days


def from_day(day: int) -> date:
    """Inverse of :func:`to_day`."""
    return EPOCH + timedelta(days=int(day))


def add_months(value: date, months: int) -> date:
    """First day of the month ``months`` after ``value``'s month."""
    index = value.year * 12 + value.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


@dataclass(frozen=True)
class Window:
    """The 24-month history ending on the snapshot date.

    ``month_starts`` holds the epoch day of each month's first day plus, as a
    last element, the exclusive end (the day after ``as_of``).
    """

    as_of: date
    history_start: date
    start_day: int
    end_day: int
    month_starts: np.ndarray
    calendar_months: np.ndarray
    month_lengths: np.ndarray

    @classmethod
    def ending(cls, as_of: date) -> Window:
        """Window of :data:`HISTORY_MONTHS` calendar months whose last month contains ``as_of``."""
        history_start = add_months(as_of.replace(day=1), -(HISTORY_MONTHS - 1))
        starts = [to_day(add_months(history_start, m)) for m in range(HISTORY_MONTHS)]
        end_day = to_day(as_of) + 1
        calendar = np.array([add_months(history_start, m).month for m in range(HISTORY_MONTHS)])
        lengths = np.array(
            [to_day(add_months(history_start, m + 1)) - starts[m] for m in range(HISTORY_MONTHS)],
            dtype=np.int64,
        )
        return cls(
            as_of=as_of,
            history_start=history_start,
            start_day=starts[0],
            end_day=end_day,
            month_starts=np.array([*starts, end_day], dtype=np.int64),
            calendar_months=calendar,
            month_lengths=lengths,
        )

    @property
    def n_months(self) -> int:
        """Number of (possibly partial, for the last one) calendar months."""
        return len(self.calendar_months)

    def month_day(self, month_index: int, day_offset: int = 0) -> int:
        """Epoch day of ``day_offset`` days after the first of month ``month_index`` (0 = first month)."""
        return int(self.month_starts[month_index]) + day_offset


class Streams:
    """Independent, named random streams derived from one seed.

    Each part of the generator draws from its own ``Generator(PCG64)`` so that
    changing one part does not shift the random numbers of the others.
    """

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)

    def __call__(self, name: str) -> np.random.Generator:
        """A fresh generator for ``name`` (same seed and name, same numbers)."""
        key = zlib.crc32(name.encode())
        return np.random.Generator(np.random.PCG64(np.random.SeedSequence([self.seed, key])))


def choice_by_group(rng: np.random.Generator, probs: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Draw one category per row from the probability row of the row's group.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness.
    probs : numpy.ndarray
        ``(n_groups, n_categories)`` probabilities (rows need not be normalized).
    group : numpy.ndarray
        Group index of each row.

    Returns
    -------
    numpy.ndarray
        Category index per row (``int16``).
    """
    cum = np.cumsum(probs, axis=1)
    cum = cum / cum[:, -1:]
    u = rng.random(group.size)
    out = np.empty(group.size, dtype=np.int16)
    last = probs.shape[1] - 1
    for g in range(probs.shape[0]):
        rows = group == g
        if rows.any():
            out[rows] = np.minimum(np.searchsorted(cum[g], u[rows], side="right"), last)
    return out


def choice(rng: np.random.Generator, probs: np.ndarray, size: int) -> np.ndarray:
    """Draw ``size`` category indices from one probability vector (``int16``)."""
    cum = np.cumsum(probs) / np.sum(probs)
    return np.minimum(np.searchsorted(cum, rng.random(size), side="right"), len(probs) - 1).astype(np.int16)


def weighted_sample(rng: np.random.Generator, weights: np.ndarray, k: int) -> np.ndarray:
    """Indices of ``k`` rows drawn without replacement with probability proportional to ``weights``.

    Efraimidis-Spirakis keys: the ``k`` smallest ``Exp(1) / w``.
    """
    k = int(min(k, np.count_nonzero(weights > 0)))
    if k <= 0:
        return np.empty(0, dtype=np.int64)
    keys = rng.exponential(size=weights.size) / np.where(weights > 0, weights, np.nan)
    keys = np.where(np.isnan(keys), np.inf, keys)
    return np.sort(np.argpartition(keys, k - 1)[:k])


def systematic_pps(rng: np.random.Generator, p: np.ndarray) -> np.ndarray:
    """Boolean selection with inclusion probabilities ``p`` and a fixed total (systematic sampling).

    Each row is selected with probability ``p`` (all below 1) while the number
    selected is ``sum(p)`` rounded up or down, so a planted rate is realized
    without binomial noise on the total.
    """
    order = rng.permutation(p.size)
    cum = np.cumsum(p[order])
    start = rng.random()
    hits = np.floor(cum - start) - np.floor(np.concatenate([[0.0], cum[:-1]]) - start) > 0
    selected = np.zeros(p.size, dtype=bool)
    selected[order[hits]] = True
    return selected


HOUR_PROFILE_CARD = np.array(
    [
        0.3,
        0.2,
        0.1,
        0.1,
        0.1,
        0.3,
        1.0,
        2.5,
        3.5,
        4.5,
        5.5,
        6.5,
        7.0,
        6.0,
        5.5,
        6.0,
        6.5,
        6.5,
        5.0,
        3.5,
        2.5,
        1.5,
        0.9,
        0.5,
    ]
)
"""Relative activity by UTC hour for card payments (local time is UTC+1/+2)."""
HOUR_PROFILE_DIGITAL = np.array(
    [
        0.8,
        0.4,
        0.2,
        0.1,
        0.1,
        0.3,
        1.5,
        3.5,
        4.0,
        3.5,
        3.0,
        3.2,
        3.8,
        3.5,
        3.0,
        3.0,
        3.5,
        4.5,
        5.5,
        6.5,
        7.0,
        5.5,
        3.5,
        1.8,
    ]
)
HOUR_PROFILE_OFFICE = np.array(
    [0, 0, 0, 0, 0, 0, 0.2, 2.0, 6.0, 8.0, 8.0, 7.0, 6.0, 7.0, 7.5, 7.0, 5.0, 2.0, 0.5, 0.3, 0.2, 0, 0, 0]
)


def time_of_day_us(rng: np.random.Generator, profile: np.ndarray, size: int) -> np.ndarray:
    """Microseconds after midnight drawn from an hourly profile (uniform within the hour)."""
    hour = choice(rng, profile, size).astype(np.int64)
    return hour * HOUR_US + (rng.random(size) * HOUR_US).astype(np.int64)


def date_series(name: str, days: np.ndarray) -> pl.Series:
    """Polars ``Date`` column from epoch days (``NEVER`` or negative sentinels become null)."""
    null = days >= NEVER
    s = pl.Series(name, np.where(null, 0, days).astype(np.int32)).cast(pl.Date)
    return s.set(pl.Series(null), None) if null.any() else s


def ts_series(name: str, micros: np.ndarray, null: np.ndarray | None = None) -> pl.Series:
    """Polars ``Datetime("us")`` column from epoch microseconds, floored to whole seconds.

    ``null`` marks missing values. Flooring keeps every order (funnel steps,
    "before closing") that held on the microseconds.
    """
    whole = micros.astype(np.int64) // SECOND_US * SECOND_US
    s = pl.Series(name, whole).cast(pl.Datetime("us"))
    if null is not None and null.any():
        s = s.set(pl.Series(null), None)
    return s


def str_series(name: str, labels: tuple[str, ...] | list[str], index: np.ndarray) -> pl.Series:
    """Polars ``String`` column from category indices into ``labels``."""
    return pl.Series(name, list(labels), dtype=pl.String).gather(index.astype(np.uint32)).alias(name)


def nullable_str_series(name: str, labels: tuple[str, ...] | list[str], index: np.ndarray) -> pl.Series:
    """Like :func:`str_series`, with negative indices becoming null."""
    missing = index < 0
    s = str_series(name, labels, np.where(missing, 0, index))
    return s.set(pl.Series(missing), None) if missing.any() else s


def time_order(ts_us: np.ndarray, customer: np.ndarray) -> np.ndarray:
    """Stable order by (whole second, customer position): the order of the final, second-floored rows.

    One ``int64`` key sorted with ``maintain_order`` is several times faster than
    sorting the finished frame on two columns, and ties keep their (deterministic)
    generation order.
    """
    bits = max(int(customer.max(initial=0)).bit_length(), 1)
    key = (ts_us // SECOND_US) << bits | customer.astype(np.int64)
    frame = pl.DataFrame({"key": key})
    return frame.select(pl.arg_sort_by("key", maintain_order=True)).to_series().to_numpy()


def weekday(days: np.ndarray) -> np.ndarray:
    """Day of week for epoch days (0 = Monday); 1970-01-01 was a Thursday."""
    return (days + 3) % 7
