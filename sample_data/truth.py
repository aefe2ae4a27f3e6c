"""The planted truths: their parameters and the values realized on the generated tables.

Every realized value here is measured on the final tables (not on the
generator's internal arrays), with the same definitions the documentation
gives, so an analysis that follows the definitions must find the same numbers.
"""

from __future__ import annotations

import math
from datetime import timedelta

import numpy as np
import polars as pl

from analytics.common.types import PRODUCT_IDS
from sample_data import marketing as M
from sample_data import personas as P
from sample_data import text as T
from sample_data.activity import CHURN_COEFFICIENTS, INCIDENT_MONTH_INDEX
from sample_data.core import Window, add_months, from_day
from sample_data.feedback import INCIDENT_AFFECTED_SCALE, INCIDENT_SCORE_SHIFT
from sample_data.people import Population

CHURN_DRIVERS: tuple[tuple[str, str, str, str], ...] = (
    (
        "sessions_last_90d",
        "-",
        "Few digital sessions raise churn: low digital engagement is a planted driver, and closers fade out.",
        "count of digital_events with ts in [ref - 90 days, ref)",
    ),
    (
        "products_held",
        "-",
        "Customers holding fewer products close more often.",
        "distinct holdings.product_id with opened_at < ref and (closed_at is null or closed_at >= ref)",
    ),
    (
        "support_contacts_last_90d",
        "+",
        "Frequent support contacts raise churn; closers also complain about fees and ask how to close.",
        "count of support_interactions with ts in [ref - 90 days, ref)",
    ),
    (
        "tenure_months",
        "-",
        "Short relationships end more often.",
        "(ref - customers.joined_at) in days / 30.4375",
    ),
    (
        "txn_count_trend",
        "-",
        "Falling activity precedes closure: transactions and sessions fade over the last ~150 days.",
        "ln((transactions in [ref - 90 d, ref) + 1) / (transactions in [ref - 180 d, ref - 90 d) + 1))",
    ),
    (
        "last_nps_score",
        "-",
        "Dissatisfied customers (low latent satisfaction, lower scores in their last six months) leave.",
        "score of the latest surveys row with survey_type = 'nps' and ts < ref (null if none)",
    ),
)
# Which latent driver of the planted log-odds each feature reflects.
DRIVER_LATENT = {
    "sessions_last_90d": "sessions",
    "products_held": "products",
    "support_contacts_last_90d": "support",
    "tenure_months": "tenure",
    "last_nps_score": "satisfaction",
}


def build_truth(
    tables: dict[str, pl.DataFrame],
    *,
    pop: Population,
    window: Window,
    plans: dict[str, M.ExperimentPlan],
    churn_model: dict,
    bursts: list[dict],
    biased: dict,
    incident: dict,
    meta: dict[str, str],
) -> dict:
    """Assemble the truth file's content (JSON-ready)."""
    customers = tables["customers"]
    persona_names = [P.PERSONAS[i] for i in pop.persona]
    with_persona = customers.with_columns(pl.Series("persona", persona_names, dtype=pl.String))
    return {
        "seed": int(meta["seed"]),
        "customers": int(meta["customers"]),
        "as_of": meta["as_of"],
        "history_start": meta["history_start"],
        "generator_version": meta["generator_version"],
        "sizes": {name: frame.height for name, frame in tables.items()},
        "personas": _personas(tables, with_persona, window),
        "churn": _churn_summary(customers, churn_model),
        "churn_drivers": _churn_drivers(tables, window),
        "experiments": [_experiment(tables, plan, window) for plan in plans.values()],
        "biased_credit_offer": _biased(tables, biased),
        "incident_month": _incident(tables, window, incident),
        "fraud_bursts": _fraud(bursts, pop),
        "product_affinities": _affinities(tables, with_persona),
        "consent": {
            "marketing_refused_share": _r(1 - customers.get_column("consent_marketing").mean()),
            "profiling_refused_share": _r(1 - customers.get_column("consent_profiling").mean()),
            "planned_marketing_refused_by_persona": dict(
                zip(P.PERSONAS, P.REFUSE_MARKETING.tolist(), strict=True)
            ),
            "planned_profiling_refused_by_persona": dict(
                zip(P.PERSONAS, P.REFUSE_PROFILING.tolist(), strict=True)
            ),
        },
    }


def _r(x: float | None, digits: int = 4) -> float | None:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return None
    return round(float(x), digits)


# -- personas ---------------------------------------------------------------------------------------
def _personas(tables: dict[str, pl.DataFrame], cust: pl.DataFrame, window: Window) -> dict:
    as_of = window.as_of
    age = ((pl.lit(as_of) - pl.col("birth_date")).dt.total_days() / 365.25).alias("age")
    per = (
        cust.select("customer_id", "persona")
        .join(
            tables["transactions"].group_by("customer_id").agg(pl.len().alias("txns")),
            on="customer_id",
            how="left",
        )
        .join(
            tables["digital_events"]
            .group_by("customer_id")
            .agg(pl.len().alias("sessions"), (pl.col("channel") == "mobile_app").sum().alias("app_sessions")),
            on="customer_id",
            how="left",
        )
        .join(
            tables["holdings"].group_by("customer_id").agg(pl.col("product_id").n_unique().alias("products")),
            on="customer_id",
            how="left",
        )
        .fill_null(0)
    )
    nps = (
        tables["surveys"]
        .filter(pl.col("survey_type") == "nps")
        .join(cust.select("customer_id", "persona"), on="customer_id")
        .group_by("persona")
        .agg(_nps_expr().alias("nps"))
    )
    profile = (
        cust.with_columns(age)
        .join(per.drop("persona"), on="customer_id")
        .group_by("persona")
        .agg(
            pl.len().alias("customers"),
            pl.col("age").mean().alias("mean_age"),
            pl.col("annual_income").median().alias("median_income"),
            pl.col("credit_score").mean().alias("mean_credit_score"),
            pl.col("products").mean().alias("mean_products_ever_held"),
            pl.col("txns").mean().alias("transactions_per_customer"),
            pl.col("sessions").mean().alias("sessions_per_customer"),
            (pl.col("app_sessions").sum() / pl.col("sessions").sum()).alias("app_session_share"),
            pl.col("closed_at").is_not_null().mean().alias("churn_rate"),
            (pl.col("gender") == "female").mean().alias("female_share"),
        )
        .join(nps, on="persona", how="left")
    )
    profiles = {
        row["persona"]: {k: (_r(v) if isinstance(v, float) else v) for k, v in row.items() if k != "persona"}
        for row in profile.iter_rows(named=True)
    }
    return {
        "labels": list(P.PERSONAS),
        "descriptions": P.DESCRIPTIONS,
        "planned_shares": dict(zip(P.PERSONAS, P.SHARES.tolist(), strict=True)),
        "profiles": {name: profiles.get(name, {}) for name in P.PERSONAS},
        "customer_ids": cust.get_column("customer_id").to_list(),
        "personas": cust.get_column("persona").to_list(),
    }


def _nps_expr() -> pl.Expr:
    return ((pl.col("score") >= 9).mean() - (pl.col("score") <= 6).mean()) * 100


# -- churn ------------------------------------------------------------------------------------------
def _churn_summary(customers: pl.DataFrame, model: dict) -> dict:
    closed = customers.filter(pl.col("closed_at").is_not_null())
    return {
        "definition": "a customer churned when customers.closed_at is set (closure inside the window)",
        "reference_date": "ref = closed_at for churned customers, as_of + 1 day for the others",
        "planted_log_odds": {
            "intercept": _r(model["intercept"]),
            "coefficients_on_standardized_latents": model["coefficients"],
            "persona_offset": model["persona_offset"],
            "latents": {
                "sessions": "log(latent monthly session rate + 0.1)",
                "products": "number of products drawn at onboarding",
                "support": "log(latent monthly support-contact rate + 0.005)",
                "tenure": "log(1 + tenure in years at the middle of the window)",
                "satisfaction": "latent satisfaction on the 0-10 scale",
            },
        },
        "target_share": model["target_share"],
        "realized_share": _r(closed.height / customers.height),
        "closures": closed.height,
        "closure_reasons": dict(closed.group_by("closure_reason").len().sort("closure_reason").iter_rows()),
    }


def churn_features(tables: dict[str, pl.DataFrame], window: Window) -> pl.DataFrame:
    """The churn drivers per customer at its reference date (closure day, else the day after ``as_of``)."""
    after = window.as_of + timedelta(days=1)
    ref = tables["customers"].select(
        "customer_id",
        "joined_at",
        pl.col("closed_at").is_not_null().alias("churned"),
        pl.coalesce("closed_at", pl.lit(after)).cast(pl.Datetime("us")).alias("ref"),
    )

    def counts(frame: pl.DataFrame, windows: dict[str, tuple[int, int]]) -> pl.DataFrame:
        # One pass per table: rows in [ref - lo days, ref - hi days) for each named window.
        widest = max(lo for lo, _ in windows.values())
        near = (
            frame.select("customer_id", "ts")
            .join(ref.select("customer_id", "ref"), on="customer_id")
            .filter(
                (pl.col("ts") >= pl.col("ref") - pl.duration(days=widest)) & (pl.col("ts") < pl.col("ref"))
            )
        )
        return near.group_by("customer_id").agg(
            (
                (pl.col("ts") >= pl.col("ref") - pl.duration(days=lo))
                & (pl.col("ts") < pl.col("ref") - pl.duration(days=hi))
            )
            .sum()
            .alias(name)
            for name, (lo, hi) in windows.items()
        )

    held = (
        tables["holdings"]
        .join(ref.select("customer_id", pl.col("ref").cast(pl.Date).alias("ref_day")), on="customer_id")
        .filter(
            (pl.col("opened_at") < pl.col("ref_day"))
            & (pl.col("closed_at").is_null() | (pl.col("closed_at") >= pl.col("ref_day")))
        )
        .group_by("customer_id")
        .agg(pl.col("product_id").n_unique().alias("products_held"))
    )
    last_nps = (
        tables["surveys"]
        .filter(pl.col("survey_type") == "nps")
        .join(ref.select("customer_id", "ref"), on="customer_id")
        .filter(pl.col("ts") < pl.col("ref"))
        .sort("ts")
        .group_by("customer_id")
        .agg(pl.col("score").last().alias("last_nps_score"))
    )
    out = ref
    for part in (
        counts(tables["digital_events"], {"sessions_last_90d": (90, 0)}),
        held,
        counts(tables["support_interactions"], {"support_contacts_last_90d": (90, 0)}),
        counts(tables["transactions"], {"txn_last_90d": (90, 0), "txn_prev_90d": (180, 90)}),
    ):
        out = out.join(part, on="customer_id", how="left")
    out = out.with_columns(
        pl.col(
            "sessions_last_90d", "products_held", "support_contacts_last_90d", "txn_last_90d", "txn_prev_90d"
        ).fill_null(0)
    )
    return out.join(last_nps, on="customer_id", how="left").select(
        "customer_id",
        "churned",
        "sessions_last_90d",
        "products_held",
        "support_contacts_last_90d",
        ((pl.col("ref").cast(pl.Date) - pl.col("joined_at")).dt.total_days() / 30.4375).alias(
            "tenure_months"
        ),
        ((pl.col("txn_last_90d") + 1) / (pl.col("txn_prev_90d") + 1)).log().alias("txn_count_trend"),
        "last_nps_score",
    )


def _churn_drivers(tables: dict[str, pl.DataFrame], window: Window) -> list[dict]:
    feats = churn_features(tables, window)
    means = feats.group_by("churned").agg(pl.all().exclude("customer_id", "churned").mean())
    churned = means.filter(pl.col("churned")).row(0, named=True) if means.height == 2 else {}
    retained = means.filter(~pl.col("churned")).row(0, named=True)
    out = []
    for feature, direction, description, definition in CHURN_DRIVERS:
        latent = DRIVER_LATENT.get(feature)
        out.append(
            {
                "feature": feature,
                "direction": direction,
                "description": description,
                "definition": definition,
                "planted_coefficient": CHURN_COEFFICIENTS.get(latent) if latent else None,
                "realized": {
                    "churned_mean": _r(churned.get(feature)),
                    "retained_mean": _r(retained.get(feature)),
                },
            }
        )
    return out


# -- experiments ------------------------------------------------------------------------------------
def _two_proportion_p(x1: int, n1: int, x2: int, n2: int) -> float:
    p = (x1 + x2) / (n1 + n2)
    se = math.sqrt(p * (1 - p) * (1 / n1 + 1 / n2)) or 1.0
    z = (x2 / n2 - x1 / n1) / se
    return math.erfc(abs(z) / math.sqrt(2))


def _experiment(tables: dict[str, pl.DataFrame], plan: M.ExperimentPlan, window: Window) -> dict:
    start, end = from_day(plan.start_day), from_day(plan.end_day)
    assigned = tables["assignments"].filter(pl.col("experiment_id") == plan.experiment_id)
    counts = dict(assigned.group_by("variant").len().iter_rows())
    n_c, n_t = counts.get("control", 0), counts.get("treatment", 0)
    out: dict = {
        "experiment_id": plan.experiment_id,
        "kind": plan.kind,
        "name": plan.name,
        "start_date": start.isoformat(),
        "end_date": end.isoformat(),
        "design_split": plan.design_split,
        "primary_metric": plan.primary_metric,
        "enrolment": "customers active on start_date (joined_at <= start_date and (closed_at is null or "
        "closed_at > start_date))" + (" with consent_marketing = true" if plan.campaign_key else ""),
        "n_per_arm": {"control": n_c, "treatment": n_t},
    }
    if plan.kind in ("conversion", "aa"):
        campaign_id = int(
            tables["experiments"].filter(pl.col("experiment_id") == plan.experiment_id).item(0, "campaign_id")
        )
        conv = (
            assigned.join(
                tables["offers"]
                .filter(pl.col("campaign_id") == campaign_id)
                .select("customer_id", pl.col("converted_at").is_not_null().alias("converted")),
                on="customer_id",
                how="left",
            )
            .group_by("variant")
            .agg(pl.col("converted").fill_null(False).sum().alias("x"), pl.len().alias("n"))
        )
        x = {r["variant"]: (r["x"], r["n"]) for r in conv.iter_rows(named=True)}
        (xc, nc), (xt, nt) = x["control"], x["treatment"]
        rate_c, rate_t = xc / nc, xt / nt
        out |= {
            "campaign_id": campaign_id,
            "metric_definition": (
                f"share of assigned customers whose offer in campaign {campaign_id} (offers.campaign_id) has "
                "converted_at not null; every assigned customer received exactly one offer of that campaign"
            ),
            "planted_effect": {
                "baseline_rate": M.CONVERSION_BASELINE if plan.kind == "conversion" else M.AA_BASELINE,
                "relative_lift": M.CONVERSION_LIFT if plan.kind == "conversion" else 0.0,
            },
            "realized": {
                "control_rate": _r(rate_c),
                "treatment_rate": _r(rate_t),
                "relative_lift": _r(rate_t / rate_c - 1),
                "conversions": {"control": xc, "treatment": xt},
                "two_sided_p_value": _r(_two_proportion_p(xc, nc, xt, nt), 6),
            },
        }
        if plan.kind == "conversion":
            out["planted_effect"]["note"] = (
                "converters are drawn per arm with a fixed total (systematic PPS sampling on "
                "persona-dependent probabilities), so the realized lift sits close to the planted one"
            )
    elif plan.kind == "srm":
        n = n_c + n_t
        chi2 = (n_c - n / 2) ** 2 / (n / 2) + (n_t - n / 2) ** 2 / (n / 2)
        metric_end = min(end, window.as_of)
        out |= {
            "metric_definition": (
                "digital_events rows (sessions) per assigned customer with ts::date between start_date and "
                f"min(end_date, as_of) = {metric_end.isoformat()}"
            ),
            "planted_effect": {
                "relative_effect_on_sessions": 0.0,
                "realized_treatment_share": M.SRM_TREATMENT_SHARE,
                "note": "the design says 50/50 but 52% of the enrolled customers were put in treatment",
            },
            "realized": {
                "treatment_share": _r(n_t / n),
                "chi_square": _r(chi2, 3),
                "p_value": _r(math.erfc(math.sqrt(chi2 / 2)), 10),  # chi-square with 1 df
            },
        }
    else:
        out |= _revenue(tables, assigned, plan)
    return out


def revenue_periods(plan_start, plan_end) -> tuple:
    """Experiment and pre-period bounds (inclusive dates) of the revenue experiment."""
    days = (plan_end - plan_start).days + 1
    return plan_start - timedelta(days=days), plan_start - timedelta(days=1), days


def _revenue(tables: dict[str, pl.DataFrame], assigned: pl.DataFrame, plan: M.ExperimentPlan) -> dict:
    start, end = from_day(plan.start_day), from_day(plan.end_day)
    pre_start, pre_end, days = revenue_periods(start, end)
    debits = tables["transactions"].filter(
        (pl.col("direction") == "debit")
        & (pl.col("ts").cast(pl.Date) >= pre_start)
        & (pl.col("ts").cast(pl.Date) <= end)
    )
    per = debits.group_by("customer_id").agg(
        pl.col("amount").filter(pl.col("ts").cast(pl.Date) >= start).sum().alias("y"),
        pl.col("amount").filter(pl.col("ts").cast(pl.Date) < start).sum().alias("x"),
    )
    data = assigned.join(per, on="customer_id", how="left").with_columns(pl.col("x", "y").fill_null(0.0))
    x = data.get_column("x").to_numpy()
    y = data.get_column("y").to_numpy()
    t = (data.get_column("variant") == "treatment").to_numpy()
    r2 = float(np.corrcoef(x, y)[0, 1] ** 2)
    theta = float(np.cov(x, y)[0, 1] / np.var(x, ddof=1))
    y_cuped = y - theta * (x - x.mean())
    raw = y[t].mean() / y[~t].mean() - 1
    cuped = y_cuped[t].mean() / y_cuped[~t].mean() - 1
    se_raw = math.sqrt(y[t].var(ddof=1) / t.sum() + y[~t].var(ddof=1) / (~t).sum()) / y[~t].mean()
    se_cuped = (
        math.sqrt(y_cuped[t].var(ddof=1) / t.sum() + y_cuped[~t].var(ddof=1) / (~t).sum()) / y[~t].mean()
    )
    return {
        "metric_definition": (
            "per assigned customer: sum of transactions.amount with direction = 'debit' and ts::date between "
            f"start_date and end_date inclusive ({start} .. {end}, {days} days), 0 if none"
        ),
        "pre_period": {
            "start_date": pre_start.isoformat(),
            "end_date": pre_end.isoformat(),
            "definition": "the same sum over the same number of days just before start_date",
        },
        "planted_effect": {
            "relative_effect": M.REVENUE_EFFECT,
            "mechanism": "every debit amount of a treated customer inside the experiment period is "
            f"multiplied by {1 + M.REVENUE_EFFECT}",
        },
        "realized": {
            "control_mean": _r(y[~t].mean(), 2),
            "treatment_mean": _r(y[t].mean(), 2),
            "relative_effect_raw": _r(raw),
            "relative_effect_cuped": _r(cuped),
            "standard_error_raw": _r(se_raw),
            "standard_error_cuped": _r(se_cuped),
            "r_squared_pre_vs_experiment": _r(r2),
            "cuped_theta": _r(theta),
            "metric_skewness": _r(float(((y - y.mean()) ** 3).mean() / y.std() ** 3)),
        },
    }


# -- biased credit offer ----------------------------------------------------------------------------
def biased_population(customers: pl.DataFrame, start) -> pl.DataFrame:
    """Customers eligible for the pre-approved loan decision, with their credit band."""
    band = pl.lit(None, dtype=pl.String)
    for lo, hi in reversed(M.CREDIT_BANDS):
        band = pl.when(pl.col("credit_score").is_between(lo, hi)).then(pl.lit(f"{lo}-{hi}")).otherwise(band)
    return customers.filter(
        (pl.col("joined_at") <= start)
        & (pl.col("closed_at").is_null() | (pl.col("closed_at") > start))
        & pl.col("consent_marketing")
        & (pl.col("credit_score") >= M.CREDIT_CUTOFF)
    ).with_columns(band.alias("credit_band"))


def _biased(tables: dict[str, pl.DataFrame], facts: dict) -> dict:
    campaign_id = facts["campaign_id"]
    campaign = tables["campaigns"].filter(pl.col("campaign_id") == campaign_id).row(0, named=True)
    start = campaign["start_date"]
    selected = (
        tables["offers"]
        .filter(pl.col("campaign_id") == campaign_id)
        .select("customer_id", pl.lit(True).alias("selected"))
    )
    pop = (
        biased_population(tables["customers"], start)
        .join(selected, on="customer_id", how="left")
        .with_columns(pl.col("selected").fill_null(False))
    )
    rates = (
        pop.group_by("credit_band", "gender")
        .agg(pl.len().alias("eligible"), pl.col("selected").sum())
        .sort("credit_band", "gender")
    )
    by_band = {}
    for lo, hi in M.CREDIT_BANDS:
        name = f"{lo}-{hi}"
        cell = {r["gender"]: r for r in rates.filter(pl.col("credit_band") == name).iter_rows(named=True)}
        f, m = cell.get("female"), cell.get("male")
        rf = f["selected"] / f["eligible"] if f and f["eligible"] else None
        rm = m["selected"] / m["eligible"] if m and m["eligible"] else None
        by_band[name] = {
            "eligible": {g: c["eligible"] for g, c in cell.items()},
            "selected": {g: c["selected"] for g, c in cell.items()},
            "selection_rate_female": _r(rf),
            "selection_rate_male": _r(rm),
            "ratio_female_to_male": _r(rf / rm) if rf is not None and rm else None,
        }
    overall = (
        pop.group_by("gender")
        .agg(pl.col("selected").mean().alias("rate"), pl.len().alias("n"))
        .sort("gender")
    )
    ov = {r["gender"]: r for r in overall.iter_rows(named=True)}
    scores = (
        pop.group_by("gender")
        .agg(
            pl.col("credit_score").mean().alias("mean"),
            pl.col("credit_score").std().alias("sd"),
            pl.col("credit_score").median().alias("median"),
        )
        .sort("gender")
    )
    return {
        "campaign_id": campaign_id,
        "campaign_name": campaign["name"],
        "product_id": campaign["product_id"],
        "decision": "the campaign's offers are the pre-approval decision: an offer row = selected",
        "protected_attribute": "gender",
        "disadvantaged_group": "female",
        "favoured_group": "male",
        "other_gender_treatment": "customers with gender 'other' were selected at the favoured group's rate",
        "eligible_population": (
            f"customers with joined_at <= {start} and (closed_at is null or closed_at > {start}) "
            f"and consent_marketing = true and credit_score >= {M.CREDIT_CUTOFF} "
            f"(campaign start_date {start})"
        ),
        "credit_bands": [f"{lo}-{hi}" for lo, hi in M.CREDIT_BANDS],
        "planted": {
            "favoured_selection_rate_by_band": dict(zip(by_band, M.FAVOURED_RATE.tolist(), strict=True)),
            "disadvantaged_to_favoured_ratio": M.DISADVANTAGED_RATIO,
            "mechanism": "within each (credit band, gender) cell exactly round(rate * eligible) customers "
            "were drawn at random",
        },
        "realized": {
            "by_band": by_band,
            "selection_rate": {g: _r(v["rate"]) for g, v in ov.items()},
            "eligible": {g: v["n"] for g, v in ov.items()},
            "four_fifths_ratio": _r(ov["female"]["rate"] / ov["male"]["rate"]),
            "credit_score_by_gender": {
                r["gender"]: {"mean": _r(r["mean"], 1), "sd": _r(r["sd"], 1), "median": r["median"]}
                for r in scores.iter_rows(named=True)
            },
        },
    }


# -- incident ---------------------------------------------------------------------------------------
def _incident(tables: dict[str, pl.DataFrame], window: Window, facts: dict) -> dict:
    month = add_months(window.history_start, INCIDENT_MONTH_INDEX)
    baseline = [add_months(month, d) for d in (-3, -2, -1, 1, 2, 3)]
    nps = (
        tables["surveys"]
        .filter(pl.col("survey_type") == "nps")
        .group_by(pl.col("ts").dt.truncate("1mo").cast(pl.Date).alias("month"))
        .agg(_nps_expr().alias("nps"), pl.len().alias("responses"))
    )
    nps_by = {r["month"]: r for r in nps.iter_rows(named=True)}
    pattern = "(?i)" + "|".join(k.replace(" ", r"\s") for k in T.INCIDENT_KEYWORDS)
    comments = (
        tables["surveys"]
        .filter(pl.col("comment").is_not_null())
        .group_by(pl.col("ts").dt.truncate("1mo").cast(pl.Date).alias("month"))
        .agg(pl.col("comment").str.contains(pattern).mean().alias("share"), pl.len().alias("comments"))
    )
    share_by = {r["month"]: r["share"] for r in comments.iter_rows(named=True)}
    support = (
        tables["support_interactions"]
        .filter(pl.col("topic") == "app_login")
        .group_by(pl.col("ts").dt.truncate("1mo").cast(pl.Date).alias("month"))
        .len()
    )
    support_by = dict(support.iter_rows())
    base_nps = float(np.mean([nps_by[m]["nps"] for m in baseline if m in nps_by]))
    base_share = float(np.mean([share_by[m] for m in baseline if m in share_by]))
    base_support = float(np.mean([support_by.get(m, 0) for m in baseline]))
    return {
        "month": month.strftime("%Y-%m"),
        "theme": T.INCIDENT_THEME,
        "description": "mobile app outage with log-in failures during the month: app users answering an NPS "
        "survey score about three points lower and often comment on it, failed log-in sessions, "
        "a spike of app_login support contacts",
        "keywords": list(T.INCIDENT_KEYWORDS),
        "nps_definition": "100 * (share of scores >= 9 - share of scores <= 6) over surveys with "
        "survey_type = 'nps' whose ts falls in the month",
        "baseline_months": [m.strftime("%Y-%m") for m in baseline],
        "baseline_definition": "mean of the monthly values of the three months before and the three after",
        "theme_share_definition": "share of non-null surveys.comment in the month matching any keyword "
        "(case-insensitive)",
        "planted": {
            "score_shift_for_affected": INCIDENT_SCORE_SHIFT,
            "affected_share": f"{INCIDENT_AFFECTED_SCALE} x the customer's app share",
        },
        "realized": {
            "nps_month": _r(nps_by[month]["nps"], 2),
            "nps_baseline": _r(base_nps, 2),
            "nps_drop": _r(base_nps - nps_by[month]["nps"], 2),
            "responses_month": nps_by[month]["responses"],
            "theme_share_month": _r(share_by.get(month)),
            "theme_share_baseline": _r(base_share),
            "app_login_contacts_month": support_by.get(month, 0),
            "app_login_contacts_baseline": _r(base_support, 1),
            "nps_answers_hit": facts["respondents_hit"],
        },
    }


# -- fraud ------------------------------------------------------------------------------------------
def _fraud(bursts: list[dict], pop: Population) -> dict:
    def iso(micros: int) -> str:
        return str(np.datetime64(int(micros), "us"))

    return {
        "definition": "5-15 card_online/card_present debits of one customer within 30 minutes, abroad "
        "(country != 'NL') or at unusual merchants (electronics, jewelry, gift_cards, gaming)",
        "planted_share_of_customers": 0.005,
        "realized_share_of_customers": _r(len(bursts) / pop.n, 5),
        "n_bursts": len(bursts),
        "n_transactions": int(sum(b["count"] for b in bursts)),
        "bursts": [
            {**b, "start_ts": iso(b["start_ts"]), "end_ts": iso(b["end_ts"])}
            for b in sorted(bursts, key=lambda b: b["customer_id"])
        ],
    }


# -- product affinities -----------------------------------------------------------------------------
def _affinities(tables: dict[str, pl.DataFrame], cust: pl.DataFrame) -> dict:
    persona = cust.select("customer_id", "persona")
    held = (
        tables["holdings"]
        .select("customer_id", "product_id")
        .unique()
        .join(persona, on="customer_id")
        .group_by("persona", "product_id")
        .len()
    )
    sizes = dict(persona.group_by("persona").len().iter_rows())
    holding_rate = {p: {prod: 0.0 for prod in PRODUCT_IDS} for p in P.PERSONAS}
    for p, prod, n in held.iter_rows():
        holding_rate[p][prod] = _r(n / sizes[p])
    popularity = tables["holdings"].select("customer_id", "product_id").unique().group_by("product_id").len()
    experiment_campaigns = tables["experiments"].get_column("campaign_id").drop_nulls().to_list()
    conv = (
        tables["offers"]
        .filter(
            ~pl.col("campaign_id").is_in(experiment_campaigns) & (pl.col("product_id") != "current_account")
        )
        .join(persona, on="customer_id")
        .group_by("persona", "product_id")
        .agg(pl.len().alias("sent"), pl.col("converted_at").is_not_null().mean().alias("rate"))
        .sort("persona", "product_id")
    )
    conversion = {p: {} for p in P.PERSONAS}
    for row in conv.iter_rows(named=True):
        conversion[row["persona"]][row["product_id"]] = {"sent": row["sent"], "rate": _r(row["rate"])}
    return {
        "propensity": {
            p: dict(zip(PRODUCT_IDS, P.PROPENSITY[i].tolist(), strict=True)) for i, p in enumerate(P.PERSONAS)
        },
        "propensity_definition": "probability that a customer of the persona holds the product from "
        "onboarding (mortgage and investment_fund also scale with income within the persona); campaign "
        "conversion probability is proportional to the same propensity",
        "realized_holding_rate": holding_rate,
        "holding_rate_definition": "share of the persona's customers with at least one holdings row of the "
        "product (any time)",
        "popularity": {
            prod: _r(n / cust.height)
            for prod, n in sorted(popularity.iter_rows(), key=lambda r: (-r[1], r[0]))
        },
        "realized_offer_conversion": conversion,
        "offer_conversion_definition": "share of offers with converted_at set, standard campaigns only "
        "(experiment campaigns and the current_account retention campaign excluded)",
    }
