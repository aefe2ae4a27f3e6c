"""Customers: personas, demographics, personal data and the latent traits that drive behaviour."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import polars as pl
from faker import Faker

from analytics.common.types import REGIONS
from sample_data import personas as P
from sample_data.core import (
    NEVER,
    Streams,
    Window,
    choice,
    choice_by_group,
    date_series,
    nullable_str_series,
    str_series,
    to_day,
)

FIRST_CUSTOMER_ID = 100_001
GDPR_DAY = to_day(date(2018, 5, 25))  # consent was re-confirmed by everyone when the GDPR applied
CONSENT_CHANGED_SHARE = 0.2
"""Share of customers who changed a consent choice after their first one (if still a customer then)."""
CONSENT_CHANGE_MARKETING_P = 0.6
"""Of those, the share whose change was to marketing consent (the others changed profiling)."""
CONSENT_CHANGE_SOURCES: tuple[str, ...] = ("app_settings", "support")
CONSENT_CHANGE_SOURCE_P = np.array([0.75, 0.25])

# Name pools: mostly Dutch, with the other origins common in the Netherlands.
NAME_LOCALES: tuple[str, ...] = ("nl_NL", "tr_TR", "en_GB", "de_DE", "fr_FR")
NAME_LOCALE_P = np.array([0.80, 0.06, 0.05, 0.05, 0.04])
POOL_DRAWS = 4_000
EMAIL_DOMAINS: tuple[str, ...] = (
    "gmail.com",
    "outlook.com",
    "hotmail.com",
    "ziggo.nl",
    "kpnmail.nl",
    "live.nl",
    "icloud.com",
    "xs4all.nl",
    "home.nl",
)
EMAIL_DOMAIN_P = np.array([0.30, 0.15, 0.15, 0.10, 0.08, 0.07, 0.07, 0.04, 0.04])


@dataclass
class NamePools:
    """Unique first names (by gender) and last names per locale, with e-mail slugs."""

    names: list[str]
    slugs: list[str]
    # (locale, kind) -> (offset, size) into ``names``; kind 0 = female, 1 = male, 2 = last
    ranges: np.ndarray


def build_name_pools(seed: int) -> NamePools:
    """Draw a few thousand names once from seeded Faker instances (sorted, so set order never matters)."""
    names: list[str] = []
    ranges = np.zeros((len(NAME_LOCALES), 3, 2), dtype=np.int64)
    for li, locale in enumerate(NAME_LOCALES):
        fake = Faker(locale)
        fake.seed_instance(seed + li)
        kinds = (fake.first_name_female, fake.first_name_male, fake.last_name)
        for ki, draw in enumerate(kinds):
            pool = sorted({draw() for _ in range(POOL_DRAWS // (2 if ki < 2 else 1))})
            ranges[li, ki] = (len(names), len(pool))
            names.extend(pool)
    return NamePools(names=names, slugs=[_slug(n) for n in names], ranges=ranges)


def _slug(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return "".join(ch for ch in ascii_name.lower() if ch.isalpha())


@dataclass
class Population:
    """Per-customer arrays (index = position in the customers table, sorted by customer_id)."""

    n: int
    customer_id: np.ndarray
    persona: np.ndarray
    gender: np.ndarray
    age: np.ndarray
    birth_day: np.ndarray
    income: np.ndarray
    credit_score: np.ndarray
    region: np.ndarray
    preferred: np.ndarray
    joined_day: np.ndarray
    consent_marketing: np.ndarray
    consent_profiling: np.ndarray
    session_rate: np.ndarray
    app_share: np.ndarray
    debit_rate: np.ndarray
    spend_level: np.ndarray
    travel: np.ndarray
    support_rate: np.ndarray
    satisfaction: np.ndarray
    salary_day: np.ndarray
    has_salary: np.ndarray
    closed_day: np.ndarray = field(default=None)  # type: ignore[assignment]
    closure_reason: np.ndarray = field(default=None)  # type: ignore[assignment]
    salary_stop_day: np.ndarray = field(default=None)  # type: ignore[assignment]

    @property
    def churned(self) -> np.ndarray:
        """Customers who closed within the window."""
        return self.closed_day < NEVER

    def active_start(self, window: Window) -> np.ndarray:
        """First day of activity inside the window."""
        return np.maximum(self.joined_day, window.start_day)

    def active_end(self, window: Window) -> np.ndarray:
        """Exclusive end of activity: the closure day, else the day after the snapshot."""
        return np.minimum(self.closed_day, window.end_day)

    def active_on(self, day: int) -> np.ndarray:
        """Customers on ``day``: joined on or before it and not closed on or before it."""
        return (self.joined_day <= day) & (self.closed_day > day)

    def decay(self, mid_day: float) -> np.ndarray:
        """Activity multiplier: churners fade out over the 150 days before closing."""
        days_left = (self.closed_day - mid_day).astype(float)
        return np.where(self.churned, 0.25 + 0.75 * np.clip(days_left / 150.0, 0.0, 1.0), 1.0)


def build_population(n: int, window: Window, streams: Streams) -> Population:
    """Draw personas, demographics and latent behaviour for ``n`` customers."""
    rng = streams("population")
    persona = choice(rng, P.SHARES, n).astype(np.int8)
    # Gender is independent of persona, so credit-score distributions match across genders.
    gender = choice(rng, P.GENDER_SHARES, n).astype(np.int8)
    age = np.clip(
        P.AGE_MEAN[persona] + P.AGE_SD[persona] * rng.standard_normal(n), P.AGE_LO[persona], P.AGE_HI[persona]
    )
    as_of_day = to_day(window.as_of)
    birth_day = as_of_day - np.round(age * 365.25).astype(np.int64)
    # Adults on the snapshot date by the calendar (a birthday on the snapshot day counts).
    eighteenth = to_day(date(window.as_of.year - 18, window.as_of.month, min(window.as_of.day, 28)))
    birth_day = np.minimum(birth_day, eighteenth)
    income = np.round(P.INCOME_MEDIAN[persona] * np.exp(P.INCOME_SIGMA[persona] * rng.standard_normal(n)), -2)
    income = np.maximum(income, 1_200.0)
    credit = P.CREDIT_MEAN[persona] + 25.0 * np.log(income / P.INCOME_MEDIAN[persona])
    credit = np.clip(np.round(credit + P.CREDIT_SD * rng.standard_normal(n)), 300, 850).astype(np.int32)
    region = choice(rng, P.REGION_SHARES, n).astype(np.int8)
    preferred = choice_by_group(rng, P.PREFERRED_CHANNEL_P, persona).astype(np.int8)

    # Joining: a persona-dependent share joins inside the window, the rest years before it.
    new = rng.random(n) < P.NEW_IN_WINDOW[persona]
    tenure_days = np.round(rng.exponential(P.TENURE_YEARS[persona]) * 365.25).astype(np.int64)
    joined = np.where(
        new,
        window.start_day + (rng.random(n) * (window.end_day - 14 - window.start_day)).astype(np.int64),
        window.start_day - 1 - tenure_days,
    )
    # Nobody opens an account before the age of 16 (youth accounts).
    joined = np.maximum(joined, birth_day + int(16 * 365.25))
    joined = np.minimum(joined, window.end_day - 14)

    consent_m = rng.random(n) >= P.REFUSE_MARKETING[persona]
    consent_p = rng.random(n) >= P.REFUSE_PROFILING[persona]

    non_digital = rng.random(n) < np.where(persona == P.PERSONAS.index("retiree"), 0.06, 0.01)
    session_rate = (
        P.SESSIONS_PER_MONTH[persona] * rng.gamma(1.5, 1 / 1.5, n) * P.SESSION_MULT_BY_CHANNEL[preferred]
    )
    session_rate = np.where(non_digital, 0.0, session_rate)
    a = P.APP_SHARE[persona] * 6.0
    app_share = rng.beta(a, 6.0 - a)
    debit_rate = P.DEBITS_PER_MONTH[persona] * rng.gamma(P.TXN_SHAPE, 1 / P.TXN_SHAPE, n)
    spend_level = (
        P.SPEND_SCALE[persona]
        * (income / P.INCOME_MEDIAN[persona]) ** 0.4
        * np.exp(P.SPEND_SIGMA * rng.standard_normal(n) - P.SPEND_SIGMA**2 / 2)
    )
    travel = P.TRAVEL_BASE[persona] * rng.gamma(2.0, 0.5, n)
    support_rate = P.SUPPORT_PER_MONTH[persona] * rng.gamma(1.0, 1.0, n)
    satisfaction = P.SATISFACTION_MEAN[persona] + P.SATISFACTION_SD * rng.standard_normal(n)
    salary_day = rng.choice(np.array([20, 23, 24, 25, 26, 28]), n)
    has_salary = rng.random(n) < P.SALARY_SHARE[persona]

    return Population(
        n=n,
        customer_id=np.arange(FIRST_CUSTOMER_ID, FIRST_CUSTOMER_ID + n, dtype=np.int64),
        persona=persona,
        gender=gender,
        age=age,
        birth_day=birth_day,
        income=income,
        credit_score=credit,
        region=region,
        preferred=preferred,
        joined_day=joined,
        consent_marketing=consent_m,
        consent_profiling=consent_p,
        session_rate=session_rate,
        app_share=app_share,
        debit_rate=debit_rate,
        spend_level=spend_level,
        travel=travel,
        support_rate=support_rate,
        satisfaction=satisfaction,
        salary_day=salary_day,
        has_salary=has_salary,
    )


@dataclass
class PersonalData:
    """Names, e-mail and phone as polars Series aligned with the population."""

    first_name: pl.Series
    last_name: pl.Series
    email: pl.Series
    phone: pl.Series
    city: pl.Series

    @property
    def full_name(self) -> pl.Series:
        """First and last name joined by a space."""
        return (self.first_name + " " + self.last_name).alias("full_name")


def build_personal_data(pop: Population, pools: NamePools, streams: Streams) -> PersonalData:
    """Names from the pools, e-mail addresses derived from them, Dutch phone numbers, home city."""
    rng = streams("personal_data")
    n = pop.n
    locale = choice(rng, NAME_LOCALE_P, n)
    # "other" gender draws from either first-name pool.
    kind = np.where(pop.gender == 2, rng.integers(0, 2, n), pop.gender).astype(np.int64)
    first_off, first_size = pools.ranges[locale, kind, 0], pools.ranges[locale, kind, 1]
    last_off, last_size = pools.ranges[locale, 2, 0], pools.ranges[locale, 2, 1]
    first_idx = first_off + (rng.random(n) * first_size).astype(np.int64)
    last_idx = last_off + (rng.random(n) * last_size).astype(np.int64)
    names = pl.Series(pools.names, dtype=pl.String)
    slugs = pl.Series(pools.slugs, dtype=pl.String)
    first = names.gather(first_idx).alias("first_name")
    last = names.gather(last_idx).alias("last_name")
    first_slug = slugs.gather(first_idx)
    last_slug = slugs.gather(last_idx)

    birth_year = pop.birth_day.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970
    year2 = pl.Series(birth_year % 100).cast(pl.String)
    number = pl.Series(rng.integers(1, 999, n)).cast(pl.String)
    domain = str_series("domain", EMAIL_DOMAINS, choice(rng, EMAIL_DOMAIN_P, n))
    pattern = pl.Series(choice(rng, np.array([0.4, 0.2, 0.2, 0.2]), n))
    frame = pl.DataFrame(
        {"f": first_slug, "l": last_slug, "y": year2.str.zfill(2), "k": number, "d": domain, "p": pattern}
    )
    email = frame.select(
        pl.when(pl.col("p") == 0)
        .then(pl.concat_str("f", pl.lit("."), "l", pl.lit("@"), "d"))
        .when(pl.col("p") == 1)
        .then(pl.concat_str(pl.col("f").str.slice(0, 1), pl.lit("."), "l", pl.lit("@"), "d"))
        .when(pl.col("p") == 2)
        .then(pl.concat_str("f", "l", "y", pl.lit("@"), "d"))
        .otherwise(pl.concat_str("f", pl.lit("_"), "l", "k", pl.lit("@"), "d"))
        .alias("email")
    ).to_series()

    digits = pl.Series(rng.integers(10_000_000, 100_000_000, n)).cast(pl.String)
    fmt = pl.Series(choice(rng, np.array([0.5, 0.3, 0.2]), n))
    phone = (
        pl.DataFrame({"d": digits, "f": fmt})
        .select(
            pl.when(pl.col("f") == 0)
            .then(pl.concat_str(pl.lit("+31 6 "), "d"))
            .when(pl.col("f") == 1)
            .then(pl.concat_str(pl.lit("06-"), "d"))
            .otherwise(pl.concat_str(pl.lit("+316"), "d"))
            .alias("phone")
        )
        .to_series()
    )

    cities: list[str] = []
    city_p = np.zeros((len(REGIONS), sum(len(v) for v in P.REGIONS_CITIES.values())))
    for ri, region in enumerate(REGIONS):
        for name, share in P.REGIONS_CITIES[region]:
            city_p[ri, len(cities)] = share
            cities.append(name)
    city = str_series("city", cities, choice_by_group(rng, city_p, pop.region))
    return PersonalData(first_name=first, last_name=last, email=email, phone=phone, city=city)


def customers_frame(pop: Population, pd_: PersonalData, window: Window, streams: Streams) -> pl.DataFrame:
    """The customers table (contract order and types)."""
    rng = streams("customers_frame")
    n = pop.n
    occ_labels: list[str] = []
    occ_p = np.zeros((len(P.PERSONAS), sum(len(v) for v in P.OCCUPATIONS.values())))
    for pi, persona in enumerate(P.PERSONAS):
        for name in P.OCCUPATIONS[persona]:
            occ_p[pi, len(occ_labels)] = 1.0
            occ_labels.append(name)
    occupation = choice_by_group(rng, occ_p, pop.persona)

    # Consent last changed at joining (or at the GDPR re-confirmation for older customers) for most;
    # later, in the app or through support, for the others, never after the customer closed.
    end = pop.active_end(window) - 1
    lo = first_consent_day(pop.joined_day)
    later = (rng.random(n) < CONSENT_CHANGED_SHARE) & (end > lo)
    consent_day = np.where(later, lo + (rng.random(n) * np.maximum(end - lo, 0)).astype(np.int64), lo)

    return pl.DataFrame(
        [
            pl.Series("customer_id", pop.customer_id),
            pd_.first_name,
            pd_.last_name,
            pd_.email,
            pd_.phone,
            date_series("birth_date", pop.birth_day),
            str_series("gender", P.GENDERS, pop.gender),
            str_series("region", REGIONS, pop.region),
            pd_.city,
            str_series("occupation", occ_labels, occupation),
            pl.Series("annual_income", pop.income.astype(np.float64)),
            pl.Series("credit_score", pop.credit_score, dtype=pl.Int32),
            str_series("preferred_channel", P.CHANNELS_PREFERRED, pop.preferred),
            date_series("joined_at", pop.joined_day),
            date_series("closed_at", pop.closed_day),
            nullable_str_series("closure_reason", P.CLOSURE_REASONS, pop.closure_reason),
            pl.Series("consent_marketing", pop.consent_marketing),
            pl.Series("consent_profiling", pop.consent_profiling),
            date_series("consent_updated_at", consent_day),
        ]
    )


def first_consent_day(joined_day: np.ndarray) -> np.ndarray:
    """Day of each customer's first recorded consent: joining, or the GDPR re-confirmation if earlier."""
    return np.maximum(joined_day, GDPR_DAY)


def consent_events_frame(pop: Population, customers: pl.DataFrame, streams: Streams) -> pl.DataFrame:
    """The consent history (``consent_events``), consistent with the customers table.

    Every customer chose both purposes at joining (``onboarding``) or, when they joined before
    the GDPR applied, at its re-confirmation on 2018-05-25 (``gdpr_reconfirmation``). A customer
    whose ``consent_updated_at`` is later changed one purpose on that day (marketing for
    :data:`CONSENT_CHANGE_MARKETING_P` of them, in the app or through support): the first choice
    of that purpose was the opposite of today's flag. So the latest event of every customer and
    purpose is the customers table's flag, and the latest day is ``consent_updated_at``.
    """
    rng = streams("consent_history")
    n = pop.n
    first = first_consent_day(pop.joined_day)
    updated = customers.get_column("consent_updated_at").cast(pl.Int32).to_numpy().astype(np.int64)
    changed = updated > first
    marketing_changed = changed & (rng.random(n) < CONSENT_CHANGE_MARKETING_P)
    profiling_changed = changed & ~marketing_changed
    change_source = choice(rng, CONSENT_CHANGE_SOURCE_P, n)
    first_source = np.where(pop.joined_day >= GDPR_DAY, 0, 1)
    ids = pop.customer_id
    parts = []
    for purpose, final, flipped in (
        ("marketing", pop.consent_marketing, marketing_changed),
        ("profiling", pop.consent_profiling, profiling_changed),
    ):
        initial = pl.DataFrame(
            {
                "customer_id": ids,
                "purpose": [purpose] * n,
                "granted": final ^ flipped,
                "changed_at": date_series("changed_at", first),
                "source": str_series("source", ("onboarding", "gdpr_reconfirmation"), first_source),
            }
        )
        later = pl.DataFrame(
            {
                "customer_id": ids[flipped],
                "purpose": [purpose] * int(flipped.sum()),
                "granted": final[flipped],
                "changed_at": date_series("changed_at", updated[flipped]),
                "source": str_series("source", CONSENT_CHANGE_SOURCES, change_source[flipped]),
            }
        )
        parts.extend([initial, later])
    events = pl.concat(parts).sort("customer_id", "changed_at", "purpose", maintain_order=True)
    return events.with_row_index("event_id", offset=1).with_columns(pl.col("event_id").cast(pl.Int64))
