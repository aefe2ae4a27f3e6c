"""A/B tests: did the personalized treatment work, and can the read-out be trusted?

Calls ``analytics.experiments.readout`` (metrics per customer aggregated in DuckDB into each arm's
sufficient statistics, the read-out, the sequential series and the segment breakdown) and
``analytics.experiments.stats`` (frequentist and Bayesian comparisons, CUPED, the
sample-ratio check, always-valid confidence sequences, Holm / Benjamini-Hochberg, power).
An external experiment can be uploaded as per-customer rows or per-arm summaries.
"""

from __future__ import annotations

import math

import plotly.graph_objects as go
import polars as pl
import streamlit as st

from analytics.experiments import bank, breakdown, external
from analytics.experiments import power as experiment_power
from analytics.experiments import readout as experiments
from app import components, resources

SECTIONS = {"readout": "Read-out", "power": "Power & sample size", "upload": "External experiment"}
TREATMENT_COLOR, CONTROL_COLOR, BAD_COLOR, BAND_COLOR = (
    "#0F4C81",
    "#9E9E9E",
    "#C62828",
    "rgba(15,76,129,0.18)",
)
MSG_NO_EXPERIMENTS = "The database holds no experiment yet."


def _layout(figure: go.Figure, *, height: int = 320, **extra) -> go.Figure:
    figure.update_layout(height=height, margin={"l": 10, "r": 10, "t": 40, "b": 10}, **extra)
    return figure


def _value(metric: str, value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    if bank.METRIC_KINDS.get(metric) == "proportion":
        return f"{value * 100:.2f}%"
    return f"{value:,.2f}"


def _lift(metric: str, value: float, low: float, high: float) -> str:
    if bank.METRIC_KINDS.get(metric) == "proportion":
        return f"{value * 100:+.2f} pp [{low * 100:+.2f}, {high * 100:+.2f}]"
    return f"{value:+,.2f} [{low:+,.2f}, {high:+,.2f}]"


def _relative(lift: float | None, interval: tuple[float, float] | None, *, bare: bool = False) -> str:
    """A relative lift and its interval, or why there is none (a control value of 0)."""
    if interval is None or (lift is None and not bare):
        return "n/a (control is 0)"
    text = f"[{interval[0]:+.1%}, {interval[1]:+.1%}]"
    return text if bare else f"{lift:+.1%} {text}"


def metrics_table(result: experiments.ExperimentResult) -> pl.DataFrame:
    """One row per metric and treatment: means, lifts with intervals, p-values, Bayesian figures."""
    rows = []
    for readout in result.metrics:
        control = readout.arms[0]
        if readout.problem:
            rows.append({"Metric": experiments.METRIC_LABELS[readout.metric], "Note": readout.problem})
            continue
        for name, comparison in readout.comparisons.items():
            test = experiments.headline_test(comparison)
            bayes = experiments.headline_bayesian(comparison)
            treatment = next(a for a in readout.arms if a.name == name)
            # The values shown are those the lift is computed from: CUPED-adjusted means when CUPED ran.
            if comparison.cuped is not None:
                means = (comparison.cuped.control_mean, comparison.cuped.treatment_mean)
            elif readout.kind == "ratio":
                means = (control.sum / control.d_sum, treatment.sum / treatment.d_sum)
            else:
                means = (control.mean, treatment.mean)
            rows.append(
                {
                    "Metric": experiments.METRIC_LABELS[readout.metric],
                    "Role": readout.role,
                    "Treatment": name,
                    "Control": _value(readout.metric, means[0]),
                    "Treatment value": _value(readout.metric, means[1]),
                    "Lift [95% CI]": _lift(readout.metric, test.absolute_lift, *test.absolute_ci),
                    "Relative [95% CI]": _relative(test.relative_lift, test.relative_ci),
                    "p": f"{test.p_value:.3g}",
                    "p (adjusted)": f"{readout.adjusted_p[name]:.3g}",
                    "Chance to beat control": f"{bayes.chance_to_beat_control:.1%}",
                    "Expected loss": _value(readout.metric, bayes.expected_loss),
                    "CUPED variance cut": (
                        f"{comparison.cuped.variance_reduction:.0%}" if comparison.cuped is not None else "—"
                    ),
                    "Note": "guardrail worse" if readout.guardrail_breached.get(name) else "",
                }
            )
    return pl.DataFrame(rows)


def forest_figure(result: experiments.ExperimentResult) -> go.Figure:
    """Relative lift of every metric and treatment with its 95% interval."""
    labels, values, lows, highs, colors = [], [], [], [], []
    for readout in result.metrics:
        for name, comparison in readout.comparisons.items():
            test = experiments.headline_test(comparison)
            if test.relative_lift is None or test.relative_ci is None:
                continue  # no relative lift when the control's value is 0
            labels.append(f"{experiments.METRIC_LABELS[readout.metric]} · {name}")
            values.append(test.relative_lift * 100)
            lows.append(test.relative_ci[0] * 100)
            highs.append(test.relative_ci[1] * 100)
            colors.append(BAD_COLOR if readout.guardrail_breached.get(name) else TREATMENT_COLOR)
    figure = go.Figure(
        go.Scatter(
            x=values,
            y=labels,
            mode="markers",
            marker={"size": 10, "color": colors},
            error_x={
                "type": "data",
                "symmetric": False,
                "array": [h - v for h, v in zip(highs, values, strict=True)],
                "arrayminus": [v - lo for v, lo in zip(values, lows, strict=True)],
            },
            hovertemplate="%{y}: %{x:+.2f}%<extra></extra>",
        )
    )
    figure.add_vline(x=0, line_color="#616161", line_dash="dot")
    return _layout(
        figure,
        height=110 + 45 * len(labels),
        title="Relative lift with 95% intervals (CUPED-adjusted where shown)",
        xaxis_title="relative lift, %",
        yaxis={"autorange": "reversed"},
    )


def sequential_figure(series: pl.DataFrame, metric: str, treatment: str) -> go.Figure:
    """The lift over time with the always-valid band and the fixed-horizon interval."""
    part = series.filter(pl.col("treatment") == treatment)
    scale = 100 if bank.METRIC_KINDS[metric] == "proportion" else 1
    days = part["day"].to_list()
    figure = go.Figure()
    figure.add_trace(
        go.Scatter(
            x=days + days[::-1],
            y=[v * scale for v in part["high"].to_list()] + [v * scale for v in part["low"].to_list()[::-1]],
            fill="toself",
            fillcolor=BAND_COLOR,
            line={"width": 0},
            name="Always-valid 95% interval",
            hoverinfo="skip",
        )
    )
    for column, dash, name in (
        ("fixed_low", "dot", "Fixed-horizon 95% interval"),
        ("fixed_high", "dot", None),
    ):
        figure.add_trace(
            go.Scatter(
                x=days,
                y=[v * scale for v in part[column].to_list()],
                line={"color": CONTROL_COLOR, "dash": dash},
                name=name or "",
                showlegend=name is not None,
            )
        )
    figure.add_trace(
        go.Scatter(
            x=days,
            y=[v * scale for v in part["lift"].to_list()],
            line={"color": TREATMENT_COLOR},
            name="Lift",
        )
    )
    figure.add_hline(y=0, line_color="#616161")
    unit = "pp" if scale == 100 else experiments.METRIC_LABELS[metric]
    return _layout(
        figure,
        height=360,
        title="Sequential monitoring: safe to look every day",
        yaxis_title=f"lift ({unit})",
    )


def readout_section(path: str) -> None:
    """Experiment list, SRM banner, decision line, metrics, forest plot, Bayes, sequential, segments."""
    listing = resources.experiment_list(path)
    if listing.height == 0:
        st.info(MSG_NO_EXPERIMENTS)
        return
    st.dataframe(
        listing.select(
            pl.col("name").alias("Experiment"),
            pl.col("status").alias("Status"),
            pl.col("start_date").cast(pl.Date).alias("Start"),
            pl.col("end_date").cast(pl.Date).alias("End"),
            pl.col("primary_metric").alias("Primary metric"),
            pl.col("customers").alias("Customers"),
        ),
        hide_index=True,
    )
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
    table = metrics_table(result)
    st.dataframe(table, hide_index=True)
    st.caption(
        "p (adjusted): the primary metric and the guardrails keep their own p-value; the secondary"
        " metrics are Holm-adjusted among themselves. A guardrail is flagged when significantly worse."
    )
    breached = [m.metric for m in result.metrics if any(m.guardrail_breached.values())]
    if breached:
        st.warning(
            "Guardrail significantly worse: " + ", ".join(experiments.METRIC_LABELS[m] for m in breached)
        )
    components.csv_download(table, file_name=f"tailor_{exp.experiment_id}_readout.csv", key="ab_csv")
    st.plotly_chart(forest_figure(result), key="ab_forest")

    st.subheader("Bayesian view")
    primary = result.primary
    rows = []
    for name, comparison in primary.comparisons.items():
        b = experiments.headline_bayesian(comparison)
        rows.append(
            {
                "Treatment": name,
                "Method": b.method,
                "Chance to beat control": f"{b.chance_to_beat_control:.1%}",
                "Expected loss of shipping it": _value(primary.metric, b.expected_loss),
                "95% credible interval (relative)": _relative(None, b.relative_credible_interval, bare=True),
            }
        )
    if rows:
        st.dataframe(pl.DataFrame(rows), hide_index=True)
    st.caption(
        "Chance to beat control: the posterior probability that the treatment's true value is higher."
        " Expected loss: what shipping the treatment costs on average in the cases where it is worse."
    )

    st.subheader("Sequential monitoring")
    metric_options = [m.metric for m in result.metrics if not m.problem]
    metric = st.selectbox(
        "Metric", metric_options, format_func=experiments.METRIC_LABELS.get, key="ab_sequential_metric"
    )
    treatments = [v for v in exp.variants[1:] if v in result.counts]
    part = resources.experiment_sequence(path, experiment_id, metric, alpha) if metric else pl.DataFrame()
    if part.height == 0 or not treatments:
        st.info("Too few customers in the early days to draw the sequence.")
    else:
        st.plotly_chart(sequential_figure(part, metric, treatments[0]), key="ab_sequential")
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
    st.dataframe(
        segments.select(
            pl.col("group").alias("Group"),
            pl.col("treatment").alias("Treatment"),
            pl.col("control_n").alias("Control n"),
            pl.col("treatment_n").alias("Treatment n"),
            (pl.col("relative_lift") * 100).round(1).alias("Relative lift %"),
            pl.col("p_value").round(4).alias("p"),
            pl.col("p_adjusted").round(4).alias("p (BH)"),
            pl.col("note").fill_null("").alias("Note"),
        ),
        hide_index=True,
    )
    st.caption(
        f"{experiments.METRIC_LABELS[primary.metric]} by {(dimension or 'region').replace('_', ' ')},"
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
    frame = components.read_upload(upload)
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
    rows = []
    for arm in result.arms:
        variance = arm.variance if arm.n > 1 else None
        rows.append({"Arm": arm.name, "n": arm.n, "Mean": arm.mean, "Variance": variance})
    st.dataframe(pl.DataFrame(rows), hide_index=True)
    rows = []
    for name, comparison in result.comparisons.items():
        f, b = experiments.headline_test(comparison), experiments.headline_bayesian(comparison)
        rows.append(
            {
                "Treatment": name,
                "Test": f.test,
                "Lift": f.absolute_lift,
                "CI low": f.absolute_ci[0],
                "CI high": f.absolute_ci[1],
                "Relative lift": f.relative_lift,
                "p": f.p_value,
                "Chance to beat control": b.chance_to_beat_control,
                "Expected loss": b.expected_loss,
                "CUPED variance cut": comparison.cuped.variance_reduction if comparison.cuped else None,
            }
        )
    st.dataframe(pl.DataFrame(rows), hide_index=True)


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
