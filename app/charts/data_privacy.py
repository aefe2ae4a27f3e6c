"""The Data & privacy page's figures and display tables.

Each function takes a result of ``analytics.privacy`` / ``analytics.quality`` and returns a
Plotly figure or a table as shown; nothing here counts, reads data or draws on the page.
"""

from __future__ import annotations

import plotly.graph_objects as go
import polars as pl

from analytics.privacy.coverage import PURPOSE_LABELS

PURPOSE_COLORS = {"marketing": "#0F4C81", "profiling": "#5E8C31"}
GROUP_LABELS = {"region": "Region", "age_band": "Age band", "preferred_channel": "Preferred channel"}
_MARGIN = {"l": 10, "r": 10, "t": 40, "b": 10}


def coverage_table(overall: pl.DataFrame) -> pl.DataFrame:
    """Overall coverage as shown: purpose in words, counts, share in percent."""
    return overall.select(
        pl.col("purpose").replace_strict(PURPOSE_LABELS, return_dtype=pl.String).alias("Purpose"),
        pl.col("customers").alias("Current customers"),
        pl.col("consenting").alias("Consenting"),
        (pl.col("share") * 100).round(1).alias("Share (%)"),
    )


def coverage_by_group(frame: pl.DataFrame, by: str) -> go.Figure:
    """Grouped bars: the share consenting to each purpose in each group."""
    fig = go.Figure()
    for purpose, color in PURPOSE_COLORS.items():
        rows = frame.filter(pl.col("purpose") == purpose)
        fig.add_bar(
            x=rows.get_column(by).to_list(),
            y=(rows.get_column("share") * 100).to_list(),
            name=purpose.capitalize(),
            marker_color=color,
            customdata=rows.select("consenting", "customers").rows(),
            hovertemplate="%{x}: %{y:.1f}% (%{customdata[0]:,} of %{customdata[1]:,})<extra>"
            + purpose
            + "</extra>",
        )
    fig.update_layout(
        barmode="group",
        title=f"Share consenting by {GROUP_LABELS.get(by, by).lower()}",
        yaxis={"title": "% of current customers", "range": [0, 100]},
        margin=_MARGIN,
        height=360,
        legend={"orientation": "h", "y": -0.15},
    )
    return fig


def consent_over_time(frame: pl.DataFrame) -> go.Figure:
    """Lines: the share of current customers consenting to each purpose at each month end."""
    fig = go.Figure()
    for purpose, color in PURPOSE_COLORS.items():
        rows = frame.filter(pl.col("purpose") == purpose).sort("month_end")
        fig.add_scatter(
            x=rows.get_column("month_end").to_list(),
            y=(rows.get_column("share") * 100).to_list(),
            mode="lines+markers",
            name=purpose.capitalize(),
            line={"color": color},
            customdata=rows.select("consenting", "customers").rows(),
            hovertemplate="%{x}: %{y:.1f}% (%{customdata[0]:,} of %{customdata[1]:,})<extra>"
            + purpose
            + "</extra>",
        )
    fig.update_layout(
        title="Share consenting at each month end (from the consent history)",
        yaxis={"title": "% of current customers"},
        margin=_MARGIN,
        height=340,
        legend={"orientation": "h", "y": -0.2},
    )
    return fig


STATUS_WORDS = {"pass": "Pass", "warn": "Warn", "fail": "Fail"}


def overview_table(overview: pl.DataFrame) -> pl.DataFrame:
    """One row per table as shown: kind, rows, freshness column, newest value and lag in days."""
    return overview.select(
        pl.col("table").alias("Table"),
        pl.col("kind").alias("Kind"),
        pl.col("rows").alias("Rows"),
        pl.col("freshness_column").alias("Freshness column"),
        pl.col("newest").cast(pl.String).alias("Newest"),
        pl.col("lag_days").alias("Days before the snapshot"),
        pl.col("description").alias("Description"),
    )


def dictionary_table(dictionary: pl.DataFrame) -> pl.DataFrame:
    """Every column as shown: table, column, type, key, personal data, nullable, meaning."""
    return dictionary.select(
        pl.col("table").alias("Table"),
        pl.col("column").alias("Column"),
        pl.col("sql_type").alias("Type"),
        pl.col("primary_key").alias("Key"),
        pl.col("personal").alias("Personal data"),
        pl.col("nullable").alias("May be empty"),
        pl.col("description").alias("Meaning"),
    )


def problems_only(checks: pl.DataFrame) -> pl.DataFrame:
    """The checks that fail or warn, failures first."""
    return checks.filter(pl.col("status") != "pass").sort(
        pl.col("status").replace_strict({"fail": 0, "warn": 1}, return_dtype=pl.Int8)
    )


def checks_table(checks: pl.DataFrame) -> pl.DataFrame:
    """Checks as shown: status in words, what was checked, failing rows, examples and the rule."""
    return checks.select(
        pl.col("status").replace_strict(STATUS_WORDS, return_dtype=pl.String).alias("Status"),
        pl.col("name").alias("Check"),
        pl.col("table").alias("Table"),
        pl.col("column").alias("Column"),
        pl.col("failing_rows").alias("Failing rows"),
        pl.col("examples").alias("Examples"),
        pl.col("explanation").alias("Rule and finding"),
    )


def audit_table(rows: pl.DataFrame) -> pl.DataFrame:
    """Audit rows as shown, newest first: time, who, role, what, on what, details."""
    return rows.select(
        pl.col("event_id").alias("Event"),
        pl.col("ts").alias("Time (UTC)"),
        pl.col("username").alias("Who"),
        pl.col("role").alias("Role"),
        pl.col("action").alias("What"),
        pl.col("target").alias("On"),
        pl.col("details").alias("Details"),
    )


def problems_table(problems: pl.DataFrame) -> pl.DataFrame:
    """An import's problems as shown: file, row, column, value, what is wrong."""
    return problems.select(
        pl.col("file").alias("File"),
        pl.col("row").alias("Row"),
        pl.col("column").alias("Column"),
        pl.col("value").alias("Value"),
        pl.col("message").alias("Problem"),
    )


def erasure_table(rows_deleted: dict[str, int]) -> pl.DataFrame:
    """Rows deleted per table, the tables that held the customer first."""
    return pl.DataFrame(
        {"Table": list(rows_deleted), "Rows deleted": list(rows_deleted.values())},
        schema={"Table": pl.String, "Rows deleted": pl.Int64},
    ).sort("Rows deleted", descending=True)
