"""Engagement-score constants and the per-customer-month score, free of any database code.

They live apart from the KPI definitions and queries (:mod:`analytics.kpis.definitions`,
:mod:`analytics.kpis.cubes`) so that :mod:`analytics.kpis.rollups` can build the KPI cube's
engagement sums with the very same weights and caps.
"""

from __future__ import annotations

# Engagement score: weights and fixed caps (not percentiles, so that a score means the
# same across periods and filters). Each cap is a round number just above the 90th
# percentile of the sample bank's customer-months (sessions 6.7 a month, 5.0-5.2 minutes,
# 4-5 products), so that only the most engaged tenth or so saturates a component and the
# rest spread over the scale (docs/kpis.md).
ENGAGEMENT_WEIGHT_SESSIONS = 0.30
ENGAGEMENT_WEIGHT_MINUTES = 0.20
ENGAGEMENT_WEIGHT_PRODUCTS = 0.30
ENGAGEMENT_WEIGHT_OFFERS = 0.20
ENGAGEMENT_SESSIONS_CAP = 8.0
"""Digital sessions in the month that earn the full sessions component."""
ENGAGEMENT_MINUTES_CAP = 6.0
"""Average session length in minutes that earns the full session-length component."""
ENGAGEMENT_PRODUCTS_CAP = 5.0
"""Products held in the month that earn the full products component."""
ENGAGEMENT_NEUTRAL_OFFER_INTERACTION = 0.5
"""Offer-interaction component of a customer-month without any offer sent (neither good nor bad)."""


def engagement_score(
    sessions_per_month: float,
    avg_session_minutes: float,
    products_held: float,
    *,
    offers_sent: int = 0,
    offers_opened: int = 0,
    offers_clicked: int = 0,
) -> float:
    """Customer Engagement Score, 0-100, of one customer in one month.

    ``100 * (0.30 min(sessions / 8, 1) + 0.20 min(avg session minutes / 6, 1)
    + 0.30 min(products held / 5, 1) + 0.20 offer interaction)`` where offer interaction
    is ``(opened + clicked) / (2 sent)`` (capped at 1) if offers were sent, else 0.5.
    The caps are the constants ``ENGAGEMENT_*_CAP``. The KPI averages this monthly score
    over customer-months (:func:`analytics.kpis.formulas.kpis_from_sums`).

    Parameters
    ----------
    sessions_per_month : float
        Digital sessions in the month.
    avg_session_minutes : float
        Average session length in minutes (0 without sessions).
    products_held : float
        Products held on at least one day of the month.
    offers_sent, offers_opened, offers_clicked : int
        The customer's offer funnel for offers sent in the month.

    Returns
    -------
    float
        The score.

    Examples
    --------
    >>> engagement_score(4, 3, 2.5, offers_sent=0)
    50.0
    """
    interaction = (
        min((offers_opened + offers_clicked) / (2.0 * offers_sent), 1.0)
        if offers_sent > 0
        else ENGAGEMENT_NEUTRAL_OFFER_INTERACTION
    )
    return 100.0 * (
        ENGAGEMENT_WEIGHT_SESSIONS * min(sessions_per_month / ENGAGEMENT_SESSIONS_CAP, 1.0)
        + ENGAGEMENT_WEIGHT_MINUTES * min(avg_session_minutes / ENGAGEMENT_MINUTES_CAP, 1.0)
        + ENGAGEMENT_WEIGHT_PRODUCTS * min(products_held / ENGAGEMENT_PRODUCTS_CAP, 1.0)
        + ENGAGEMENT_WEIGHT_OFFERS * interaction
    )
