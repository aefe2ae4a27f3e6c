"""Campaigns, offers with their funnel, experiments and assignments, and the biased credit decision."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

from analytics.common.types import PRODUCT_IDS
from sample_data import personas as P
from sample_data.activity import PRODUCT_INDEX, BaseHoldings
from sample_data.core import (
    DAY_US,
    HOUR_PROFILE_OFFICE,
    HOUR_US,
    MINUTE_US,
    NEVER,
    Streams,
    Window,
    date_series,
    from_day,
    str_series,
    systematic_pps,
    time_of_day_us,
    ts_series,
    weighted_sample,
)
from sample_data.people import Population

OPEN_RATE = {"email": 0.28, "app_push": 0.38, "sms": 0.33, "branch": 0.55}
CLICK_RATE = {"email": 0.045, "app_push": 0.06, "sms": 0.035, "branch": 0.08}
OPEN_DELAY_HOURS = {"email": 6.0, "app_push": 1.0, "sms": 0.5, "branch": 48.0}

# Biased pre-approved loan decision: selection rate of the favoured group per credit-score band.
CREDIT_BANDS: tuple[tuple[int, int], ...] = ((600, 649), (650, 699), (700, 749), (750, 850))
FAVOURED_RATE = np.array([0.30, 0.40, 0.50, 0.60])
DISADVANTAGED_RATIO = 0.70
CREDIT_CUTOFF = 600

CONVERSION_BASELINE = 0.10
CONVERSION_LIFT = 0.15
AA_BASELINE = 0.08
SRM_TREATMENT_SHARE = 0.52
REVENUE_EFFECT = 0.08


@dataclass(frozen=True)
class CampaignSpec:
    """One campaign of the calendar; ``month`` counts from the first month of the window."""

    key: str
    name: str
    product: str
    channel: str
    objective: str
    month: int
    day: int
    duration: int
    target_share: float = 0.0
    conversion: float = 0.0
    personas: tuple[str, ...] = ()
    kind: str = "standard"


CAMPAIGNS: tuple[CampaignSpec, ...] = (
    CampaignSpec(
        "savings_kickoff", "Savings kick-off", "savings", "email", "cross_sell", 0, 6, 28, 0.30, 0.020
    ),
    CampaignSpec(
        "holiday_card",
        "Holiday season credit card",
        "credit_card",
        "email",
        "cross_sell",
        1,
        2,
        30,
        0.30,
        0.015,
    ),
    CampaignSpec(
        "mortgage_review",
        "Mortgage rate review",
        "mortgage",
        "email",
        "cross_sell",
        3,
        10,
        45,
        0.20,
        0.006,
        ("young_professional", "family", "affluent"),
    ),
    CampaignSpec(
        "spring_insurance",
        "Spring home insurance",
        "insurance",
        "app_push",
        "cross_sell",
        4,
        3,
        28,
        0.30,
        0.012,
    ),
    CampaignSpec(
        "invest_tomorrow",
        "Invest for tomorrow",
        "investment_fund",
        "email",
        "cross_sell",
        5,
        5,
        35,
        0.25,
        0.012,
    ),
    CampaignSpec(
        "preapproved_loan",
        "Pre-approved personal loan",
        "personal_loan",
        "email",
        "cross_sell",
        7,
        2,
        30,
        conversion=0.04,
        kind="biased",
    ),
    CampaignSpec(
        "summer_travel_card",
        "Summer travel card",
        "credit_card",
        "app_push",
        "activation",
        8,
        1,
        30,
        0.25,
        0.018,
    ),
    CampaignSpec("we_miss_you", "We miss you", "current_account", "sms", "retention", 9, 8, 21, 0.35, 0.03),
    CampaignSpec(
        "student_savings",
        "Student savings goals",
        "savings",
        "app_push",
        "acquisition",
        10,
        1,
        30,
        0.45,
        0.025,
        ("student", "young_professional"),
    ),
    CampaignSpec(
        "year_end_invest",
        "Year-end investment check",
        "investment_fund",
        "branch",
        "cross_sell",
        11,
        1,
        45,
        0.30,
        0.02,
        ("affluent", "retiree"),
    ),
    CampaignSpec(
        "travel_insurance_banner",
        "Travel insurance banner",
        "insurance",
        "app_push",
        "cross_sell",
        13,
        2,
        28,
        kind="experiment_aa",
    ),
    CampaignSpec(
        "mortgage_switch",
        "Switch your mortgage",
        "mortgage",
        "branch",
        "cross_sell",
        14,
        12,
        45,
        0.15,
        0.008,
        ("young_professional", "family", "affluent", "small_business"),
    ),
    CampaignSpec(
        "cashback_card", "Cashback credit card", "credit_card", "email", "activation", 15, 3, 30, 0.30, 0.015
    ),
    CampaignSpec(
        "savings_goals_nudge",
        "Savings goals nudge",
        "savings",
        "app_push",
        "cross_sell",
        18,
        3,
        28,
        kind="experiment_conversion",
    ),
    CampaignSpec(
        "summer_savings", "Summer savings boost", "savings", "sms", "cross_sell", 20, 6, 30, 0.25, 0.015
    ),
    CampaignSpec(
        "protect_what_matters",
        "Protect what matters",
        "insurance",
        "email",
        "cross_sell",
        21,
        2,
        30,
        0.30,
        0.012,
    ),
    CampaignSpec(
        "renovation_loan", "Renovation loan", "personal_loan", "email", "cross_sell", 22, 15, 30, 0.20, 0.015
    ),
)


@dataclass
class ExperimentPlan:
    """An experiment's design and its enrolment (customer positions, arm, assignment time)."""

    experiment_id: str
    kind: str
    name: str
    hypothesis: str
    start_day: int
    end_day: int
    primary_metric: str
    design_split: str
    campaign_key: str | None
    enrolled: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    treated: np.ndarray = field(default_factory=lambda: np.empty(0, bool))
    assigned_ts: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))


def _spec(key: str) -> CampaignSpec:
    return next(c for c in CAMPAIGNS if c.key == key)


def plan_experiments(pop: Population, window: Window, streams: Streams) -> dict[str, ExperimentPlan]:
    """Enrol customers active on each experiment's start date and assign their variants."""
    rng = streams("experiments")
    conv, aa = _spec("savings_goals_nudge"), _spec("travel_insurance_banner")
    plans = {
        "conversion": ExperimentPlan(
            "exp01_savings_nudge",
            "conversion",
            "Savings goals nudge",
            "A personalised savings-goal nudge in the app raises savings take-up by 15% (relative).",
            window.month_day(conv.month, conv.day),
            window.month_day(conv.month, conv.day) + conv.duration - 1,
            "conversion",
            "50,50",
            conv.key,
        ),
        "aa": ExperimentPlan(
            "exp02_insurance_banner_aa",
            "aa",
            "Travel insurance banner (A/A check)",
            "Both arms see the same banner: no difference expected (A/A test of the set-up).",
            window.month_day(aa.month, aa.day),
            window.month_day(aa.month, aa.day) + aa.duration - 1,
            "conversion",
            "50,50",
            aa.key,
        ),
        "srm": ExperimentPlan(
            "exp03_app_home_screen",
            "srm",
            "New app home screen",
            "A redesigned home screen raises the number of sessions per customer.",
            window.month_day(22, 6),
            window.month_day(22, 6) + 62,
            "sessions",
            "50,50",
            None,
        ),
        "revenue": ExperimentPlan(
            "exp04_cashback_spend",
            "revenue",
            "Card cashback boost",
            "Cashback on card spend raises customers' debit spend by 8%.",
            window.month_day(19),
            window.month_day(23) - 1,
            "revenue",
            "50,50",
            None,
        ),
    }
    for plan in plans.values():
        eligible = pop.active_on(plan.start_day)
        if plan.campaign_key is not None:
            eligible &= pop.consent_marketing  # these experiments send an offer to every participant
        enrolled = np.flatnonzero(eligible)
        share = SRM_TREATMENT_SHARE if plan.kind == "srm" else 0.5
        n_treat = int(round(share * enrolled.size))
        treated = np.zeros(enrolled.size, bool)
        treated[rng.permutation(enrolled.size)[:n_treat]] = True
        # Assignment (and the offer, where there is one) within two days, before any closure.
        room = np.minimum(pop.active_end(window)[enrolled] - plan.start_day, 2) * DAY_US
        ts = plan.start_day * DAY_US + (rng.random(enrolled.size) * room).astype(np.int64)
        plan.enrolled, plan.treated, plan.assigned_ts = enrolled, treated, ts
    return plans


@dataclass
class CampaignResult:
    """Frames of campaigns, offers, experiments and assignments plus facts for the truth file."""

    campaigns: pl.DataFrame
    offers: pl.DataFrame
    experiments: pl.DataFrame
    assignments: pl.DataFrame
    new_holdings: tuple[np.ndarray, np.ndarray, np.ndarray]
    campaign_ids: dict[str, int]
    biased: dict


def run_campaigns(
    pop: Population, base: BaseHoldings, window: Window, streams: Streams, plans: dict[str, ExperimentPlan]
) -> CampaignResult:
    """Send every campaign in date order; conversions open holdings that later campaigns see."""
    rng = streams("campaigns")
    end_us = pop.active_end(window) * DAY_US
    conv_open = np.full((pop.n, len(PRODUCT_IDS)), NEVER, dtype=np.int64)
    new_cust, new_prod, new_day = [], [], []
    offers: list[dict[str, np.ndarray]] = []
    rows = []
    biased: dict = {}
    plan_by_campaign = {p.campaign_key: p for p in plans.values() if p.campaign_key}
    ordered = sorted(CAMPAIGNS, key=lambda c: (c.month, c.day))
    campaign_ids = {spec.key: i + 1 for i, spec in enumerate(ordered)}
    for spec in ordered:
        k = PRODUCT_INDEX[spec.product]
        start = window.month_day(spec.month, spec.day)
        end = min(start + spec.duration - 1, window.end_day - 1)
        rows.append(
            (campaign_ids[spec.key], spec.name, spec.product, spec.channel, start, end, spec.objective)
        )
        prop = P.PROPENSITY[:, k]
        if spec.kind.startswith("experiment"):
            plan = plan_by_campaign[spec.key]
            who, sent = plan.enrolled, plan.assigned_ts
            w = prop[pop.persona[who]] + 0.3
            if spec.kind == "experiment_conversion":
                p = CONVERSION_BASELINE * w / w.mean() * np.where(plan.treated, 1.0 + CONVERSION_LIFT, 1.0)
                converted = np.zeros(who.size, bool)
                for arm in (False, True):  # a fixed number of converters per arm (no binomial noise)
                    rows_arm = np.flatnonzero(plan.treated == arm)
                    converted[rows_arm] = systematic_pps(rng, p[rows_arm])
            else:
                p = AA_BASELINE * w / w.mean()
                converted = rng.random(who.size) < p
            funnel = _funnel_fixed(rng, sent, end_us[who], converted, open_rate=0.45, click_rate=0.20)
        else:
            if spec.kind == "biased":
                who, biased = _biased_selection(pop, rng, start)
            else:
                eligible = pop.active_on(start) & pop.consent_marketing
                if spec.personas:
                    eligible &= np.isin(pop.persona, [P.PERSONAS.index(x) for x in spec.personas])
                eligible &= base.earliest[:, k] <= start  # e.g. old enough for a mortgage
                if spec.objective != "retention":
                    eligible &= ~(base.holds_on(k, start) | (conv_open[:, k] <= start))
                else:  # win back the least active customers
                    eligible &= base.holds_on(k, start)
                idx = np.flatnonzero(eligible)
                w = (
                    (prop[pop.persona[idx]] + 0.05)
                    if spec.objective != "retention"
                    else 1.0 / (pop.session_rate[idx] + 0.5)
                )
                who = idx[weighted_sample(rng, w, round(spec.target_share * idx.size))]
            room = np.minimum(pop.active_end(window)[who] - start, 5)
            sent = (start + (rng.random(who.size) * room).astype(np.int64)) * DAY_US + time_of_day_us(
                rng, HOUR_PROFILE_OFFICE, who.size
            )
            sent = np.minimum(sent, end_us[who] - 1)
            p_conv = spec.conversion * prop[pop.persona[who]] / max(prop[pop.persona[who]].mean(), 1e-9)
            funnel = _funnel_random(rng, spec, sent, end_us[who], np.minimum(p_conv, 0.5))
        offers.append(
            {
                "campaign": np.full(who.size, campaign_ids[spec.key]),
                "cust": who,
                "product": np.full(who.size, k),
                "sent": sent,
                **funnel,
            }
        )
        if spec.objective == "retention":
            continue  # reactivation of an account already held opens nothing new
        conv_rows = np.flatnonzero(funnel["converted"] < NEVER)
        conv_cust = who[conv_rows]
        conv_day = funnel["converted"][conv_rows] // DAY_US
        # A product the customer would have opened later anyway is the same holding, opened earlier.
        later_base = base.held[conv_cust, k] & (base.open_day[conv_cust, k] > conv_day)
        base.open_day[conv_cust[later_base], k] = conv_day[later_base]
        fresh = ~later_base
        new_cust.append(conv_cust[fresh])
        new_prod.append(np.full(fresh.sum(), k))
        new_day.append(conv_day[fresh])
        conv_open[conv_cust[fresh], k] = np.minimum(conv_open[conv_cust[fresh], k], conv_day[fresh])

    campaigns = pl.DataFrame(
        [
            pl.Series("campaign_id", [r[0] for r in rows], dtype=pl.Int64),
            pl.Series("name", [r[1] for r in rows], dtype=pl.String),
            pl.Series("product_id", [r[2] for r in rows], dtype=pl.String),
            pl.Series("channel", [r[3] for r in rows], dtype=pl.String),
            date_series("start_date", np.array([r[4] for r in rows])),
            date_series("end_date", np.array([r[5] for r in rows])),
            pl.Series("objective", [r[6] for r in rows], dtype=pl.String),
        ]
    )
    cat = {key: np.concatenate([o[key] for o in offers]) for key in offers[0]}
    never = {key: cat[key] >= NEVER for key in ("opened", "clicked", "converted")}
    offer_frame = pl.DataFrame(
        [
            pl.Series("campaign_id", cat["campaign"].astype(np.int64)),
            pl.Series("customer_id", pop.customer_id[cat["cust"]]),
            str_series("product_id", PRODUCT_IDS, cat["product"]),
            ts_series("sent_at", cat["sent"]),
            ts_series("opened_at", np.where(never["opened"], 0, cat["opened"]), never["opened"]),
            ts_series("clicked_at", np.where(never["clicked"], 0, cat["clicked"]), never["clicked"]),
            ts_series("converted_at", np.where(never["converted"], 0, cat["converted"]), never["converted"]),
        ]
    )
    offer_frame = offer_frame.sort(["sent_at", "customer_id", "campaign_id"], maintain_order=True)
    offer_frame = offer_frame.with_row_index("offer_id", offset=1).with_columns(
        pl.col("offer_id").cast(pl.Int64)
    )

    experiments, assignments = _experiment_frames(pop, window, plans, campaign_ids)
    return CampaignResult(
        campaigns=campaigns,
        offers=offer_frame,
        experiments=experiments,
        assignments=assignments,
        new_holdings=(
            np.concatenate(new_cust).astype(np.int64),
            np.concatenate(new_prod).astype(np.int64),
            np.concatenate(new_day).astype(np.int64),
        ),
        campaign_ids=campaign_ids,
        biased=biased | {"campaign_id": campaign_ids["preapproved_loan"]},
    )


def _funnel_random(
    rng: np.random.Generator, spec: CampaignSpec, sent: np.ndarray, horizon: np.ndarray, p_conv: np.ndarray
) -> dict[str, np.ndarray]:
    """Open, click and convert at channel rates; a step after the customer left (or the snapshot) is lost."""
    n = sent.size
    click, open_ = CLICK_RATE[spec.channel], OPEN_RATE[spec.channel]
    converted = rng.random(n) < p_conv
    clicked = converted | (rng.random(n) < np.maximum(click - p_conv, 0) / (1 - p_conv))
    opened = clicked | (rng.random(n) < (open_ - click) / (1 - click))
    t_open = sent + 1 + (rng.exponential(OPEN_DELAY_HOURS[spec.channel], n) * HOUR_US).astype(np.int64)
    t_click = t_open + 1 + (rng.exponential(10.0, n) * MINUTE_US).astype(np.int64)
    lending = spec.product in ("personal_loan", "mortgage")
    t_conv = t_click + 1 + (rng.exponential(4.0 if lending else 1.5, n) * DAY_US).astype(np.int64)
    opened &= t_open < horizon
    clicked &= opened & (t_click < horizon)
    converted &= clicked & (t_conv < horizon)
    return {
        "opened": np.where(opened, t_open, NEVER),
        "clicked": np.where(clicked, t_click, NEVER),
        "converted": np.where(converted, t_conv, NEVER),
    }


def _funnel_fixed(
    rng: np.random.Generator,
    sent: np.ndarray,
    horizon: np.ndarray,
    converted: np.ndarray,
    *,
    open_rate: float,
    click_rate: float,
) -> dict[str, np.ndarray]:
    """Funnel whose conversions are decided already: every step is placed between sending and the horizon."""
    n = sent.size
    p_conv = converted.mean() if n else 0.0
    clicked = converted | (rng.random(n) < max(click_rate - p_conv, 0) / (1 - p_conv))
    opened = clicked | (rng.random(n) < (open_rate - click_rate) / (1 - click_rate))
    room = np.minimum(horizon - 1 - sent, 14 * DAY_US).astype(float)
    t_conv = sent + (room * rng.uniform(0.3, 1.0, n)).astype(np.int64)
    t_click = sent + ((t_conv - sent) * rng.uniform(0.2, 0.9, n)).astype(np.int64)
    t_open = sent + ((t_click - sent) * rng.uniform(0.1, 0.9, n)).astype(np.int64)
    return {
        "opened": np.where(opened, t_open, NEVER),
        "clicked": np.where(clicked, t_click, NEVER),
        "converted": np.where(converted, t_conv, NEVER),
    }


def credit_band(score: np.ndarray) -> np.ndarray:
    """Band index per :data:`CREDIT_BANDS` (-1 below the cut-off)."""
    band = np.full(score.size, -1, dtype=np.int64)
    for i, (lo, hi) in enumerate(CREDIT_BANDS):
        band[(score >= lo) & (score <= hi)] = i
    return band


def _biased_selection(pop: Population, rng: np.random.Generator, start: int) -> tuple[np.ndarray, dict]:
    """Historical pre-approval: within each credit band women are selected at 0.7x the men's rate."""
    eligible = pop.active_on(start) & pop.consent_marketing & (pop.credit_score >= CREDIT_CUTOFF)
    band = credit_band(pop.credit_score)
    female = pop.gender == P.GENDERS.index("female")
    chosen = []
    for b in range(len(CREDIT_BANDS)):
        for is_female in (False, True):
            cell = np.flatnonzero(eligible & (band == b) & (female == is_female))
            rate = FAVOURED_RATE[b] * (DISADVANTAGED_RATIO if is_female else 1.0)
            chosen.append(cell[rng.permutation(cell.size)[: int(round(rate * cell.size))]])
    who = np.sort(np.concatenate(chosen))
    facts = {
        "start_day": start,
        "favoured_rate_by_band": FAVOURED_RATE.tolist(),
        "disadvantaged_ratio": DISADVANTAGED_RATIO,
    }
    return who, facts


def _experiment_frames(
    pop: Population, window: Window, plans: dict[str, ExperimentPlan], campaign_ids: dict[str, int]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    ordered = sorted(plans.values(), key=lambda p: p.experiment_id)
    experiments = pl.DataFrame(
        [
            pl.Series("experiment_id", [p.experiment_id for p in ordered], dtype=pl.String),
            pl.Series("name", [p.name for p in ordered], dtype=pl.String),
            pl.Series("hypothesis", [p.hypothesis for p in ordered], dtype=pl.String),
            pl.Series("start_date", [from_day(p.start_day) for p in ordered], dtype=pl.Date),
            pl.Series("end_date", [from_day(p.end_day) for p in ordered], dtype=pl.Date),
            pl.Series("variants", ["control,treatment"] * len(ordered), dtype=pl.String),
            pl.Series("design_split", [p.design_split for p in ordered], dtype=pl.String),
            pl.Series("primary_metric", [p.primary_metric for p in ordered], dtype=pl.String),
            pl.Series(
                "campaign_id",
                [campaign_ids[p.campaign_key] if p.campaign_key else None for p in ordered],
                dtype=pl.Int64,
            ),
            pl.Series(
                "status",
                ["completed" if p.end_day < window.end_day else "running" for p in ordered],
                dtype=pl.String,
            ),
        ]
    )
    assignments = pl.concat(
        [
            pl.DataFrame(
                [
                    pl.Series("experiment_id", [p.experiment_id], dtype=pl.String).gather(
                        np.zeros(p.enrolled.size, np.uint32)
                    ),
                    pl.Series("customer_id", pop.customer_id[p.enrolled]),
                    str_series("variant", ("control", "treatment"), p.treated.astype(np.int8)),
                    ts_series("assigned_at", p.assigned_ts),
                ]
            )
            for p in ordered
        ]
    ).sort(["experiment_id", "customer_id"])
    return experiments, assignments


def holdings_frame(
    pop: Population,
    base: BaseHoldings,
    new: tuple[np.ndarray, np.ndarray, np.ndarray],
    window: Window,
    streams: Streams,
) -> pl.DataFrame:
    """Holdings from the base slots plus those opened by campaign conversions, with balances and margins."""
    rng = streams("balances")
    b_cust, b_prod = np.nonzero(base.held)
    b_open = base.open_day[b_cust, b_prod]
    b_close = base.close_day[b_cust, b_prod]
    n_cust, n_prod, n_open = new
    cust = np.concatenate([b_cust, n_cust])
    prod = np.concatenate([b_prod, n_prod])
    opened = np.concatenate([b_open, n_open])
    closed = np.concatenate([b_close, pop.closed_day[n_cust]])
    closed = np.where(closed >= window.end_day, NEVER, closed)

    k = cust.size
    factor = np.array([P.BALANCE_INCOME_FACTOR[p][0] for p in PRODUCT_IDS])[prod]
    sigma = np.array([P.BALANCE_INCOME_FACTOR[p][1] for p in PRODUCT_IDS])[prod]
    mult = np.ones(k)
    for name, by_persona in P.BALANCE_PERSONA_MULT.items():
        rows = prod == PRODUCT_INDEX[name]
        mult[rows] = by_persona[pop.persona[cust[rows]]]
    balance = factor * mult * pop.income[cust] * np.exp(sigma * rng.standard_normal(k) - sigma**2 / 2)
    balance = np.round(np.maximum(balance, 0.0), 2)
    fee = np.array([P.PRODUCTS[p][2] for p in PRODUCT_IDS])[prod]
    rate = np.array([P.PRODUCTS[p][3] for p in PRODUCT_IDS])[prod]
    # Margin while held (the rollups count it in every month the product was held); a closed holding
    # shows a zero balance.
    margin = np.round(balance * rate / 12 + fee, 2)
    balance = np.where(closed < NEVER, 0.0, balance)
    frame = pl.DataFrame(
        [
            pl.Series("customer_id", pop.customer_id[cust]),
            str_series("product_id", PRODUCT_IDS, prod),
            date_series("opened_at", opened),
            date_series("closed_at", closed),
            pl.Series("balance", balance),
            pl.Series("monthly_margin", margin),
            pl.Series("_order", prod),
        ]
    )
    frame = frame.sort(["customer_id", "opened_at", "_order"], maintain_order=True).drop("_order")
    return frame.with_row_index("holding_id", offset=1).with_columns(pl.col("holding_id").cast(pl.Int64))


def products_frame() -> pl.DataFrame:
    """The product catalogue."""
    return pl.DataFrame(
        {
            "product_id": list(P.PRODUCTS),
            "name": [v[0] for v in P.PRODUCTS.values()],
            "category": [v[1] for v in P.PRODUCTS.values()],
            "monthly_fee": [v[2] for v in P.PRODUCTS.values()],
            "annual_margin_rate": [v[3] for v in P.PRODUCTS.values()],
        },
        schema={
            "product_id": pl.String,
            "name": pl.String,
            "category": pl.String,
            "monthly_fee": pl.Float64,
            "annual_margin_rate": pl.Float64,
        },
    )
