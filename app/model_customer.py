"""The one-customer section of the Models page: score, waterfall, reasons and the what-if form.

Widgets only: the customer is found by ``analytics.models.customer_explanations.resolve_customer``,
scored and explained by ``explain_customer`` (re-scored after ``apply_what_if``), read and audited
through ``app.resources``, and drawn by ``app.charts.models``.
"""

from __future__ import annotations

import math

import polars as pl
import streamlit as st

from analytics.access.privacy import sees_raw_personal_data
from analytics.models import customer_explanations
from app import resources, state
from app.charts import models as charts

WHAT_IF_FEATURES = 6


def customer_section(path: str, record, user) -> None:
    """Score, waterfall and reasons of one customer; what-if."""
    meta = resources.explanation_meta(path, record.model_id).get("tree")
    typical = meta.typical if meta is not None else {}
    raw = sees_raw_personal_data(user.role)
    top = resources.top_scored(path, record.model_id, user.role)
    if raw and top.height:
        resources.log_personal_data_view(
            path,
            user,
            target="model_top_scores",
            details={"model_id": record.model_id, "customers": top.height},
        )
    left, right = st.columns(2)
    with left:
        st.text_input(
            "Customer (masked id" + (" or customer number)" if raw else ")"),
            key=state.CUSTOMER_REF,
            placeholder="C-1a2b3c4d5e6f",
        )
    with right:
        picks = {
            "": "—",
            **{
                row["masked_id"]: f"{row['customer']} · score {row['score']:.1%}"
                for row in top.iter_rows(named=True)
            },
        }
        chosen = st.selectbox(
            "…or one of the highest scores (profiling consent given)",
            list(picks),
            format_func=picks.get,
            key="customer_pick",
        )
    if raw and top.height:
        st.caption("The list shows customer numbers to your role; this view is logged.")
    text = (st.session_state.get(state.CUSTOMER_REF) or "").strip() or (chosen or "")
    if not text:
        st.info(
            "Type a customer's masked id (shown on every customer list to your role) or pick one above."
            " Only customers who consented to profiling are scored and explained."
        )
        return
    try:
        customer_id = customer_explanations.resolve_customer(
            text, resources.current_pseudonyms(path), allow_raw=raw
        )
        row = resources.customer_row(path, customer_id, user.role)
    except ValueError as exc:
        st.error(str(exc))
        return
    model = resources.loaded_model(path, record.model_id)
    result = customer_explanations.explain_customer(model, row, typical=typical)
    masked = resources.masked_id(path, customer_id)
    shown_id = f"{customer_id} ({masked})" if raw else masked
    resources.log_personal_data_view(
        path,
        user,
        target="model_explanation",
        details={"model_id": record.model_id, "customer": masked},  # a pseudonym, never the number
    )
    st.subheader(f"Customer {shown_id}")
    cols = st.columns(3)
    cols[0].metric(
        f"Score: {customer_explanations.TARGET_WORDS.get(record.target, record.target)}",
        charts.percent(result.score),
    )
    cols[1].metric("Starting point (base value)", charts.percent(result.base_probability))
    cols[2].metric(
        "Log-odds",
        f"{result.log_odds:+.3f}",
        f"{result.log_odds - result.base_value:+.3f} from the base",
        delta_color="off",
    )
    st.markdown("**Why: the three largest contributions**")
    for reason in result.reasons:
        st.markdown(f"- {reason[0].upper()}{reason[1:]}.")
    st.plotly_chart(charts.waterfall_figure(result), key="waterfall_chart")
    st.caption(
        "The bars add up exactly, in the log-odds of the calibrated score, from the base value to this"
        " customer's score; the points in the reasons are how much lower (or higher) the score would be"
        " without that contribution. The explanation is audited."
    )
    what_if(model, row, result, typical, masked=masked)


def what_if(
    model,
    row: pl.DataFrame,
    result: customer_explanations.CustomerExplanation,
    typical: dict,
    *,
    masked: str,
) -> None:
    """Edit the largest contributions' values, re-score and re-explain.

    The widgets are keyed by model and the customer's masked id, so one customer's values never
    carry over to the next; never by the customer number, since Streamlit writes a widget's key
    into the element id it sends to the browser (docs/authentication.md). An empty field is a
    missing value (the model imputes it, as it did when scoring), and only the fields the user
    changed are applied.
    """
    st.markdown("**What if?** Change the values of the largest contributions and re-score.")
    features = result.contributions.head(WHAT_IF_FEATURES)["feature"].to_list()
    prefix = f"wi_{result.model_id}_{masked}"
    original = {name: row.get_column(name)[0] for name in features}
    with st.form(f"{prefix}_form"):
        columns = st.columns(3)
        entered: dict[str, float | bool | None] = {}
        for index, name in enumerate(features):
            current = original[name]
            key = f"{prefix}_{name}"
            with columns[index % 3]:
                if row.schema[name] == pl.Boolean:
                    label = f"Holds {charts.feature_label(name.removeprefix('has_'))}"
                    entered[name] = st.checkbox(label, value=bool(current), key=key)
                elif row.schema[name].is_integer():
                    entered[name] = st.number_input(
                        charts.feature_label(name), value=current, step=1, key=key
                    )
                else:
                    entered[name] = st.number_input(
                        charts.feature_label(name), value=current, key=key, format="%.2f"
                    )
        st.caption("An empty field is a missing value: the model fills it in as it did when scoring.")
        submitted = st.form_submit_button("Re-score")
    if not submitted:
        return
    changes = {name: value for name, value in entered.items() if not _same(value, original[name])}
    try:
        edited = customer_explanations.apply_what_if(row, changes, features=model.features)
    except ValueError as exc:
        st.error(str(exc))
        return
    again = customer_explanations.explain_customer(model, edited, typical=typical)
    change = again.score - result.score
    what = ", ".join(charts.feature_label(name) for name in changes) or "nothing changed"
    st.metric(
        "Score with these values",
        charts.percent(again.score),
        f"{change * 100:+.1f} points",
        delta_color="off",
    )
    st.caption(f"Changed: {what}.")
    for reason in again.reasons:
        st.markdown(f"- {reason[0].upper()}{reason[1:]}.")
    st.plotly_chart(charts.waterfall_figure(again), key="what_if_waterfall")


def _same(entered, stored) -> bool:
    """Whether a form value equals the stored one (the number input shows floats to two decimals)."""
    if entered is None or stored is None:
        return entered is None and stored is None
    if isinstance(stored, bool):
        return bool(entered) == stored
    return math.isclose(float(entered), float(stored), rel_tol=0.0, abs_tol=0.005)
