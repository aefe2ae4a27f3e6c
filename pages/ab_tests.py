"""A/B tests: did the personalized treatment work, and can the read-out be trusted?

Through ``app.resources``: the experiments (``analytics.experiments.bank``: per-customer metrics
aggregated in DuckDB into each arm's sufficient statistics), the read-out
(``analytics.experiments.readout``: frequentist and Bayesian comparisons, CUPED, the sample-ratio
check, Holm), the sequential series (always-valid confidence sequences) and the segment breakdown
(``analytics.experiments.breakdown``, Benjamini-Hochberg). Directly: the power calculator
(``analytics.experiments.power``) and an uploaded experiment, per-customer rows or per-arm
summaries (``analytics.experiments.external``). Figures and tables: ``app.charts.ab_tests``.
"""

from __future__ import annotations

import polars as pl
import streamlit as st

from analytics.experiments import breakdown, external
from analytics.experiments import power as experiment_power
from analytics.experiments.readout import METRIC_LABELS
from app import components, resources
from app.charts import ab_tests as charts

SECTIONS = {"readout": "Read-out", "power": "Power & sample size", "upload": "External experiment"}
MSG_NO_EXPERIMENTS = "The database holds no experiment yet."
# The read-out only sums each arm (n, sum, sum of squares), so it takes as many rows as the audit of
# the Fairness page; the CLI reads larger files.
MAX_UPLOAD_ROWS = 2_000_000
MSG_TOO_MANY_ROWS = "Use `python -m analytics abtest --input` for larger files."


def readout_section(path: str) -> None:
    """Experiment list, SRM banner, decision line, metrics, forest plot, Bayes, sequential, segments."""
    listing = resources.experiment_list(path)
    if listing.height == 0:
        st.info(MSG_NO_EXPERIMENTS)
        return
    st.dataframe(charts.listing_table(listing), hide_index=True)
    names = dict(zip(listing["experiment_id"].to_list(), listing["name"].to_list(), strict=True))
    left, mid, right = st.columns([3, 1, 1])
    experiment_id = left.selectbox("Read out", list(names), format_func=names.get, key="ab_experiment")
    alpha = mid.selectbox("Significance level", [0.05, 0.01, 0.1], key="ab_alpha")
    cuped = right.toggle(
        "CUPED", value=True, key="ab_cuped", help="Adjust for each customer's pre-period value."
    )
    try:
        result = resources.experiment_readout(path, experiment_id, alpha, cuped)
    except ValueError as exc:
        st.error(str(exc))
        return
    exp = result.experiment
    design = ", ".join(f"{v} {share:g}%" for v, share in zip(exp.variants, exp.design_split, strict=False))
    st.caption(
        f"{exp.experiment_id} · {exp.hypothesis} · window {exp.start_date} to {exp.window_end}"
        f" ({exp.days} days, {exp.status}) · design {design}"
        f" · reproduce with `python -m analytics abtest --experiment {exp.experiment_id} --json`"
    )
    counts = " · ".join(f"{v}: {n:,}" for v, n in result.counts.items())
    if result.srm.flagged:
        st.error(
            f"Sample ratio mismatch: {counts} against a {'/'.join(f'{s:g}' for s in exp.design_split)} design"
            f" (chi-square {result.srm.chi_square:.1f}, p = {result.srm.p_value:.1e})."
            " Assignment or logging is"
            " broken somewhere: do not trust this read-out until the cause is found.",
            icon=":material/warning:",
        )
    else:
        st.caption(f"Sample ratio as designed: {counts} (chi-square p = {result.srm.p_value:.2f}).")
    st.info(result.decision)
    table = charts.metrics_table(result)
    st.dataframe(table, hide_index=True)
    st.caption(
        "p (adjusted): the primary metric and the guardrails keep their own p-value; the secondary"
        " metrics are Holm-adjusted among themselves. A guardrail is flagged when significantly worse."
    )
    breached = [m.metric for m in result.metrics if any(m.guardrail_breached.values())]
    if breached:
        st.warning("Guardrail significantly worse: " + ", ".join(METRIC_LABELS[m] for m in breached))
    components.csv_download(table, file_name=f"tailor_{exp.experiment_id}_readout.csv", key="ab_csv")
    st.plotly_chart(charts.forest_figure(result), key="ab_forest")

    st.subheader("Bayesian view")
    primary = result.primary
    bayesian = charts.bayesian_table(primary)
    if bayesian.height:
        st.dataframe(bayesian, hide_index=True)
    st.caption(
        "Chance to beat control: the posterior probability that the treatment's true value is higher."
        " Expected loss: what shipping the treatment costs on average in the cases where it is worse."
    )

    st.subheader("Sequential monitoring")
    metric_options = [m.metric for m in result.metrics if not m.problem]
    metric = st.selectbox("Metric", metric_options, format_func=METRIC_LABELS.get, key="ab_sequential_metric")
    treatments = [v for v in exp.variants[1:] if v in result.counts]
    part = resources.experiment_sequence(path, experiment_id, metric, alpha) if metric else pl.DataFrame()
    if part.height == 0 or not treatments:
        st.info("Too few customers in the early days to draw the sequence.")
    else:
        st.plotly_chart(charts.sequential_figure(part, metric, treatments[0]), key="ab_sequential")
        st.caption(
            "Raw lift, without CUPED. The shaded band is an always-valid 95% confidence sequence"
            " (normal mixture): it may be checked every day without raising the false-positive"
            " rate. The dotted lines are the fixed-horizon interval, valid only once, at the planned end."
        )

    st.subheader("Segments")
    dimension = st.segmented_control(
        "By",
        list(breakdown.SEGMENT_DIMENSIONS),
        format_func=lambda d: d.replace("_", " "),
        key="ab_dimension",
        required=True,
    )
    segments = resources.experiment_segments(
        path, experiment_id, primary.metric, dimension or "region", alpha
    )
    st.dataframe(charts.segment_table(segments), hide_index=True)
    st.caption(
        f"{METRIC_LABELS[primary.metric]} by {(dimension or 'region').replace('_', ' ')},"
        " without CUPED; p-values adjusted across groups (Benjamini-Hochberg). A group effect is a"
        " lead to test, not a finding."
    )


def power_section() -> None:
    """Sample size per arm and runtime for an effect, or the effect a size can detect."""
    left, right = st.columns(2)
    with left:
        kind = st.segmented_control(
            "Metric", ["proportion", "mean"], format_func=str.capitalize, key="power_kind", required=True
        )
        kind = kind or "proportion"
        baseline = st.number_input(
            "Baseline (control rate, 0-1)" if kind == "proportion" else "Baseline mean",
            value=0.10 if kind == "proportion" else 600.0,
            key="power_baseline",
            format="%.4f",
        )
        sd = (
            None
            if kind == "proportion"
            else st.number_input("Standard deviation", value=900.0, key="power_sd")
        )
        mde = st.number_input(
            "Minimum detectable effect (relative, e.g. 0.05 = 5%)", value=0.05, key="power_mde", format="%.4f"
        )
    with right:
        alpha = st.number_input(
            "Significance level", value=0.05, min_value=0.0001, max_value=0.5, key="power_alpha"
        )
        power = st.number_input("Power", value=0.8, min_value=0.5, max_value=0.999, key="power_power")
        sides = st.segmented_control("Sides", [2, 1], key="power_sides", required=True) or 2
        traffic = st.number_input(
            "Customers entering per day (both arms)", value=2000.0, min_value=0.0, key="power_traffic"
        )
        per_arm = st.number_input(
            "…or: customers per arm you have", value=0, min_value=0, step=1000, key="power_per_arm"
        )
    try:
        size = experiment_power.sample_size(
            baseline=baseline,
            mde=mde,
            kind=kind,
            sd=sd,
            alpha=alpha,
            power=power,
            sides=int(sides),
            relative=True,
            daily_traffic=traffic or None,
        )
    except ValueError as exc:
        st.error(str(exc))
        return
    cols = st.columns(3)
    cols[0].metric("Customers per arm", f"{size.per_arm:,}")
    cols[1].metric("Total", f"{size.total:,}")
    cols[2].metric("Runtime", f"{size.days} days" if size.days else "n/a")
    if per_arm:
        try:
            effect = experiment_power.minimum_detectable_effect(
                baseline=baseline,
                per_arm=int(per_arm),
                kind=kind,
                sd=sd,
                alpha=alpha,
                power=power,
                sides=int(sides),
            )
        except ValueError as exc:
            st.error(str(exc))
            return
        st.metric(f"Smallest relative effect {int(per_arm):,} per arm detect", f"{effect:.2%}")
    st.caption("The same as `python -m analytics power --baseline B --mde M --json`.")


def upload_section() -> None:
    """Read out an experiment run elsewhere: per-customer rows or per-arm summaries."""
    st.caption(
        "Per-customer rows: a variant column and a metric column (0/1 for a conversion), optionally the"
        " metric's pre-period value for CUPED. Per-arm summaries: a variant column and n, sum, sum_sq."
        " The same as `python -m analytics abtest --input FILE ... --json`."
    )
    upload = st.file_uploader("Experiment file (CSV or Parquet)", type=["csv", "parquet"], key="ab_upload")
    if upload is None:
        return
    frame = components.read_upload(upload, max_rows=MAX_UPLOAD_ROWS, too_many=MSG_TOO_MANY_ROWS)
    if frame is None:
        return
    summary = st.toggle("Rows are per-arm summaries (n, sum, sum_sq)", key="ab_upload_summary")
    columns = frame.columns
    left, right = st.columns(2)
    variant_col = left.selectbox("Variant column", columns, key="ab_upload_variant")
    # As text, the way the analytics reads the column (a boolean arm reads "true", not "True").
    arms = (
        frame.get_column(variant_col)
        .cast(pl.String)
        .drop_nulls()
        .unique(maintain_order=True)
        .head(50)
        .to_list()
    )
    control = right.selectbox("Control arm", arms, key="ab_upload_control")
    if summary:
        metric = left.text_input("Metric name", value="metric", key="ab_upload_metric_name")
        covariate = None
    else:
        others = [c for c in columns if c != variant_col]
        metric = left.selectbox("Metric column", others, key="ab_upload_metric")
        covariate = right.selectbox(
            "Pre-period column (CUPED)",
            [None, *others],
            format_func=lambda c: c or "none",
            key="ab_upload_cov",
        )
    design_text = st.text_input(
        "Design split, control first (e.g. 50,50; empty: equal)", key="ab_upload_design"
    )
    if not st.button("Read out", key="ab_upload_go"):
        return
    try:
        arms_stats, kind = external.external_arms(
            frame,
            variant_col=variant_col,
            control=control,
            metric=metric,
            covariate=covariate,
            summary=summary,
        )
        design = external.parse_design(design_text, len(arms_stats))
        result = external.read_out_external(
            arms_stats, kind=kind, metric=metric, design=design, cuped=covariate is not None
        )
    except ValueError as exc:
        st.error(str(exc))
        return
    if result.srm.flagged:
        st.error(
            f"Sample ratio mismatch (p = {result.srm.p_value:.1e}): do not trust this read-out.",
            icon=":material/warning:",
        )
    st.info(result.decision)
    st.dataframe(charts.external_arms_table(result), hide_index=True)
    st.dataframe(charts.external_comparisons_table(result), hide_index=True)


# -- page ------------------------------------------------------------------------------------
user = components.require_access("ab_tests")
path = resources.database_path()
st.title("A/B tests")
st.caption(
    "Did the personalized treatment work? Frequentist and Bayesian read-outs, checked for sample ratio."
)
section = st.segmented_control(
    "Section", list(SECTIONS), format_func=SECTIONS.get, key="ab_section", required=True
)
section = section or "readout"
if section == "readout":
    readout_section(path)
elif section == "power":
    power_section()
else:
    upload_section()
