"""The "Your own table" section of the Segments page: segment an uploaded customer table.

Widgets only: ``analytics.segments.features.prepare_feature_frame`` (each column's scaling chosen
from its distribution, shown as a table), ``features.override_scaling`` (the user's choice) and
``analytics.segments.clustering.segment_and_profile`` do the work; ``app.charts.segments`` lays out
the scaling and profiles tables; nothing is stored.
"""

from __future__ import annotations

import streamlit as st

from analytics.common.formatting import escape_markdown
from analytics.segments import clustering as seg
from analytics.segments import features as feats
from app import components
from app.charts import segments as charts
from app.segment_widgets import ALGORITHMS, evidence_charts, method_inputs, metrics

# Clustering and the evidence for k run on the page while the person waits, so the table is bounded.
MAX_UPLOAD_ROWS = 500_000
MSG_TOO_MANY_ROWS = (
    "The page segments at most that many: use `python -m analytics segments --input` for more."
)
AUTOMATIC = "auto"
"""The scaling choice that keeps the automatic one (``choose_scaling``'s)."""


def _scaling_overrides(prepared: feats.FeatureFrame) -> dict[str, str]:
    """One choice per column (automatic by default); the columns the user changed."""
    automatic = dict(
        zip(prepared.scaling.get_column("column"), prepared.scaling.get_column("scaling"), strict=True)
    )
    chosen = {}
    with st.expander("Change the scaling of a column"):
        columns = st.columns(3)
        for i, name in enumerate(prepared.features):
            choice = columns[i % 3].selectbox(
                name,
                [AUTOMATIC, *feats.SCALINGS],
                format_func=lambda c, name=name: f"automatic ({automatic[name]})" if c == AUTOMATIC else c,
                key=f"segment_upload_scaling_{name}",
            )
            if choice != AUTOMATIC:
                chosen[name] = choice
    return chosen


def upload_section() -> None:
    """Segment an uploaded customer table, each column's scaling shown and open to change."""
    st.caption(
        "One row per customer, the id in a column named customer_id or id; every other numeric column is a"
        " feature (text, constant and empty columns are left out with a note). Each column's scaling is"
        " chosen from its distribution: log for non-negative, strongly right-skewed columns such as spend"
        " (docs/segments.md). Nothing is stored: the assignment is for download. The same as"
        " `python -m analytics segments --input FILE [--scaling col=log,…] --json`."
    )
    upload = st.file_uploader(
        "Customer table (CSV or Parquet)", type=["csv", "parquet"], key="segment_upload"
    )
    if upload is None:
        return
    table = components.read_upload(upload, max_rows=MAX_UPLOAD_ROWS, too_many=MSG_TOO_MANY_ROWS)
    if table is None:
        return
    try:
        prepared = feats.prepare_feature_frame(table)
    except ValueError as exc:
        st.error(str(exc))
        return
    st.caption(
        f"{escape_markdown(upload.name)}: {prepared.n_customers:,} customers,"
        f" {len(prepared.features)} feature columns."
    )
    for notice in prepared.notices:
        st.warning(notice)
    st.markdown("**How each column is scaled**")
    table_slot = st.container()
    overrides = _scaling_overrides(prepared)
    try:
        chosen = feats.override_scaling(prepared, overrides)
    except ValueError as exc:
        st.error(str(exc))
        return
    table_slot.dataframe(charts.scaling_view(chosen.scaling), hide_index=True)
    algorithm, k = method_inputs(*st.columns(2), keys=("segment_upload_algorithm", "segment_upload_k"))
    if not st.button("Segment the table", key="segment_upload_run", type="primary"):
        return
    with st.status("Segmenting the table…", expanded=False) as status:
        try:
            result, profiles = seg.segment_and_profile(
                chosen, algorithm=algorithm, k=k, progress=status.write
            )
        except ValueError as exc:
            status.update(label="The segmentation was refused", state="error")
            st.error(str(exc))
            return
        status.update(label=f"{ALGORITHMS[algorithm]}: {result.k} segments", state="complete")
    for warning in result.warnings:
        st.warning(warning)
    metrics(result, bic=False)
    if result.evidence is not None:
        evidence_charts(result.evidence, result.k)
    names = dict(zip(profiles.get_column("segment"), profiles.get_column("suggested_name"), strict=True))
    st.dataframe(charts.profiles_view(profiles, names), hide_index=True)
    stem = upload.name.rsplit(".", 1)[0]
    components.csv_download(
        result.assignment.rename({"customer_id": chosen.id_column}),
        file_name=f"{stem}_segments.csv",
        key="segment_upload_csv",
        label="Download the assignment",
    )
