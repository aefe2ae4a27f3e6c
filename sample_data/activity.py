"""Holdings, churn, transactions, digital sessions and support contacts.

Events are drawn month by month (a loop over the 24 months, vectorized over
customers): a Poisson count per customer from the customer's latent rate, the
month's seasonality, the share of the month the customer was a customer and,
for customers who leave, a fade-out over the months before closing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from analytics.common.types import PRODUCT_IDS
from sample_data import personas as P
from sample_data import text as T
from sample_data.core import (
    DAY_US,
    HOUR_PROFILE_CARD,
    HOUR_PROFILE_DIGITAL,
    HOUR_PROFILE_OFFICE,
    HOUR_US,
    NEVER,
    SECOND_US,
    Streams,
    Window,
    choice,
    choice_by_group,
    str_series,
    time_of_day_us,
    time_order,
    ts_series,
    weekday,
)
from sample_data.people import Population

K_PRODUCTS = len(PRODUCT_IDS)
PRODUCT_INDEX = {p: i for i, p in enumerate(PRODUCT_IDS)}

MORTGAGE_MIN_AGE_DAYS = 23 * 366  # at least 23 calendar years old when a mortgage starts

# Month of the planted incident (index into the window) and its days (offsets within the month).
INCIDENT_MONTH_INDEX = 16
INCIDENT_DAYS = (2, 12)


@dataclass
class BaseHoldings:
    """Products held from onboarding or bought outside campaigns: one slot per customer and product."""

    held: np.ndarray
    open_day: np.ndarray
    close_day: np.ndarray
    earliest: np.ndarray  # first day each product could have been opened

    def holds_on(self, product: int, day: int) -> np.ndarray:
        """Customers holding ``product`` on ``day``."""
        return self.held[:, product] & (self.open_day[:, product] <= day) & (self.close_day[:, product] > day)


def build_base_holdings(pop: Population, window: Window, streams: Streams) -> BaseHoldings:
    """Draw which products each customer holds from the persona propensities, and when each was opened."""
    rng = streams("holdings")
    n = pop.n
    prop = P.PROPENSITY[pop.persona].copy()
    rel_income = pop.income / P.INCOME_MEDIAN[pop.persona]
    # Richer customers within a persona hold more mortgages and funds; nobody under 23 has a mortgage.
    for name in ("mortgage", "investment_fund"):
        k = PRODUCT_INDEX[name]
        prop[:, k] = np.minimum(prop[:, k] * rel_income**0.5, 0.97)
    prop[:, PRODUCT_INDEX["mortgage"]] *= pop.age >= 25
    held = rng.random((n, K_PRODUCTS)) < prop
    last_day = window.end_day - 1
    earliest = np.repeat(pop.joined_day[:, None], K_PRODUCTS, axis=1)
    mortgage = PRODUCT_INDEX["mortgage"]
    earliest[:, mortgage] = np.maximum(pop.joined_day, pop.birth_day + MORTGAGE_MIN_AGE_DAYS)
    held[:, mortgage] &= earliest[:, mortgage] <= last_day
    # Everybody holds something: customers drawn with nothing get the current account.
    held[~held.any(axis=1), PRODUCT_INDEX["current_account"]] = True
    span = np.maximum(last_day - earliest, 0)
    open_day = earliest + (rng.random((n, K_PRODUCTS)) * span).astype(np.int64)
    cur = PRODUCT_INDEX["current_account"]
    open_day[:, cur] = pop.joined_day + rng.integers(0, 3, n)
    open_day = np.minimum(open_day, last_day)
    open_day = np.where(held, open_day, NEVER)
    close_day = np.full((n, K_PRODUCTS), NEVER, dtype=np.int64)
    # Personal loans run 2-7 years and close when repaid.
    loan = PRODUCT_INDEX["personal_loan"]
    term = rng.integers(24, 85, n) * 30
    matured = held[:, loan] & (open_day[:, loan] + term < last_day)
    close_day[:, loan] = np.where(matured, open_day[:, loan] + term, NEVER)
    return BaseHoldings(held=held, open_day=open_day, close_day=close_day, earliest=earliest)


# -- churn ------------------------------------------------------------------------------------------
CHURN_COEFFICIENTS: dict[str, float] = {
    "sessions": -0.45,
    "products": -0.40,
    "support": 0.45,
    "tenure": -0.35,
    "satisfaction": -0.45,
}


def _z(x: np.ndarray) -> np.ndarray:
    return (x - x.mean()) / (x.std() or 1.0)


def assign_churn(pop: Population, base: BaseHoldings, window: Window, streams: Streams) -> dict:
    """Decide who closes in the window, when, and why; close their holdings.

    The log-odds of closing combine the persona offset with standardized
    latent drivers (digital engagement, products held, support contacts,
    tenure, satisfaction); the intercept is solved so that the expected share
    of closers equals ``CHURN_TARGET_SHARE``.

    Returns
    -------
    dict
        The planted model: coefficients, intercept and the driver values.
    """
    rng = streams("churn")
    mid = (window.start_day + window.end_day) / 2
    tenure_years = np.maximum(mid - pop.joined_day, 0) / 365.25
    drivers = {
        "sessions": _z(np.log(pop.session_rate + 0.1)),
        "products": _z(base.held.sum(axis=1).astype(float)),
        "support": _z(np.log(pop.support_rate + 0.005)),
        "tenure": _z(np.log1p(tenure_years)),
        "satisfaction": _z(pop.satisfaction),
    }
    score = P.CHURN_PERSONA_OFFSET[pop.persona] + sum(CHURN_COEFFICIENTS[k] * v for k, v in drivers.items())
    # Customers can close from 90 days after joining; exposure scales the window probability.
    lo = np.maximum(pop.joined_day + 90, window.start_day)
    hi = window.end_day - 1
    exposure = np.clip((hi - lo) / (window.end_day - window.start_day), 0.0, 1.0)

    def share(b0: float) -> float:
        return float(np.mean(exposure / (1.0 + np.exp(-(b0 + score)))))

    lo_b, hi_b = -12.0, 4.0
    for _ in range(50):  # bisection for the intercept that hits the target share
        b0 = (lo_b + hi_b) / 2
        lo_b, hi_b = (b0, hi_b) if share(b0) < P.CHURN_TARGET_SHARE else (lo_b, b0)
    prob = exposure / (1.0 + np.exp(-(b0 + score)))
    churn = rng.random(pop.n) < prob
    closed = lo + (rng.random(pop.n) * np.maximum(hi - lo, 1)).astype(np.int64)
    pop.closed_day = np.where(churn, closed, NEVER)

    # Closure reason: persona mix, tilted towards service for customers with many support contacts.
    weights = np.tile(np.array([0.35, 0.20, 0.15, 0.10, 0.15, 0.05]), (pop.n, 1))
    weights[:, 2] *= np.exp(drivers["support"])
    weights[pop.persona == P.PERSONAS.index("small_business"), 1] *= 2.0
    weights[pop.persona == P.PERSONAS.index("retiree"), 5] *= 8.0
    weights[pop.persona == P.PERSONAS.index("student"), 3] *= 2.0
    cum = np.cumsum(weights, axis=1)
    u = rng.random(pop.n) * cum[:, -1]
    reason = (u[:, None] > cum).sum(axis=1)
    pop.closure_reason = np.where(churn, reason, -1).astype(np.int16)
    # Six in ten closers move their salary elsewhere a few weeks before closing.
    stop = pop.closed_day - rng.integers(15, 76, pop.n)
    pop.salary_stop_day = np.where(churn & (rng.random(pop.n) < 0.6), stop, pop.closed_day)

    # Holdings of closers: opened before the closure (re-drawn if needed) and closed with it.
    closed_c = pop.closed_day[:, None]
    base.held &= base.earliest < closed_c  # e.g. no mortgage for someone who left before 23
    late = base.held & (base.open_day >= closed_c)
    redraw = base.earliest + (
        rng.random(base.open_day.shape) * np.maximum(closed_c - base.earliest, 1)
    ).astype(np.int64)
    base.open_day = np.where(late, np.minimum(redraw, closed_c - 1), base.open_day)
    base.open_day = np.where(base.held, base.open_day, NEVER)
    base.close_day = np.minimum(base.close_day, np.where(base.held, closed_c, NEVER))
    return {
        "intercept": b0,
        "coefficients": dict(CHURN_COEFFICIENTS),
        "persona_offset": dict(zip(P.PERSONAS, P.CHURN_PERSONA_OFFSET.tolist(), strict=True)),
        "target_share": P.CHURN_TARGET_SHARE,
        "realized_share": float(churn.mean()),
    }


# -- transactions -----------------------------------------------------------------------------------
@dataclass
class RevenueTreatment:
    """Debit amounts of treated customers between two days (inclusive) are scaled by ``1 + effect``."""

    treated: np.ndarray
    start_day: int
    end_day: int
    effect: float


CREDIT_CATEGORIES = ("salary", "pension", "allowance", "business_income", "refund")
FRAUD_CATEGORIES = ("electronics", "jewelry", "gift_cards", "gaming")
FRAUD_COUNTRIES = ("US", "GB", "BR", "TH", "AE", "MX", "ZA", "RO")
ALL_CATEGORIES: tuple[str, ...] = P.DEBIT_CATEGORIES + CREDIT_CATEGORIES + FRAUD_CATEGORIES[1:]
ALL_COUNTRIES: tuple[str, ...] = tuple(
    dict.fromkeys((P.HOME_COUNTRY, *P.TRAVEL_COUNTRIES, *P.ONLINE_FOREIGN_COUNTRIES, *FRAUD_COUNTRIES))
)
EURO_MASK = np.array([c in P.EURO_COUNTRIES for c in ALL_COUNTRIES])
_TRAVEL_CODES = np.array([ALL_COUNTRIES.index(c) for c in P.TRAVEL_COUNTRIES], dtype=np.int16)
_ONLINE_CODES = np.array([ALL_COUNTRIES.index(c) for c in P.ONLINE_FOREIGN_COUNTRIES], dtype=np.int16)
_CAT = {c: i for i, c in enumerate(ALL_CATEGORIES)}
_CH = {c: i for i, c in enumerate(P.TXN_CHANNELS)}


@dataclass
class _Batch:
    """Columns of a batch of transactions before they become a frame."""

    cust: np.ndarray
    ts: np.ndarray
    amount: np.ndarray
    credit: np.ndarray
    category: np.ndarray
    channel: np.ndarray
    country: np.ndarray


def _concat_in_time_order(batches: list[_Batch]) -> _Batch:
    """One batch sorted by time, built field by field so that at most two copies of a column live at once."""
    columns: dict[str, np.ndarray] = {}
    order = None
    for name in ("ts", "cust", "amount", "credit", "category", "channel", "country"):
        column = np.concatenate([getattr(b, name) for b in batches])
        for b in batches:
            setattr(b, name, None)  # the per-month pieces are no longer needed
        if order is None:
            order = time_order(column, np.concatenate([b.cust for b in batches]))
        columns[name] = column[order]
        del column
    batches.clear()
    return _Batch(**columns)


def _fees(b: _Batch) -> np.ndarray:
    """Bank revenue per transaction: interchange on card spend, FX markup and foreign ATM fees."""
    foreign_fx = ~EURO_MASK[b.country]
    fee = np.zeros(b.amount.size)
    debit = ~b.credit
    present = debit & (b.channel == _CH["card_present"])
    online = debit & (b.channel == _CH["card_online"])
    atm = debit & (b.channel == _CH["atm"])
    fee[present] = b.amount[present] * P.INTERCHANGE_PRESENT
    fee[online] = b.amount[online] * P.INTERCHANGE_ONLINE
    fx = (present | online | atm) & foreign_fx
    fee[fx] += b.amount[fx] * P.FX_MARKUP
    fee[atm & foreign_fx] += P.ATM_FOREIGN_FEE
    return np.round(fee, 2)


def _month_span(pop: Population, window: Window, m: int) -> tuple[np.ndarray, np.ndarray, float, float]:
    ms, me = int(window.month_starts[m]), int(window.month_starts[m + 1])
    lo = np.maximum(pop.active_start(window), ms)
    hi = np.minimum(pop.active_end(window), me)
    overlap = np.maximum(hi - lo, 0)
    return lo, overlap, (ms + me) / 2, float(me - ms)


def _debits(pop: Population, window: Window, rng: np.random.Generator, m: int) -> _Batch:
    lo, overlap, mid, days = _month_span(pop, window, m)
    cal = int(window.calendar_months[m])
    lam = pop.debit_rate * P.MONTH_TXN_MULT[cal - 1] * (overlap / days) * pop.decay(mid)
    counts = rng.poisson(lam)
    idx = np.repeat(np.arange(pop.n, dtype=np.int32), counts)
    k = idx.size
    persona = pop.persona[idx]
    day = lo[idx] + (rng.random(k) * overlap[idx]).astype(np.int64)
    cat = choice_by_group(rng, P.CATEGORY_WEIGHTS * P.month_category_multiplier(cal), persona)
    chan = choice_by_group(rng, P.CATEGORY_CHANNEL_P, cat)
    # Younger personas shop online more often, retirees less.
    bias = P.ONLINE_BIAS[persona]
    flip = rng.random(k) < np.abs(bias)
    chan = np.where(
        flip & (bias > 0) & (chan == _CH["card_present"]) & (cat != _CAT["fuel"]), _CH["card_online"], chan
    )
    chan = np.where(flip & (bias < 0) & (chan == _CH["card_online"]), _CH["card_present"], chan)
    amount = (
        pop.spend_level[idx] * P.CATEGORY_MEDIAN[cat] * np.exp(P.CATEGORY_SIGMA[cat] * rng.standard_normal(k))
    )
    cash = cat == _CAT["cash_withdrawal"]
    amount = np.where(cash, np.maximum(np.round(amount / 10) * 10, 10.0), np.maximum(amount, 0.5))
    amount = np.minimum(amount, 25_000.0)

    # Travel abroad: card and cash use, more in summer and December.
    p_abroad = pop.travel[idx] * P.MONTH_TRAVEL_MULT[cal - 1] * np.where(cat == _CAT["travel"], 3.0, 1.0)
    physical = (chan == _CH["card_present"]) | (chan == _CH["atm"])
    abroad = physical & (rng.random(k) < np.minimum(p_abroad, 0.7))
    foreign_shop = (chan == _CH["card_online"]) & (rng.random(k) < 0.12)
    country = np.zeros(k, dtype=np.int16)
    country = np.where(abroad, _TRAVEL_CODES[choice(rng, P.TRAVEL_COUNTRY_P, k)], country)
    country = np.where(foreign_shop, _ONLINE_CODES[choice(rng, P.ONLINE_FOREIGN_P, k)], country)

    tod = np.where(
        chan == _CH["direct_debit"],
        4 * HOUR_US + (rng.random(k) * 2 * HOUR_US).astype(np.int64),
        time_of_day_us(rng, HOUR_PROFILE_CARD, k),
    )
    return _Batch(idx, day * DAY_US + tod, amount, np.zeros(k, bool), cat, chan, country)


def _pay_day(day_of_month_start: int, days_in_month: int, target: np.ndarray) -> np.ndarray:
    """Epoch day of the target day of month, moved back to Friday when it falls on a weekend."""
    day = day_of_month_start + np.minimum(target, days_in_month) - 1
    wd = weekday(day)
    return day - np.where(wd == 5, 1, np.where(wd == 6, 2, 0))


def _credits(
    pop: Population, window: Window, rng: np.random.Generator, m: int, allowance: np.ndarray
) -> _Batch:
    ms = int(window.month_starts[m])
    cal = int(window.calendar_months[m])
    start, end = pop.active_start(window), pop.active_end(window)
    kind = np.array([CREDIT_CATEGORIES.index(k) for k in P.SALARY_KIND])[pop.persona]
    salary, pension = CREDIT_CATEGORIES.index("salary"), CREDIT_CATEGORIES.index("pension")
    allow, business = CREDIT_CATEGORIES.index("allowance"), CREDIT_CATEGORIES.index("business_income")
    # Salaries on the customer's salary day, pensions on the 23rd, allowances on the 1st.
    target = np.where(kind == pension, 23, np.where(kind == allow, 1, pop.salary_day))
    # In a partial last month, pay days after the snapshot are simply not reached (pay < end below).
    pay = _pay_day(ms, int(window.month_lengths[m]), target)
    paid = (kind != business) & pop.has_salary & (pay >= start) & (pay < end) & (pay < pop.salary_stop_day)
    year_index = (m + int(window.calendar_months[0]) - 1) // 12
    monthly = pop.income * 0.70 / 12 * 1.03**year_index
    # Dutch holiday allowance (8% of the yearly salary) comes with the May salary.
    monthly = np.where((cal == 5) & (kind == salary), monthly + pop.income * 0.08 * 0.7, monthly)
    monthly = np.where(kind == pension, pop.income * 0.85 / 12, monthly)
    monthly = np.where(kind == allow, allowance, monthly)
    s_idx = np.flatnonzero(paid)
    s_ts = pay[s_idx] * DAY_US + 5 * HOUR_US + (rng.random(s_idx.size) * HOUR_US).astype(np.int64)
    s_cat = (kind[s_idx] + len(P.DEBIT_CATEGORIES)).astype(np.int16)

    lo, overlap, mid, days = _month_span(pop, window, m)
    lam_b = np.where(kind == business, P.BUSINESS_CREDITS_PER_MONTH, 0.0) * (overlap / days) * pop.decay(mid)
    lam_r = 0.04 * (overlap / days)
    nb, nr = rng.poisson(lam_b), rng.poisson(lam_r)
    b_idx = np.repeat(np.arange(pop.n, dtype=np.int32), nb)
    r_idx = np.repeat(np.arange(pop.n, dtype=np.int32), nr)
    e_idx = np.concatenate([b_idx, r_idx])
    e_day = lo[e_idx] + (rng.random(e_idx.size) * overlap[e_idx]).astype(np.int64)
    e_ts = e_day * DAY_US + time_of_day_us(rng, HOUR_PROFILE_OFFICE, e_idx.size)
    b_amt = (
        pop.income[b_idx]
        * 0.8
        / 12
        / P.BUSINESS_CREDITS_PER_MONTH
        * np.exp(0.7 * rng.standard_normal(b_idx.size) - 0.245)
    )
    r_amt = 35.0 * np.exp(0.8 * rng.standard_normal(r_idx.size))
    e_cat = np.concatenate(
        [np.full(b_idx.size, _CAT["business_income"]), np.full(r_idx.size, _CAT["refund"])]
    )
    e_chan = np.concatenate([np.full(b_idx.size, _CH["transfer"]), np.full(r_idx.size, _CH["card_online"])])

    idx = np.concatenate([s_idx, e_idx])
    return _Batch(
        cust=idx,
        ts=np.concatenate([s_ts, e_ts]),
        amount=np.concatenate([monthly[s_idx], b_amt, r_amt]),
        credit=np.ones(idx.size, bool),
        category=np.concatenate([s_cat, e_cat]).astype(np.int16),
        channel=np.concatenate([np.full(s_idx.size, _CH["transfer"]), e_chan]).astype(np.int16),
        country=np.zeros(idx.size, np.int16),
    )


def _fraud_bursts(pop: Population, window: Window, rng: np.random.Generator) -> tuple[_Batch, list[dict]]:
    """About 0.5% of customers suffer a burst: 5-15 card debits in 30 minutes, abroad or at odd merchants."""
    start, end = pop.active_start(window), pop.active_end(window)
    eligible = np.flatnonzero((end - start >= 60) & (rng.random(pop.n) < 0.005))
    nb = eligible.size
    day = start[eligible] + (rng.random(nb) * (end[eligible] - start[eligible] - 2)).astype(np.int64)
    t0 = day * DAY_US + rng.integers(0, 86_400, nb) * SECOND_US
    count = rng.integers(5, 16, nb)
    burst = np.repeat(np.arange(nb), count)
    k = burst.size
    offset = rng.integers(0, 30 * 60, k) * SECOND_US  # whole seconds, so the truth matches the table
    first = np.cumsum(count) - count  # each burst's first debit (empty when no one is hit: a small bank)
    offset[first] = 0  # the burst starts at t0
    domestic = rng.random(nb) < 0.15
    b_country = np.where(
        domestic, 0, np.array([ALL_COUNTRIES.index(c) for c in FRAUD_COUNTRIES])[rng.integers(0, 8, nb)]
    ).astype(np.int16)
    fraud_cats = np.array([_CAT["electronics"], _CAT["jewelry"], _CAT["gift_cards"], _CAT["gaming"]])
    batch = _Batch(
        cust=eligible[burst],
        ts=t0[burst] + offset,
        amount=np.clip(160.0 * np.exp(0.8 * rng.standard_normal(k)), 5.0, 2_500.0),
        credit=np.zeros(k, bool),
        category=fraud_cats[rng.integers(0, 4, k)].astype(np.int16),
        channel=np.where(rng.random(k) < 0.7, _CH["card_online"], _CH["card_present"]).astype(np.int16),
        country=b_country[burst],
    )
    last = np.zeros(nb, dtype=np.int64)
    np.maximum.at(last, burst, batch.ts)
    bursts = [
        {
            "customer_id": int(pop.customer_id[c]),
            "start_ts": int(s),
            "end_ts": int(e),
            "count": int(n),
            "country": ALL_COUNTRIES[int(co)],
        }
        for c, s, e, n, co in zip(eligible, t0, last, count, b_country, strict=True)
    ]
    return batch, bursts


def build_transactions(
    pop: Population, window: Window, streams: Streams, treatment: RevenueTreatment
) -> tuple[pl.DataFrame, list[dict]]:
    """The transactions table, sorted by time, and the planted fraud bursts (times in epoch microseconds)."""
    rng = streams("transactions")
    allowance = 350.0 * np.exp(0.35 * rng.standard_normal(pop.n))
    batches = []
    for m in range(window.n_months):
        debit = _debits(pop, window, rng, m)
        # Planted revenue effect: treated customers' debits inside the experiment period.
        day = debit.ts // DAY_US
        hit = treatment.treated[debit.cust] & (day >= treatment.start_day) & (day <= treatment.end_day)
        debit.amount = np.where(hit, debit.amount * (1.0 + treatment.effect), debit.amount)
        batches.append(debit)
        batches.append(_credits(pop, window, rng, m, allowance))
    fraud, bursts = _fraud_bursts(pop, window, streams("fraud"))
    batches.append(fraud)
    b = _concat_in_time_order(batches)
    b.amount = np.round(b.amount, 2)
    frame = pl.DataFrame(
        [
            pl.Series("transaction_id", np.arange(1, b.cust.size + 1, dtype=np.int64)),
            pl.Series("customer_id", pop.customer_id[b.cust]),
            ts_series("ts", b.ts),
            pl.Series("amount", b.amount),
            str_series("direction", ("debit", "credit"), b.credit.astype(np.int8)),
            str_series("merchant_category", ALL_CATEGORIES, b.category),
            str_series("channel", P.TXN_CHANNELS, b.channel),
            str_series("country", ALL_COUNTRIES, b.country),
            pl.Series("fee", _fees(b)),
        ]
    )
    return frame, bursts


# -- digital sessions -------------------------------------------------------------------------------
def build_digital_events(pop: Population, window: Window, streams: Streams) -> pl.DataFrame:
    """One row per app or web session; sessions fade out before closing and fail during the incident."""
    rng = streams("digital_events")
    inc_lo = window.month_day(INCIDENT_MONTH_INDEX, INCIDENT_DAYS[0])
    inc_hi = window.month_day(INCIDENT_MONTH_INDEX, INCIDENT_DAYS[1])
    parts: list[tuple[np.ndarray, ...]] = []
    for m in range(window.n_months):
        lo, overlap, mid, days = _month_span(pop, window, m)
        cal = int(window.calendar_months[m])
        lam = pop.session_rate * P.MONTH_SESSION_MULT[cal - 1] * (overlap / days) * pop.decay(mid)
        idx = np.repeat(np.arange(pop.n, dtype=np.int32), rng.poisson(lam))
        k = idx.size
        day = lo[idx] + (rng.random(k) * overlap[idx]).astype(np.int64)
        ts = day * DAY_US + time_of_day_us(rng, HOUR_PROFILE_DIGITAL, k)
        app = rng.random(k) < pop.app_share[idx]
        duration = np.where(app, 95.0, 260.0) * np.exp(0.8 * rng.standard_normal(k))
        duration = np.clip(np.round(duration), 5, 7_200)
        # Incident: half of the app sessions on the incident days are failed log-ins.
        failed = app & (day >= inc_lo) & (day < inc_hi) & (rng.random(k) < 0.5)
        duration = np.where(failed, rng.integers(5, 40, k), duration)
        views = 1 + rng.poisson(duration / np.where(app, 35.0, 45.0))
        views = np.where(failed, 1, np.minimum(views, 200))
        parts.append((idx, ts, app, duration.astype(np.int32), views.astype(np.int32)))
    columns = [np.concatenate(cols) for cols in zip(*parts, strict=True)]
    parts.clear()
    order = time_order(columns[1], columns[0])
    for i in range(len(columns)):  # one column at a time keeps the peak memory low at a million customers
        columns[i] = columns[i][order]
    idx, ts, app, duration, views = columns
    return pl.DataFrame(
        [
            pl.Series("event_id", np.arange(1, idx.size + 1, dtype=np.int64)),
            pl.Series("customer_id", pop.customer_id[idx]),
            ts_series("ts", ts),
            str_series("channel", ("web", "mobile_app"), app.astype(np.int8)),
            pl.Series("event_type", ["session"], dtype=pl.String).gather(np.zeros(idx.size, np.uint32)),
            pl.Series("duration_seconds", duration.astype(np.int32)),
            pl.Series("page_views", views.astype(np.int32)),
        ]
    )


# -- support ----------------------------------------------------------------------------------------
SUPPORT_TOPIC_WEIGHTS = np.array(
    [
        [14, 16, 6, 8, 8, 2, 0, 3, 4, 3, 1, 0.5],
        [12, 12, 7, 8, 8, 4, 5, 3, 4, 4, 1, 2],
        [10, 8, 9, 8, 6, 5, 8, 3, 6, 5, 1, 2],
        [8, 6, 6, 6, 4, 2, 6, 3, 6, 4, 1, 10],
        [14, 6, 8, 5, 4, 1, 2, 4, 12, 6, 1, 4],
        [10, 6, 16, 12, 3, 8, 3, 3, 8, 8, 1, 2],
    ]
)
_TOPIC = {t: i for i, t in enumerate(T.SUPPORT_TOPICS)}
RESOLVE_P = np.array([0.9, 0.8, 0.7, 0.6, 0.95, 0.85, 0.85, 0.75, 0.95, 0.55, 0.9, 0.85])


@dataclass
class SupportContacts:
    """Support contacts before they become a frame (kept for the CSAT surveys that follow them)."""

    cust: np.ndarray
    ts: np.ndarray
    channel: np.ndarray
    topic: np.ndarray
    resolved: np.ndarray
    incident: np.ndarray
    frame: pl.DataFrame


def build_support(
    pop: Population, window: Window, streams: Streams, bursts: list[dict], pii: dict[str, pl.Series]
) -> SupportContacts:
    """Support contacts: a base rate per customer, complaints before closing, the incident, fraud reports."""
    rng = streams("support")
    start, end = pop.active_start(window), pop.active_end(window)
    cust, day, topic, incident = [], [], [], []
    for m in range(window.n_months):
        lo, overlap, mid, days = _month_span(pop, window, m)
        idx = np.repeat(np.arange(pop.n), rng.poisson(pop.support_rate * overlap / days))
        cust.append(idx)
        day.append(lo[idx] + (rng.random(idx.size) * overlap[idx]).astype(np.int64))
        topic.append(choice_by_group(rng, SUPPORT_TOPIC_WEIGHTS, pop.persona[idx]))
        incident.append(np.zeros(idx.size, bool))
    # Closers complain, ask about fees and ask how to close in their last 90 days.
    churn_idx = np.flatnonzero(pop.churned)
    idx = np.repeat(churn_idx, rng.poisson(1.3, churn_idx.size))
    c_lo = np.maximum(start[idx], pop.closed_day[idx] - 90)
    room = pop.closed_day[idx] - c_lo
    idx, c_lo, room = idx[room > 0], c_lo[room > 0], room[room > 0]
    cust.append(idx)
    day.append(c_lo + (rng.random(idx.size) * room).astype(np.int64))
    topic.append(
        np.array([_TOPIC["complaint"], _TOPIC["fees"], _TOPIC["account_closure"]])[
            choice(rng, np.array([0.35, 0.35, 0.30]), idx.size)
        ]
    )
    incident.append(np.zeros(idx.size, bool))
    # Incident: app users who could not log in call or chat.
    inc_lo = window.month_day(INCIDENT_MONTH_INDEX, INCIDENT_DAYS[0])
    inc_hi = window.month_day(INCIDENT_MONTH_INDEX, INCIDENT_DAYS[1])
    affected = (start <= inc_lo) & (end > inc_hi) & (pop.session_rate > 0)
    idx = np.flatnonzero(affected & (rng.random(pop.n) < 0.06 * pop.app_share))
    cust.append(idx)
    day.append(inc_lo + rng.integers(0, inc_hi - inc_lo, idx.size))
    topic.append(np.full(idx.size, _TOPIC["app_login"], dtype=np.int16))
    incident.append(np.ones(idx.size, bool))

    cust_a, day_a = np.concatenate(cust), np.concatenate(day)
    topic_a, incident_a = np.concatenate(topic).astype(np.int16), np.concatenate(incident)
    channel = choice_by_group(rng, P.SUPPORT_CHANNEL_P, pop.persona[cust_a])
    channel = np.where(incident_a, np.where(rng.random(cust_a.size) < 0.6, 0, 1), channel).astype(np.int16)
    office = (channel == 1) | (channel == 2)
    ts = day_a * DAY_US + np.where(
        office,
        time_of_day_us(rng, HOUR_PROFILE_OFFICE, cust_a.size),
        time_of_day_us(rng, HOUR_PROFILE_DIGITAL, cust_a.size),
    )
    # Fraud reports follow most bursts within a day and a half.
    if bursts:
        b_cust = np.array([b["customer_id"] for b in bursts]) - pop.customer_id[0]
        b_end = np.array([b["end_ts"] for b in bursts], dtype=np.int64)
        report = rng.random(b_cust.size) < 0.7
        r_ts = b_end + (HOUR_US // 2 + rng.random(b_cust.size) * 36 * HOUR_US).astype(np.int64)
        report &= r_ts < end[b_cust] * DAY_US
        cust_a = np.concatenate([cust_a, b_cust[report]])
        ts = np.concatenate([ts, r_ts[report]])
        topic_a = np.concatenate([topic_a, np.full(report.sum(), _TOPIC["fraud_report"], np.int16)])
        incident_a = np.concatenate([incident_a, np.zeros(report.sum(), bool)])
        channel = np.concatenate([channel, np.where(rng.random(report.sum()) < 0.7, 1, 0).astype(np.int16)])
    k = cust_a.size

    median_wait = np.array([25.0, 180.0, 420.0, 21_600.0])[channel]
    wait = median_wait * np.exp(np.array([0.8, 0.7, 0.6, 0.7])[channel] * rng.standard_normal(k))
    wait = np.where(incident_a & (channel == 1), wait * 3, wait)
    wait = np.clip(np.round(wait), 2, 259_200).astype(np.int32)
    handling = np.array([9.0, 7.0, 15.0, 6.0])[channel] * np.exp(0.5 * rng.standard_normal(k))
    handling = np.round(np.maximum(handling, 0.5), 1)
    resolved = rng.random(k) < np.where(incident_a, 0.45, RESOLVE_P[topic_a])

    transcript = _transcripts(rng, topic_a, incident_a, cust_a, pii)
    frame = pl.DataFrame(
        [
            pl.Series("customer_id", pop.customer_id[cust_a]),
            ts_series("ts", ts),
            str_series("channel", P.SUPPORT_CHANNELS, channel),
            str_series("topic", T.SUPPORT_TOPICS, topic_a),
            pl.Series("first_response_seconds", wait),
            pl.Series("handling_minutes", handling),
            pl.Series("resolved", resolved),
            transcript,
            pl.Series("_row", np.arange(k)),
        ]
    )
    frame = frame.sort(["ts", "customer_id"], maintain_order=True)
    order = frame.get_column("_row").to_numpy()
    frame = frame.drop("_row").with_row_index("interaction_id", offset=1)
    frame = frame.with_columns(pl.col("interaction_id").cast(pl.Int64))
    return SupportContacts(
        cust=cust_a[order],
        ts=ts[order],
        channel=channel[order],
        topic=topic_a[order],
        resolved=resolved[order],
        incident=incident_a[order],
        frame=frame,
    )


def _transcripts(
    rng: np.random.Generator,
    topic: np.ndarray,
    incident: np.ndarray,
    cust: np.ndarray,
    pii: dict[str, pl.Series],
) -> pl.Series:
    """Opening message per contact from the topic's templates; 15% carry personal data."""
    flat: list[str] = []
    offset = np.zeros(len(T.SUPPORT_TOPICS), np.int64)
    size = np.zeros(len(T.SUPPORT_TOPICS), np.int64)
    for i, name in enumerate(T.SUPPORT_TOPICS):
        offset[i], size[i] = len(flat), len(T.TRANSCRIPTS[name])
        flat.extend(T.TRANSCRIPTS[name])
    inc_off = len(flat)
    flat.extend(T.INCIDENT_TRANSCRIPTS)
    k = topic.size
    pick = offset[topic] + (rng.random(k) * size[topic]).astype(np.int64)
    pick = np.where(incident, inc_off + rng.integers(0, len(T.INCIDENT_TRANSCRIPTS), k), pick)
    base = pl.Series("transcript", flat, dtype=pl.String).gather(pick)
    return append_pii(rng, base, cust, pii, share=0.15).alias("transcript")


def append_pii(
    rng: np.random.Generator, base: pl.Series, cust: np.ndarray, pii: dict[str, pl.Series], *, share: float
) -> pl.Series:
    """Append a sentence with the customer's phone, e-mail or name to a share of the texts."""
    k = base.len()
    kind = np.where(rng.random(k) < share, choice(rng, np.array([0.35, 0.3, 0.2, 0.15]), k), -1)
    take = cust.astype(np.int64)
    cols = {name: series.gather(take) for name, series in pii.items()}
    frame = pl.DataFrame({"base": base, "kind": kind, **cols})
    expr = pl.col("base")
    for i, (prefix, field1, middle, field2, suffix) in enumerate(T.PII_SNIPPETS):
        parts = [pl.col("base"), pl.lit(prefix), pl.col(field1)]
        if field2:
            parts += [pl.lit(middle), pl.col(field2)]
        parts.append(pl.lit(suffix))
        expr = pl.when(pl.col("kind") == i).then(pl.concat_str(parts)).otherwise(expr)
    return frame.select(expr.alias(base.name)).to_series()
