"""Segments: which groups of customers should we personalize for, and how do they differ?

Through ``app.resources``: ``analytics.segments.features.load_features`` (consented customers'
``customer_features``), ``analytics.segments.clustering.segment_and_profile`` (scaling, evidence
for k, clustering, profiles) and ``segment_kpis``, ``analytics.segments.projections`` and ``maps``
for the map (PCA at once, UMAP fitted on request and stored), ``analytics.segments.map_selection``
for its lasso, and ``analytics.segments.store`` to save a segment and export its members. "Your
own table" segments an upload (``app.segment_upload``: ``features.prepare_feature_frame``, each
column's scaling chosen from its distribution and open to change, then ``segment_and_profile``).
Figures and display tables: ``app.charts.segments``; the pickers and metrics both flows share:
``app.segment_widgets``.
"""

from __future__ import annotations

from dataclasses import replace

import polars as pl
import streamlit as st

from analytics.access.privacy import sees_raw_personal_data
from analytics.common.formatting import escape_markdown
from analytics.segments import clustering as seg
from analytics.segments import features as feats
from analytics.segments import map_selection
from analytics.segments import store as segment_store
from app import components, resources, state
from app.charts import segments as charts
from app.segment_upload import upload_section
from app.segment_widgets import ALGORITHMS, evidence_charts, method_inputs, metrics

MSG_NO_FEATURES = "The database has no customer features yet. Rebuild it with `make data`, then reload."
SOURCES = {"bank": "The bank's customers", "upload": "Your own table"}


def _save(user, *, name: str, customer_ids, source: str, parameters: dict) -> None:
    try:
        saved = resources.save_segment(
            path, user, name=name, customer_ids=customer_ids, source=source, parameters=parameters
        )
    except ValueError as exc:
        st.error(str(exc))
        return
    for warning in saved.warnings:
        st.warning(warning)
    st.success(
        f"Saved “{escape_markdown(saved.name)}” (version {saved.version}, {saved.customers:,} customers). "
        "Pick it under Saved segment in the sidebar of the executive and KPI pages."
    )


# -- page ---------------------------------------------------------------------------------
user = components.require_access("segments")
for key in (
    state.SEGMENT_SOURCE,
    state.SEGMENT_FEATURE_SET,
    state.SEGMENT_ALGORITHM,
    state.SEGMENT_K,
    state.SEGMENT_MAP_METHOD,
    state.SEGMENT_MAP_COLOR,
):
    st.session_state.setdefault(key, state.DEFAULTS[key])
path = resources.database_path()
st.title("Segments")
source = st.segmented_control(
    "Customers", list(SOURCES), format_func=SOURCES.get, key=state.SEGMENT_SOURCE, required=True
)
if source == "upload":
    upload_section()
    st.stop()

with st.form("segmentation"):
    left, middle, right = st.columns([1.3, 1.2, 1])
    feature_set = left.selectbox(
        "Feature set", list(feats.FEATURE_SETS), key=state.SEGMENT_FEATURE_SET, help="docs/segments.md"
    )
    algorithm, k = method_inputs(middle, right, keys=(state.SEGMENT_ALGORITHM, state.SEGMENT_K))
    st.form_submit_button("Run segmentation", type="primary")

try:
    frame = resources.feature_frame(path, feature_set)
except ValueError as exc:
    st.error(str(exc))
    st.stop()
if frame.n_customers == 0:
    st.info(MSG_NO_FEATURES)
    st.stop()
with st.status("Segmenting customers…", expanded=False) as status:
    try:
        result, profiles = resources.segmentation(path, feature_set, algorithm, k)
    except ValueError as exc:
        status.update(label="The segmentation was refused", state="error")
        st.error(str(exc))
        st.stop()
    status.update(label=f"{ALGORITHMS[algorithm]}: {result.k} segments", state="complete")

st.caption(
    f"{frame.n_customers:,} customers on the snapshot date with profiling consent, from the features "
    f"{', '.join(charts.feature_label(f) for f in result.features)}. "
    f"**{result.excluded_no_consent:,} customers without profiling consent are left out** of the "
    "segmentation, the map and every export."
)
for warning in result.warnings:
    st.warning(warning)
metrics(result, bic=True)

if result.evidence is not None:
    st.subheader("Evidence for the number of segments")
    evidence_charts(result.evidence, result.k)
    st.caption(
        "Silhouette on a 3,000-customer sample; stability is the mean adjusted Rand index between refits on "
        "bootstrap samples. The suggested k (dotted line) is the finest k whose stability reaches "
        f"{seg.STABILITY_THRESHOLD:g} (docs/segments.md)."
    )

# -- profiles -------------------------------------------------------------------------
st.subheader("Segment profiles")
months = resources.available_months(path)
filters = components.current_filters(months) if months else None
# The segments cover every consented customer: their KPIs use the sidebar's period only, not its
# slices (a region filter would measure a part of each segment against the whole segment's size).
period = replace(filters, regions=(), age_bands=(), products=(), segment_id=None) if filters else None
clv_fit = resources.stored_clv(path)
clv_fit_id = clv_fit.fit_id if clv_fit is not None else None
table = resources.segment_profiles(
    path, feature_set, algorithm, k, resources.filter_key(period) if period else None, clv_fit_id
)
names = {
    row["segment"]: st.session_state.get(f"segment_name_{row['segment']}", row["suggested_name"])
    for row in table.iter_rows(named=True)
}
st.dataframe(charts.profiles_view(table, names), hide_index=True)
st.caption(
    "KPIs of the sidebar's period over all of each segment's members (its region, product and segment "
    "filters do not apply here); P(alive) and predictive CLV from the stored "
    "BG/NBD + Gamma-Gamma fit. Historical churn is not shown: every member is a customer today, so it is "
    "0 by construction; 1 − P(alive) is its forward-looking counterpart."
)
components.csv_download(
    charts.profiles_csv(table), file_name="tailor_segment_profiles.csv", key="profiles_csv"
)

left, right = st.columns([1.2, 1])
segment_ids = table.get_column("segment").to_list()
with left:
    chosen = st.selectbox(
        "What sets this segment apart",
        segment_ids,
        format_func=lambda s: f"{s}: {names.get(s, '')}",
        key="segment_profile_choice",
    )
    st.plotly_chart(charts.smd_chart(table, chosen, result.features), key="smd_chart")
with right:
    st.markdown("**Name and save this segment**")
    name = st.text_input("Name", value=names.get(chosen, ""), key=f"segment_name_{chosen}", max_chars=80)
    members = result.assignment.filter(pl.col("segment") == chosen).get_column("customer_id")
    st.caption(f"{members.len():,} customers. The name is suggested from the features that set it apart.")
    if st.button("Save segment", key="save_cluster", type="primary"):
        _save(
            user,
            name=name,
            customer_ids=members,
            source="clustering",
            parameters={"feature_set": feature_set, "algorithm": algorithm, "k": result.k, "segment": chosen},
        )

# -- map ------------------------------------------------------------------------------
st.subheader("Customer map")
stored = resources.stored_map(path, feature_set)
left, right = st.columns([1, 1])
method = left.radio(
    "Projection",
    ["umap", "pca"],
    format_func=lambda m: "UMAP (stored)" if m == "umap" else "PCA (instant preview)",
    horizontal=True,
    key=state.SEGMENT_MAP_METHOD,
)
color_options = ["segment", *(charts.MAP_COLORS if clv_fit is not None else ()), *result.features]
color = right.selectbox(
    "Colour by", color_options, format_func=charts.color_label, key=state.SEGMENT_MAP_COLOR
)
if method == "umap" and stored is None:
    st.info("No UMAP map is stored for this feature set yet: showing the PCA preview.")
    if st.button("Fit the UMAP map", key="fit_umap"):
        bar = st.progress(0.0, text="Fitting UMAP…")
        resources.fit_map(
            path, feature_set, user.username, progress=lambda f, m: bar.progress(min(f, 1.0), text=m)
        )
        resources.stored_map.clear()
        st.rerun()
    method = "pca"
map_id = stored.map_id if (method == "umap" and stored is not None) else None
points = resources.map_frame(path, feature_set, algorithm, k, map_id, user.role, clv_fit_id)
figure, points = charts.map_chart(points, names, color=color, features=result.features)
raw = sees_raw_personal_data(user.role)
if raw:  # audited before it is drawn: a view that fails halfway was still sent in part
    resources.log_personal_data_view(
        path, user, target="segment_map", details={"feature_set": feature_set, "points": points.height}
    )
event = st.plotly_chart(figure, key="segment_map", on_select="rerun", selection_mode=("lasso", "box"))
if raw:
    st.caption("The map's hover shows customer numbers to your role; this view is logged.")
if stored is not None and method == "umap":
    st.caption(
        f"UMAP fitted {stored.fitted_at:%Y-%m-%d %H:%M} by {stored.fitted_by} on "
        f"{stored.sample_size:,} customers and {stored.customers - stored.sample_size:,} "
        f"transformed onto it, in {stored.seconds:.0f} s."
    )
picked = map_selection.selected_customers(points, (event or {}).get("selection", {}) if event else {})
if picked.len():
    st.markdown(f"**{picked.len():,} customers selected on the map**")
    name = st.text_input("Name for the selection", key="lasso_name", max_chars=80)
    if st.button("Save the selection as a segment", key="save_lasso"):
        _save(
            user,
            name=name,
            customer_ids=picked,
            source="map_selection",
            parameters={"feature_set": feature_set, "map": method, "customers": picked.len()},
        )
else:
    st.caption("Draw a lasso around customers on the map to make them a segment.")

# -- saved segments -------------------------------------------------------------------
st.subheader("Saved segments")
saved = resources.saved_segments(path)
if saved.height == 0:
    st.info("No segment saved yet.")
else:
    st.dataframe(charts.saved_view(saved), hide_index=True)
    labels = {row["segment_id"]: segment_store.segment_label(row) for row in saved.iter_rows(named=True)}
    export_id = st.selectbox(
        "Export the members of", list(labels), format_func=labels.get, key="export_choice"
    )
    if st.button("Prepare export", key="prepare_export"):
        shown, left_out = resources.export_segment(path, export_id, user)
        st.caption(
            f"{shown.height:,} members; {left_out:,} left out (no marketing or profiling consent, or"
            " account closed). "
            + (
                "Personal data as stored (this export is logged)."
                if sees_raw_personal_data(user.role)
                else "Personal data masked for your role (this export is logged)."
            )
        )
        components.csv_download(shown, file_name=f"tailor_segment_{export_id}.csv", key="export_csv")
