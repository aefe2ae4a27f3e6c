"""Display tables of the pages: library frames turned into the strings a reader sees.

Formatting runs on plain Python lists after the frame is built, never as a Python callback
inside a polars expression (``map_elements`` and friends): such a callback runs on polars'
thread pool and needs the GIL, and another session's ``st.dataframe`` (``to_pandas``) holds
the GIL while it waits on the same pool, which froze the whole server (issue 12). ``make lint``
and ``tests/unit/test_polars_callbacks.py`` keep callbacks out.
"""

from __future__ import annotations

import polars as pl

from analytics.common.formatting import format_change, format_value
from analytics.kpis.definitions import KPI_LABELS, KPI_UNITS
from app.components import PRODUCT_LABELS

DIMENSION_LABELS = {"region": "Region", "age_band": "Age band", "product": "Product held"}
SIGNIFICANT_WORDS = {True: "yes", False: "no"}


def movers_table(movers: pl.DataFrame) -> pl.DataFrame:
    """The executive summary's "Biggest movers" as shown: labels and values in each KPI's unit."""
    kpis = movers.get_column("kpi").to_list()
    units = [KPI_UNITS[k] for k in kpis]

    def formatted(column: str, formatter) -> list[str | None]:
        return [formatter(v, u) for v, u in zip(movers.get_column(column).to_list(), units, strict=True)]

    values = movers.get_column("value").to_list()
    return pl.DataFrame(
        {
            "KPI": [KPI_LABELS.get(k, k) for k in kpis],
            "By": [DIMENSION_LABELS.get(d, d) for d in movers.get_column("dimension").to_list()],
            "Group": [PRODUCT_LABELS.get(v, v) for v in values],
            "Previous": formatted("previous", format_value),
            "Current": formatted("current", format_value),
            "Change": formatted("change", format_change),
            "Significant": [
                SIGNIFICANT_WORDS.get(s, "n/a") for s in movers.get_column("significant").to_list()
            ],
        },
        schema={c: pl.String for c in ("KPI", "By", "Group", "Previous", "Current", "Change", "Significant")},
    )
