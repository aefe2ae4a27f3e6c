"""``abtest`` and ``power``: read out an A/B test (a file or the bank's), plan one's size.

The experiment modules are imported inside the commands: they pull in scipy.stats and
statsmodels, which would slow ``--help`` and every other command (see ``main``).
"""

from __future__ import annotations

import argparse
import dataclasses

from analytics.cli.common import CliError, emit, positive_int, read_table
from analytics.store.database import open_database


def _test_payload(f, *, scale: str) -> dict:
    # "p_value" is the p-value of the scale asked for, next to that scale's interval; both
    # scales' p-values are always there under their own names.
    sequential = None
    if f.sequential is not None:
        s = f.sequential
        sequential = {
            "tuning_n": s.tuning_n,
            "customers": s.customers,
            "absolute_ci": list(s.absolute_ci),
            "absolute_p_value": s.absolute_p_value,
            "relative_ci": None if s.relative_ci is None else list(s.relative_ci),
            "relative_p_value": s.relative_p_value,
            "p_value": s.relative_p_value if scale == "relative" else s.absolute_p_value,
        }
    return {
        "absolute_lift": f.absolute_lift,
        "absolute_ci": list(f.absolute_ci),
        "relative_lift": f.relative_lift,
        "relative_ci": None if f.relative_ci is None else list(f.relative_ci),
        "p_value": f.relative_p_value if scale == "relative" else f.p_value,
        "scale": scale,
        "absolute_p_value": f.p_value,
        "relative_p_value": f.relative_p_value,
        "standard_error": f.standard_error,
        "relative_standard_error": f.relative_standard_error,
        "interval_method": f.interval_method,
        "df": f.df,
        "sequential": sequential,
    }


def _comparison_payload(comparison, *, scale: str = "absolute") -> dict:
    f, b = comparison.frequentist, comparison.bayesian
    out = {
        "test": f.test,
        **_test_payload(f, scale=scale),
        "chance_to_beat_control": b.chance_to_beat_control,
        "expected_loss": b.expected_loss,
        "credible_interval": list(b.credible_interval),
        "cuped": None,
    }
    if comparison.cuped is not None:
        c = comparison.cuped
        out["cuped"] = {
            "theta": c.theta,
            "variance_reduction": c.variance_reduction,
            **_test_payload(c.frequentist, scale=scale),
            "relative_denominator": "control's unadjusted mean",
            "chance_to_beat_control": c.bayesian.chance_to_beat_control,
            "expected_loss": c.bayesian.expected_loss,
        }
    return out


def _ab_options(args: argparse.Namespace) -> dict:
    return {
        "interval_method": args.interval_method,
        "sequential": args.sequential,
        "tuning_n": args.tuning_n,
    }


def _arm_payload(arm) -> dict:
    # A ratio metric's arm value is total numerator over total denominator, not a mean per customer.
    mean = arm.sum / arm.d_sum if arm.d_sum else arm.mean
    return {"arm": arm.name, "n": arm.n, "mean": mean, "variance": arm.variance if arm.n > 1 else None}


def _srm_payload(srm) -> dict:
    return {"chi_square": srm.chi_square, "p_value": srm.p_value, "flagged": srm.flagged}


def _abtest_file(args: argparse.Namespace) -> dict:
    from analytics.experiments import external  # scipy and statsmodels: see the docstring

    if not (args.variant_col and args.control and args.metric):
        raise CliError("--input needs --variant-col, --control and --metric.")
    table = read_table(args.input)
    arms, kind = external.external_arms(
        table,
        variant_col=args.variant_col,
        control=args.control,
        metric=args.metric,
        covariate=args.covariate,
        summary=args.summary,
    )
    design = external.parse_design(args.design_split, len(arms))
    # A summary's covariate sums turn CUPED on by themselves; per-customer rows need --covariate.
    cuped = (args.summary or bool(args.covariate)) and not args.no_cuped
    result = external.read_out_external(
        arms, kind=kind, metric=args.metric, design=design, alpha=args.alpha, cuped=cuped, **_ab_options(args)
    )
    return {
        "metric": result.metric,
        "kind": result.kind,
        "scale": args.scale,
        "arms": [_arm_payload(a) for a in result.arms],
        "treatments": {
            name: _comparison_payload(c, scale=args.scale) for name, c in result.comparisons.items()
        },
        "srm": _srm_payload(result.srm),
        "decision": result.decision,
    }


def _abtest_bank(args: argparse.Namespace) -> dict:
    from analytics.experiments import bank, readout  # scipy and statsmodels: see the docstring

    db = open_database(args.db, read_only=True)
    try:
        backend = db.backend()
        if not args.experiment:
            return {"experiments": bank.list_experiments(backend)}
        result = readout.read_out(
            backend,
            args.experiment,
            snapshot=db.snapshot_date(),
            alpha=args.alpha,
            cuped=not args.no_cuped,
            **_ab_options(args),
        )
    finally:
        db.close()
    return {
        "experiment_id": result.experiment.experiment_id,
        "window": [result.experiment.start_date, result.experiment.window_end],
        "arm_counts": result.counts,
        "scale": args.scale,
        "srm": _srm_payload(result.srm),
        "metrics": [
            {
                "metric": m.metric,
                "kind": m.kind,
                "role": m.role,
                "arms": [_arm_payload(a) for a in m.arms],
                "treatments": {
                    name: _comparison_payload(c, scale=args.scale) for name, c in m.comparisons.items()
                },
                "holm_p_value": m.adjusted_p,
                "guardrail_breached": m.guardrail_breached,
                "problem": m.problem,
            }
            for m in result.metrics
        ],
        "decision": result.decision,
    }


def cmd_abtest(args: argparse.Namespace) -> int:
    """Read out an experiment: an uploaded file (--input) or one of the bank's (--experiment)."""
    try:
        payload = _abtest_file(args) if args.input else _abtest_bank(args)
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    emit(payload, as_json=args.json, text=lambda: _abtest_text(payload))
    return 0


def _abtest_text(payload: dict) -> str:
    if "experiments" in payload:
        return "\n".join(
            f"{r['experiment_id']:<28} {r['status']:<10} {r['customers']:>8,} customers  {r['name']}"
            for r in payload["experiments"].iter_rows(named=True)
        )
    srm = payload["srm"]
    lines = [payload["decision"], f"SRM chi-square {srm['chi_square']:.3f}, p = {srm['p_value']:.3g}"]
    for block in payload.get("metrics") or [payload]:
        lines.append(f"{block['metric']} ({block['kind']}):")
        lines += [
            f"  {a['arm']:<14} n={a['n']:>9,}  mean={a['mean']:.6g}"
            + ("" if a["variance"] is None else f"  variance={a['variance']:.6g}")
            for a in block["arms"]
        ]
        for name, t in block["treatments"].items():
            low, high = t["absolute_ci"]
            lines.append(
                f"  {name}: lift {t['absolute_lift']:+.6g} [{low:.6g}, {high:.6g}],"
                f" relative {_relative_text(t['relative_lift'], t['relative_ci'])},"
                f" {_p_text(t['p_value'], t['scale'])} ({t['interval_method']}),"
                f" chance to beat control {t['chance_to_beat_control']:.1%}"
            )
            if t["sequential"]:
                lines.append(_sequential_text(t["sequential"], t["scale"]))
            if t["cuped"]:
                cuped = t["cuped"]
                lines.append(
                    f"    CUPED: variance -{cuped['variance_reduction']:.1%},"
                    f" relative {_relative_text(cuped['relative_lift'], cuped['relative_ci'])},"
                    f" {_p_text(cuped['p_value'], cuped['scale'])}"
                )
                if cuped["sequential"]:
                    lines.append("  " + _sequential_text(cuped["sequential"], cuped["scale"]))
    return "\n".join(lines)


def _relative_text(lift: float | None, interval: list[float] | None) -> str:
    if lift is None or interval is None:
        return "n/a"
    return f"{lift:+.2%} [{interval[0]:+.2%}, {interval[1]:+.2%}]"


def _p_text(p_value: float | None, scale: str) -> str:
    label = "p (relative)" if scale == "relative" else "p"
    return f"{label} = n/a" if p_value is None else f"{label} = {p_value:.3g}"


def _sequential_text(sequential: dict, scale: str) -> str:
    if scale == "relative" and sequential["relative_ci"] is not None:
        low, high = sequential["relative_ci"]
        interval = f"relative [{low:+.2%}, {high:+.2%}]"
    else:
        low, high = sequential["absolute_ci"]
        interval = f"[{low:.6g}, {high:.6g}]"
    return (
        f"    always-valid (tuning {sequential['tuning_n']:,}): {interval},"
        f" {_p_text(sequential['p_value'], scale)}"
    )


def cmd_power(args: argparse.Namespace) -> int:
    """Sample size per arm (and runtime) for a minimum detectable effect, or the effect a size detects."""
    from analytics.experiments import power  # scipy and statsmodels: see the docstring

    common = {
        "baseline": args.baseline,
        "kind": args.kind,
        "sd": args.sd,
        "alpha": args.alpha,
        "power": args.power,
        "sides": args.sides,
        "relative": not args.absolute,
    }
    try:
        if args.per_arm:
            mde = power.minimum_detectable_effect(per_arm=args.per_arm, **common)
            payload = {"per_arm": args.per_arm, "minimum_detectable_effect": mde} | common
            scale = "an absolute" if args.absolute else "a relative"
            text = f"{args.per_arm:,} per arm detect {scale} effect of {mde:.4g}"
        else:
            if args.mde is None:
                raise CliError("Give --mde (the effect to detect) or --per-arm (the effect a size detects).")
            size = power.sample_size(mde=args.mde, daily_traffic=args.daily_traffic, **common)
            payload = dataclasses.asdict(size)
            text = f"{size.per_arm:,} per arm, {size.total:,} in total" + (
                f", {size.days} days at {args.daily_traffic:,.0f} a day" if size.days else ""
            )
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    emit(payload, as_json=args.json, text=lambda: text)
    return 0


def add_parsers(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``abtest`` and ``power`` to the command parser."""
    ab_cmd = sub.add_parser(
        "abtest", parents=[common], help="read out an A/B test: a file (--input) or the bank's (--experiment)"
    )
    ab_cmd.add_argument("--input", help="CSV or Parquet: one row per customer, or per arm with --summary")
    ab_cmd.add_argument("--variant-col", help="the column naming each row's arm")
    ab_cmd.add_argument("--control", help="the control arm's name")
    ab_cmd.add_argument("--metric", help="the metric column (with --summary: its name only)")
    ab_cmd.add_argument("--covariate", help="pre-period value of the metric, for CUPED")
    ab_cmd.add_argument(
        "--summary",
        action="store_true",
        help="rows are per-arm sums: n, sum, sum_sq; optionally x_sum, x_sum_sq, xy_sum (CUPED) or d_sum,"
        " d_sum_sq, yd_sum (ratio); GrowthBook's names too (docs/experiments.md)",
    )
    ab_cmd.add_argument("--design-split", help="planned shares, control first, e.g. 50,50 (default: equal)")
    ab_cmd.add_argument("--experiment", help="bank: the experiment id (without it: list the experiments)")
    ab_cmd.add_argument(
        "--no-cuped",
        action="store_true",
        help="do not adjust for the pre-period (bank, or a summary's covariate)",
    )
    ab_cmd.add_argument("--alpha", type=float, default=0.05, help="significance level (default 0.05)")
    ab_cmd.add_argument(
        "--scale",
        choices=["absolute", "relative"],
        default="absolute",
        help="the p-value reported as p_value: of the absolute lift (default) or the relative one",
    )
    ab_cmd.add_argument(
        "--interval-method",
        choices=["z", "welch-t"],  # frequentist.INTERVAL_METHODS, not imported at start-up
        default="z",
        help="proportions and ratios: normal (default) or Welch's t as GrowthBook; means always Welch's t",
    )
    ab_cmd.add_argument(
        "--sequential", action="store_true", help="also the always-valid intervals and p-values"
    )
    ab_cmd.add_argument(
        "--tuning-n",
        type=positive_int,
        default=5000,
        help="customers (both arms) where the always-valid interval is tightest (default 5000)",
    )
    ab_cmd.set_defaults(func=cmd_abtest)

    power_cmd = sub.add_parser(
        "power", parents=[common], help="sample size and runtime, or the detectable effect"
    )
    power_cmd.add_argument(
        "--baseline", type=float, required=True, help="control's rate (proportion) or mean"
    )
    power_cmd.add_argument("--mde", type=float, help="minimum detectable effect (relative by default)")
    power_cmd.add_argument(
        "--per-arm", type=positive_int, help="customers per arm: prints the detectable effect"
    )
    power_cmd.add_argument(
        "--absolute", action="store_true", help="--mde / the result is absolute, not relative"
    )
    power_cmd.add_argument("--kind", choices=["proportion", "mean"], default="proportion", help="metric kind")
    power_cmd.add_argument("--sd", type=float, help="standard deviation of a mean metric")
    power_cmd.add_argument("--alpha", type=float, default=0.05, help="significance level (default 0.05)")
    power_cmd.add_argument("--power", type=float, default=0.8, help="power (default 0.8)")
    power_cmd.add_argument("--sides", type=int, choices=[1, 2], default=2, help="one- or two-sided test")
    power_cmd.add_argument(
        "--daily-traffic", type=float, help="customers entering per day, both arms: runtime"
    )
    power_cmd.set_defaults(func=cmd_power)
