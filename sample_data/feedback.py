"""Surveys: relationship and onboarding NPS, CSAT after support contacts, free-text comments."""

from __future__ import annotations

import numpy as np
import polars as pl

from sample_data import personas as P
from sample_data import text as T
from sample_data.activity import INCIDENT_DAYS, INCIDENT_MONTH_INDEX, SupportContacts, append_pii
from sample_data.core import (
    DAY_US,
    HOUR_PROFILE_DIGITAL,
    HOUR_US,
    Streams,
    Window,
    choice,
    choice_by_group,
    str_series,
    time_of_day_us,
    ts_series,
)
from sample_data.people import Population

NPS_PER_CUSTOMER = 1.5
INCIDENT_SCORE_SHIFT = -3.0
INCIDENT_AFFECTED_SCALE = 0.4  # times the customer's app share
CLOSING_SCORE_SHIFT = -1.5

THEME_WEIGHTS = np.array(
    [
        [2.0, 5.0, 2.0, 0.5, 1.0, 2.0, 1.0, 0.5],
        [2.0, 4.0, 2.0, 0.5, 1.5, 2.0, 0.5, 1.0],
        [2.5, 3.0, 2.5, 1.0, 1.5, 1.5, 0.3, 1.5],
        [1.5, 2.0, 2.0, 1.0, 3.0, 1.5, 0.3, 1.5],
        [2.0, 1.0, 3.0, 3.0, 2.5, 1.0, 0.2, 0.3],
        [4.0, 2.0, 3.0, 1.0, 1.0, 1.5, 0.3, 1.5],
    ]
)
# Theme of a CSAT comment by support topic (order of text.SUPPORT_TOPICS).
TOPIC_THEME = (
    "card",
    "mobile_app",
    "fees",
    "card",
    "customer_service",
    "loans",
    "loans",
    "card",
    "customer_service",
    "customer_service",
    "customer_service",
    "interest_rates",
)
SURVEY_CHANNELS = ("email", "mobile_app", "web", "phone")
TOUCHPOINTS = ("relationship", "support", "onboarding", "branch_visit")


def _templates() -> tuple[list[str], np.ndarray, np.ndarray, int]:
    flat: list[str] = []
    offset = np.zeros((len(T.COMMENT_THEMES), len(T.SENTIMENTS)), np.int64)
    size = np.zeros_like(offset)
    for ti, theme in enumerate(T.COMMENT_THEMES):
        for si, sentiment in enumerate(T.SENTIMENTS):
            offset[ti, si], size[ti, si] = len(flat), len(T.COMMENTS[theme][sentiment])
            flat.extend(T.COMMENTS[theme][sentiment])
    incident_offset = len(flat)
    flat.extend(T.INCIDENT_COMMENTS)
    return flat, offset, size, incident_offset


def build_surveys(
    pop: Population, window: Window, streams: Streams, support: SupportContacts, pii: dict[str, pl.Series]
) -> tuple[pl.DataFrame, dict]:
    """The surveys table and facts about the planted incident."""
    rng = streams("surveys")
    start, end = pop.active_start(window), pop.active_end(window)
    span = end - start
    inc_end = int(window.month_starts[INCIDENT_MONTH_INDEX + 1])
    inc_lo = window.month_day(INCIDENT_MONTH_INDEX, INCIDENT_DAYS[0])

    # Relationship NPS: about 1.5 invitations answered per customer over a full window.
    expected = NPS_PER_CUSTOMER * span / (window.end_day - window.start_day)
    r_cust = np.repeat(np.arange(pop.n), rng.poisson(expected))
    r_day = start[r_cust] + (rng.random(r_cust.size) * span[r_cust]).astype(np.int64)
    # Onboarding NPS: four in ten new customers answer two to five weeks after joining.
    new = np.flatnonzero((pop.joined_day >= window.start_day) & (rng.random(pop.n) < 0.4))
    o_day = pop.joined_day[new] + rng.integers(14, 36, new.size)
    keep = o_day < end[new]
    o_cust, o_day = new[keep], o_day[keep]

    cust = np.concatenate([r_cust, o_cust])
    day = np.concatenate([r_day, o_day])
    touch = np.concatenate([np.zeros(r_cust.size, np.int16), np.full(o_cust.size, 2, np.int16)])
    k = cust.size
    ts = day * DAY_US + time_of_day_us(rng, HOUR_PROFILE_DIGITAL, k)
    latent = pop.satisfaction[cust] + P.RESPONSE_SD * rng.standard_normal(k)
    latent -= np.where(touch == 2, 0.3, 0.0)
    closing = pop.churned[cust] & (pop.closed_day[cust] - day <= 180)
    latent += np.where(closing, CLOSING_SCORE_SHIFT, 0.0)
    # Incident month: app users hit by the log-in outage answer much lower and say why.
    in_incident = (day >= inc_lo) & (day < inc_end)
    hit = (
        in_incident
        & (rng.random(k) < INCIDENT_AFFECTED_SCALE * pop.app_share[cust])
        & (pop.session_rate[cust] > 0)
    )
    latent += np.where(hit, INCIDENT_SCORE_SHIFT, 0.0)
    nps_score = np.clip(np.round(latent), 0, 10).astype(np.int32)
    nps_sent = np.where(nps_score <= 6, 0, np.where(nps_score <= 8, 1, 2))
    nps_channel = np.where(
        rng.random(k) < 0.3 * pop.app_share[cust] / P.APP_SHARE.mean(),
        1,
        choice(rng, np.array([0.7, 0, 0.22, 0.08]), k),
    )
    nps_theme = choice_by_group(rng, THEME_WEIGHTS, pop.persona[cust])
    onboarding_theme = rng.random(k) < 0.7
    nps_theme = np.where((touch == 2) & onboarding_theme, T.COMMENT_THEMES.index("onboarding"), nps_theme)
    nps_comment = rng.random(k) < np.where(nps_sent == 0, 0.5, np.where(nps_sent == 1, 0.3, 0.35))
    nps_comment |= hit & (rng.random(k) < 0.7)

    # CSAT after 35% of support contacts, one to 48 hours later (if still a customer).
    take = rng.random(support.cust.size) < 0.35
    c_cust = support.cust[take]
    c_ts = support.ts[take] + (HOUR_US + rng.random(take.sum()) * 47 * HOUR_US).astype(np.int64)
    keep = c_ts < end[c_cust] * DAY_US
    c_cust, c_ts = c_cust[keep], c_ts[keep]
    c_resolved = support.resolved[take][keep]
    c_topic = support.topic[take][keep]
    c_support_channel = support.channel[take][keep]
    c_incident = support.incident[take][keep]
    kc = c_cust.size
    satisfied_p = np.array([0.02, 0.04, 0.12, 0.37, 0.45])
    unsatisfied_p = np.array([0.25, 0.30, 0.25, 0.13, 0.07])
    csat = np.where(c_resolved, choice(rng, satisfied_p, kc), choice(rng, unsatisfied_p, kc)) + 1
    csat_sent = np.where(csat <= 2, 0, np.where(csat == 3, 1, 2))
    # chat -> app or web, phone -> phone, branch and e-mail -> e-mail
    c_channel = np.select(
        [c_support_channel == 0, c_support_channel == 1],
        [np.where(rng.random(kc) < 0.7, 1, 2), 3],
        0,
    )
    c_touch = np.where(c_support_channel == 2, 3, 1)
    topic_theme = np.array([T.COMMENT_THEMES.index(t) for t in TOPIC_THEME])[c_topic]
    c_theme = np.where((c_touch == 3) & (rng.random(kc) < 0.5), T.COMMENT_THEMES.index("branch"), topic_theme)
    c_theme = np.where(rng.random(kc) < 0.3, T.COMMENT_THEMES.index("customer_service"), c_theme)
    c_comment = rng.random(kc) < 0.3
    c_hit = c_incident & (csat <= 2)

    flat, offset, size, inc_off = _templates()
    all_cust = np.concatenate([cust, c_cust])
    theme = np.concatenate([nps_theme, c_theme])
    sentiment = np.concatenate([nps_sent, csat_sent])
    incident_text = np.concatenate([hit, c_hit])
    has_comment = np.concatenate([nps_comment, c_comment])
    n_all = all_cust.size
    pick = offset[theme, sentiment] + (rng.random(n_all) * size[theme, sentiment]).astype(np.int64)
    pick = np.where(incident_text, inc_off + rng.integers(0, len(T.INCIDENT_COMMENTS), n_all), pick)
    text = pl.Series("comment", flat, dtype=pl.String).gather(pick)
    text = append_pii(rng, text, all_cust, pii, share=0.07)
    text = text.set(pl.Series(~has_comment), None) if (~has_comment).any() else text

    frame = pl.DataFrame(
        [
            pl.Series("customer_id", pop.customer_id[all_cust]),
            ts_series("ts", np.concatenate([ts, c_ts])),
            str_series(
                "survey_type", ("nps", "csat"), np.concatenate([np.zeros(k, np.int8), np.ones(kc, np.int8)])
            ),
            pl.Series("score", np.concatenate([nps_score, csat.astype(np.int32)]), dtype=pl.Int32),
            str_series("channel", SURVEY_CHANNELS, np.concatenate([nps_channel, c_channel])),
            str_series("touchpoint", TOUCHPOINTS, np.concatenate([touch, c_touch])),
            text.alias("comment"),
        ]
    )
    frame = frame.sort(["ts", "customer_id"], maintain_order=True)
    frame = frame.with_row_index("survey_id", offset=1).with_columns(pl.col("survey_id").cast(pl.Int64))
    facts = {
        "incident_start_day": inc_lo,
        "incident_end_day": window.month_day(INCIDENT_MONTH_INDEX, INCIDENT_DAYS[1]),
        "respondents_hit": int(hit.sum()),
    }
    return frame, facts
