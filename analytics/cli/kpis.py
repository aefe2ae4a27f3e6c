"""``kpis``, ``nps``, ``engagement``, ``retention``: the KPI page's numbers for a period and slices.

The NPS, engagement and retention computations are imported inside their commands: they pull in
scipy.stats and statsmodels (NPS, engagement) or numpy (retention, a seventh of the start), which
``--help`` and every other command would pay (see ``main``).
"""

from __future__ import annotations

import argparse
from typing import Any

from analytics.cli.common import CliError, emit, parse_month
from analytics.common.formatting import format_change, format_interval, format_value
from analytics.common.types import AGE_BANDS, PRODUCT_IDS, REGIONS, KpiFilters
from analytics.kpis.cubes import available_months, default_filters
from analytics.kpis.summary import compute_executive_summary
from analytics.store.database import open_database

MSG_OUTSIDE_DATA = "--start/--end must lie within the full months of data: {first:%Y-%m} to {last:%Y-%m}."


def period_filters(backend: Any, args: argparse.Namespace) -> KpiFilters:
    """The period and slices of --start/--end/--region/--age-band/--product, checked against the data."""
    months = available_months(backend)
    default = default_filters(backend)
    start = parse_month(args.start, "--start") or default.start_month
    end = parse_month(args.end, "--end") or default.end_month
    last_full = default_filters(backend, months=1).end_month
    if months and (start < months[0] or end > last_full):
        # A period partly outside the data would count empty months as real ones.
        raise CliError(MSG_OUTSIDE_DATA.format(first=months[0], last=last_full))
    if start > end:
        raise CliError(f"--start ({start:%Y-%m}) is after --end ({end:%Y-%m}).")
    return KpiFilters(
        start_month=start,
        end_month=end,
        regions=tuple(args.region or ()),
        age_bands=tuple(args.age_band or ()),
        products=tuple(args.product or ()),
    )


# -- kpis -------------------------------------------------------------------------------
def cmd_kpis(args: argparse.Namespace) -> int:
    """Print the executive KPIs (the numbers on the executive summary page)."""
    db = open_database(args.db, read_only=True)
    try:
        backend = db.backend()
        summary = compute_executive_summary(backend, period_filters(backend, args))
    finally:
        db.close()
    emit(summary, as_json=args.json, text=lambda: _kpi_text(summary))
    return 0


def _kpi_text(summary: Any) -> str:
    f = summary.filters
    lines = [f"KPIs {f.start_month:%Y-%m} to {f.end_month:%Y-%m}, {summary.customers_matched:,} customers"]
    for tile in summary.tiles:
        change = format_change(tile.change, tile.unit)
        interval = format_interval(tile.ci_low, tile.ci_high, tile.unit)
        extras = "  ".join(x for x in (f"95% CI {interval}" if interval else "", change or "") if x)
        lines.append(f"  {tile.label:<32} {format_value(tile.value, tile.unit):>10}  {extras}".rstrip())
    return "\n".join(lines)


# -- nps --------------------------------------------------------------------------------
def cmd_nps(args: argparse.Namespace) -> int:
    """Print the NPS drill-down (the NPS section of the KPIs page)."""
    from analytics.kpis import nps, rfm  # scipy.stats and statsmodels: see the docstring

    db = open_database(args.db, read_only=True)
    try:
        backend = db.backend()
        filters = period_filters(backend, args)
        segments = rfm.rfm_segments(rfm.compute_rfm(backend, filters))
        drill = nps.compute_nps_drilldown(backend, filters, dimensions=nps.NPS_DIMENSIONS, segments=segments)
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    finally:
        db.close()
    emit(drill, as_json=args.json, text=lambda: _nps_text(drill))
    return 0


def _nps_text(drill: Any) -> str:
    f, c = drill.filters, drill.change
    lines = [
        f"NPS {f.start_month:%Y-%m} to {f.end_month:%Y-%m}: {format_value(drill.current.nps, 'score')}"
        f" (95% CI {format_interval(drill.current.ci_low, drill.current.ci_high, 'score')},"
        f" {drill.current.answers:,} answers)"
    ]
    if c.difference is not None:
        verdict = "significant" if c.significant else "within noise"
        lines.append(f"  change vs {c.label_b}: {c.difference:+.1f} points, p = {c.p_value:.3g} ({verdict})")
    for dimension, table in drill.breakdowns.items():
        lines.append(f"  by {dimension}:")
        for row in table.iter_rows(named=True):
            flag = "  (too few answers)" if row["small"] else ""
            lines.append(
                f"    {row['group']:<24} {format_value(row['nps'], 'score'):>8}  n={row['answers']:,}{flag}"
            )
    return "\n".join(lines)


# -- engagement -------------------------------------------------------------------------
def cmd_engagement(args: argparse.Namespace) -> int:
    """Print the engagement analysis and the RFM groups (the Engagement & RFM section)."""
    from analytics.kpis import engagement, rfm  # scipy.stats: see the docstring

    db = open_database(args.db, read_only=True)
    try:
        backend = db.backend()
        filters = period_filters(backend, args)
        groups = rfm.compute_rfm(backend, filters)
        analysis = engagement.compute_engagement_analysis(backend, filters, rfm=groups)
        payload = {"analysis": analysis, "rfm_groups": rfm.summarize_rfm_groups(groups)}
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    finally:
        db.close()
    emit(payload, as_json=args.json, text=lambda: _engagement_text(payload))
    return 0


def _engagement_text(payload: dict) -> str:
    drivers = payload["analysis"].drivers
    lines = [f"Engagement score {format_value(drivers.score, 'score')}"]
    if drivers.change is not None:
        interval = (
            "no interval: too few customers"
            if drivers.ci_low is None
            else f"95% CI {drivers.ci_low:+.2f} to {drivers.ci_high:+.2f}"
        )
        lines[0] += f", change {drivers.change:+.2f} ({interval})"
    for row in drivers.components.iter_rows(named=True):
        lines.append(f"  {row['label']:<20} {row['points']:6.2f} points")
    lines.append("RFM groups:")
    for row in payload["rfm_groups"].iter_rows(named=True):
        lines.append(f"  {row['rfm_group']:<20} {row['customers']:>8,}")
    return "\n".join(lines)


# -- retention --------------------------------------------------------------------------
def cmd_retention(args: argparse.Namespace) -> int:
    """Print the retention section: cohort cells, monthly retention and churn, survival by group."""
    from analytics.kpis import retention, survival  # numpy: see the docstring

    db = open_database(args.db, read_only=True)
    try:
        backend = db.backend()
        filters = period_filters(backend, args)
        matrix = retention.compute_cohort_matrix(
            backend, end_month=filters.end_month, regions=filters.regions, age_bands=filters.age_bands
        )
        series = retention.compute_retention_series(backend, filters)
        curves = survival.compute_survival(
            backend, by=args.by, regions=filters.regions, age_bands=filters.age_bands
        )
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    finally:
        db.close()
    payload = {
        "cohorts": matrix,
        "series": series,
        # The curves can run to hundreds of rows per group: the groups, landmarks and test are
        # what the page's table shows; --curves adds the step points.
        "survival": {
            "by": curves.by,
            "subject": curves.subject,
            "time_unit": curves.time_unit,
            "groups": curves.groups,
            "landmarks": curves.landmarks,
            "log_rank": curves.log_rank,
            "excluded_before_history": curves.excluded_before_history,
            **({"curves": curves.curves} if args.curves else {}),
        },
    }
    emit(payload, as_json=args.json, text=lambda: _retention_text(payload))
    return 0


def _retention_text(payload: dict) -> str:
    series = payload["series"].series
    lines = ["month      retention  churn"]
    for row in series.iter_rows(named=True):
        lines.append(
            f"{row['month']:%Y-%m}    {format_value(row['retention_rate'], 'pct'):>8}  "
            f"{format_value(row['churn_rate'], 'pct'):>6}"
        )
    survival = payload["survival"]
    lines.append(f"survival by {survival['by']}:")
    for row in survival["groups"].iter_rows(named=True):
        lines.append(f"  {row['group']:<20} subjects {row['subjects']:>8,}  median {row['median']}")
    if survival["log_rank"] is not None:
        lines.append(f"  log-rank p = {survival['log_rank'].p_value:.3g}")
    return "\n".join(lines)


# -- parsers ----------------------------------------------------------------------------
def add_parsers(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``kpis``, ``nps``, ``engagement`` and ``retention``, each with the sidebar's filters."""
    # The sidebar filters of the pages, for every command that reads a period.
    period = argparse.ArgumentParser(add_help=False)
    period.add_argument("--start", help="first month YYYY-MM (default: three months before the last)")
    period.add_argument("--end", help="last month YYYY-MM (default: the last full month)")
    period.add_argument("--region", action="append", choices=REGIONS, help="keep a region (repeatable)")
    period.add_argument(
        "--age-band", action="append", choices=AGE_BANDS, help="keep an age band (repeatable)"
    )
    period.add_argument("--product", action="append", choices=PRODUCT_IDS, help="keep holders of a product")

    kpi = sub.add_parser("kpis", parents=[common, period], help="the executive KPIs, with the page's filters")
    kpi.set_defaults(func=cmd_kpis)

    nps_cmd = sub.add_parser(
        "nps", parents=[common, period], help="NPS drill-down: by month and group, with intervals and tests"
    )
    nps_cmd.set_defaults(func=cmd_nps)

    engagement_cmd = sub.add_parser(
        "engagement", parents=[common, period], help="engagement distribution, drivers, movement; RFM groups"
    )
    engagement_cmd.set_defaults(func=cmd_engagement)

    retention_cmd = sub.add_parser(
        "retention", parents=[common, period], help="cohorts, monthly retention and churn, survival curves"
    )
    retention_cmd.add_argument(
        "--by",
        default="none",
        choices=["none", "region", "age_band", "gender", "preferred_channel", "first_product", "product"],
        help="survival curves by this group (product: holdings from opening to closing)",
    )
    retention_cmd.add_argument(
        "--curves", action="store_true", help="include every step of the survival curves"
    )
    retention_cmd.set_defaults(func=cmd_retention)
