"""Every Streamlit cache wrapper lives here; analytics/ stays uncached."""

from __future__ import annotations

import polars as pl
import streamlit as st

from analytics.access import audit_log, auth
from analytics.access.privacy import (
    mask_personal_data,
    pseudonym_key,
    pseudonymize_ids,
    redact_comments,
    sees_raw_personal_data,
)
from analytics.clv import store as clv_store
from analytics.common.types import KpiFilters, User
from analytics.experiments import bank as experiment_bank
from analytics.experiments import breakdown as experiment_breakdown
from analytics.experiments import readout as experiments
from analytics.fairness import audits as fairness_audit
from analytics.fairness import experiment_equity, exposure_audits, model_audits, signoffs
from analytics.fairness import metrics as fairness
from analytics.fairness import mitigation as mitigation_lib
from analytics.fairness import model_card as fairness_card
from analytics.kpis import cubes, engagement, nps, retention
from analytics.kpis import rfm as rfm_lib
from analytics.kpis import summary as kpis
from analytics.kpis import survival as survival_lib
from analytics.models import customer_explanations, explanations, publishing, quality_views
from analytics.models import registry as model_registry
from analytics.privacy import coverage as consent
from analytics.privacy import reference as subject_reference
from analytics.privacy import subject as subject_requests
from analytics.quality import checks as quality_checks
from analytics.quality import dictionary as data_dictionary_lib
from analytics.segments import clustering as segments
from analytics.segments import features, maps, projections
from analytics.segments import store as segment_store
from analytics.store import imports as imports_lib
from analytics.store.database import Database, open_database, resolve_db_path
from app import components


def database_path() -> str:
    """The configured database file (TAILOR_DB or the default), as a cache key."""
    return str(resolve_db_path())


@st.cache_resource(show_spinner=False)
def get_database(path: str) -> Database:
    """The process-wide owner of the DuckDB file (one per path; never mutate it)."""
    return open_database(path)


def recent_activity(path: str, username: str) -> pl.DataFrame:
    """The user's own recent sign-in events (not cached: the Account page shows them as they happen)."""
    return auth.recent_activity(get_database(path), username)


def change_password(path: str, username: str, current: str, new: str) -> None:
    """A user's change of their own password (a write: never cached; refusals raise ``UserError``)."""
    auth.change_password(get_database(path), username, current, new)


@st.cache_data(ttl=600, max_entries=8, show_spinner=False)
def available_months(path: str) -> list:
    """Full months with data, ascending (a snapshot taken mid-month leaves that month out).

    The same last month as the CLI's default period (``cubes.default_filters``), so the
    page's "last N months" and ``python -m analytics kpis`` agree.
    """
    backend = get_database(path).backend()
    last_full = cubes.default_filters(backend, months=1).end_month
    return [month for month in cubes.available_months(backend) if month <= last_full]


@st.cache_data(ttl=600, max_entries=64, show_spinner=False)
def executive_summary(path: str, key: tuple) -> kpis.ExecutiveSummary:
    """The executive KPIs for one filter combination (``filter_key``; cached for ten minutes)."""
    return kpis.compute_executive_summary(get_database(path).backend(), _filters(key))


def _filters(key: tuple) -> KpiFilters:
    start_month, end_month, regions, age_bands, products, segment_id = key
    return KpiFilters(
        start_month=start_month,
        end_month=end_month,
        regions=regions,
        age_bands=age_bands,
        products=products,
        segment_id=segment_id,
    )


@st.cache_data(ttl=600, max_entries=32, show_spinner=False)
def rfm(path: str, key: tuple) -> pl.DataFrame:
    """RFM scores and groups of the customers at the period's end (the page's segments)."""
    return rfm_lib.compute_rfm(get_database(path).backend(), _filters(key))


def rfm_segments(path: str, filters: KpiFilters) -> pl.DataFrame:
    """``customer_id, segment`` from the RFM groups, for the breakdowns by segment."""
    return rfm_lib.rfm_segments(rfm(path, filter_key(filters)))


@st.cache_data(ttl=600, max_entries=32, show_spinner=False)
def nps_drilldown(path: str, key: tuple) -> nps.NpsDrillDown:
    """The NPS drill-down for one filter combination, every breakdown including segments."""
    filters = _filters(key)
    return nps.compute_nps_drilldown(
        get_database(path).backend(),
        filters,
        dimensions=nps.NPS_DIMENSIONS,
        segments=rfm_segments(path, filters),
    )


@st.cache_data(ttl=600, max_entries=64, show_spinner=False)
def nps_comments(
    path: str, key: tuple, *, dimension, group, month, category, segments_key: tuple | None = None
) -> pl.DataFrame:
    """The comments behind one bar, unredacted (the page redacts them for the viewer's role).

    ``segments_key`` names the filters whose RFM groups are the segments (the breakdown's
    period, also when the comments are of one month outside it).
    """
    filters = _filters(key)
    segments = rfm_segments(path, _filters(segments_key or key)) if dimension == "segment" else None
    return nps.nps_comments(
        get_database(path).backend(),
        filters,
        dimension=dimension,
        group=group,
        month=month,
        category=category,
        segments=segments,
        limit=nps.MAX_COMMENTS,
    )


def filter_key(filters: KpiFilters) -> tuple:
    """The filters as one hashable cache key (``_filters`` turns it back)."""
    return (
        filters.start_month,
        filters.end_month,
        tuple(filters.regions),
        tuple(filters.age_bands),
        tuple(filters.products),
        filters.segment_id,
    )


@st.cache_data(ttl=600, max_entries=32, show_spinner=False)
def engagement_analysis(path: str, key: tuple):
    """Engagement distribution, drivers and movement by region, age band and RFM group."""
    return engagement.compute_engagement_analysis(
        get_database(path).backend(), _filters(key), rfm=rfm(path, key)
    )


@st.cache_data(ttl=60, max_entries=4, show_spinner=False)
def stored_clv(path: str) -> clv_store.StoredClvFit | None:
    """The newest stored CLV fit (re-read every minute, and after a refit)."""
    return clv_store.load_stored_clv(get_database(path).backend())


@st.cache_data(ttl=600, max_entries=4, show_spinner=False)
def clv_predictions(path: str, fit_id: str) -> tuple[pl.DataFrame, dict[str, pl.DataFrame]]:
    """A stored fit's per-customer predictions and their histograms and deciles."""
    predictions = clv_store.load_clv_predictions(get_database(path).backend(), fit_id)
    return predictions, clv_store.summarize_predictions(predictions)


def refit_clv(path: str, user: User, *, progress) -> None:
    """Fit the bank's CLV models again, store them, audit it and drop the cached fit (not cached: it writes).

    Raises the fit's ``ValueError`` (``ClvFitError`` included) with a message that says what failed.
    """
    db = get_database(path)
    clv_store.fit_bank_clv(db, fitted_by=user.username, progress=progress)
    db.write_audit(username=user.username, role=user.role, action="fit_model", target="clv")
    stored_clv.clear()


def masked_customers(path: str, frame: pl.DataFrame, role: str) -> pl.DataFrame:
    """``frame`` with its customer numbers masked as ``role`` may see them (the database's pseudonym key)."""
    return mask_personal_data(frame, role, key=pseudonym_key(get_database(path)))


def redacted_comments(path: str, frame: pl.DataFrame, role: str) -> pl.DataFrame:
    """Survey comments with personal data redacted and customers pseudonymized for ``role``."""
    return redact_comments(frame, role, key=pseudonym_key(get_database(path)))


def log_export(path: str, user: User, *, target: str, details: dict) -> None:
    """Audit a download of customer rows (action ``export``), every time it happens."""
    get_database(path).write_audit(
        username=user.username, role=user.role, action="export", target=target, details=details
    )


def log_personal_data_view(path: str, user: User, *, target: str, details: dict) -> None:
    """Audit a view of raw personal data, once per distinct view and session (not on every rerun)."""
    components.log_view_once(get_database(path), user, target=target, details=details)


@st.cache_data(ttl=600, max_entries=32, show_spinner=False)
def cohort_matrix(path: str, end_month, regions, age_bands) -> retention.CohortMatrix:
    """Join-month cohorts up to ``end_month`` within the region and age-band filters."""
    return retention.compute_cohort_matrix(
        get_database(path).backend(), end_month=end_month, regions=regions, age_bands=age_bands
    )


@st.cache_data(ttl=600, max_entries=32, show_spinner=False)
def retention_series(path: str, key: tuple) -> retention.RetentionSeries:
    """Monthly retention and churn rates with their intervals."""
    return retention.compute_retention_series(get_database(path).backend(), _filters(key))


@st.cache_data(ttl=600, max_entries=32, show_spinner=False)
def survival(path: str, by: str, regions, age_bands) -> survival_lib.SurvivalResult:
    """Kaplan-Meier curves by group (monthly tenure)."""
    return survival_lib.compute_survival(
        get_database(path).backend(), by=by, regions=regions, age_bands=age_bands
    )


@st.cache_data(ttl=30, max_entries=4, show_spinner=False)
def saved_segments(path: str) -> pl.DataFrame:
    """Saved segments, newest first (re-read every 30 s, and after a save)."""
    db = get_database(path)
    return segment_store.list_segments(db.backend(), as_of=db.snapshot_date())


def save_segment(
    path: str, user: User, *, name: str, customer_ids: pl.Series, source: str, parameters: dict
) -> segment_store.SavedSegment:
    """Save a segment as ``user`` and drop the cached list (not cached: it writes).

    Raises ``ValueError`` as ``segment_store.save_segment`` does (empty name, no members, ...).
    """
    saved = segment_store.save_segment(
        get_database(path),
        name=name,
        customer_ids=customer_ids,
        source=source,
        created_by=user.username,
        role=user.role,
        parameters=parameters,
    )
    saved_segments.clear()
    return saved


def export_segment(path: str, segment_id: str, user: User) -> tuple[pl.DataFrame, int]:
    """A saved segment's consented members as ``user``'s role may see them, and how many were left out.

    Not cached: every export is written to the audit log.
    """
    db = get_database(path)
    return segment_store.export_segment(db, segment_id, username=user.username, role=user.role)


# -- segments page ------------------------------------------------------------------------
@st.cache_data(ttl=600, max_entries=8, show_spinner=False)
def feature_frame(path: str, feature_set: str) -> features.FeatureFrame:
    """The consented customers' features of a named set."""
    columns = features.resolve_feature_set(feature_set)
    return features.load_features(get_database(path).backend(), columns=list(columns))


@st.cache_data(ttl=600, max_entries=8, show_spinner=False)
def scaled_matrix(path: str, feature_set: str):
    """Customer ids and the scaled feature matrix (the map's input)."""
    frame = feature_frame(path, feature_set)
    return frame.frame.get_column(frame.id_column), frame.scaled()


@st.cache_data(ttl=600, max_entries=16, show_spinner=False)
def segmentation(path: str, feature_set: str, algorithm: str, k: int | None):
    """One segmentation and its profiles (cached per feature set, algorithm and k)."""
    return segments.segment_and_profile(feature_frame(path, feature_set), algorithm=algorithm, k=k)


@st.cache_data(ttl=600, max_entries=16, show_spinner=False)
def segment_profiles(
    path: str, feature_set: str, algorithm: str, k: int | None, key: tuple | None, clv_fit_id: str | None
) -> pl.DataFrame:
    """Profiles with each segment's KPIs (period of ``key``) and the means of CLV fit ``clv_fit_id``."""
    result, profiles = segmentation(path, feature_set, algorithm, k)
    backend = get_database(path).backend()
    if key is not None:
        kpi_table = segments.segment_kpis(backend, result.assignment, _filters(key))
        profiles = profiles.join(
            kpi_table.select("segment", "nps", "engagement", "clv"), on="segment", how="left"
        )
    if clv_fit_id is not None:
        predictions = clv_store.load_clv_predictions(backend, clv_fit_id)
        means = segments.segment_clv_means(result.assignment, predictions)
        profiles = profiles.join(means, on="segment", how="left")
    return profiles


@st.cache_data(ttl=60, max_entries=8, show_spinner=False)
def stored_map(path: str, feature_set: str) -> maps.StoredMap | None:
    """The stored UMAP map of a feature set with the default parameters, if fitted."""
    columns = features.resolve_feature_set(feature_set)
    return maps.load_map(
        get_database(path).backend(),
        method="umap",
        feature_columns=columns,
        params=maps.map_params("umap"),
    )


def fit_map(path: str, feature_set: str, fitted_by: str, *, progress) -> maps.StoredMap:
    """Fit and store the UMAP map of a feature set (not cached: it writes)."""
    ids, X = scaled_matrix(path, feature_set)
    return maps.fit_and_store_map(
        get_database(path),
        ids,
        X,
        method="umap",
        feature_columns=features.resolve_feature_set(feature_set),
        fitted_by=fitted_by,
        progress=progress,
        **maps.map_params("umap"),
    )


@st.cache_data(ttl=600, max_entries=8, show_spinner=False)
def map_frame(
    path: str,
    feature_set: str,
    algorithm: str,
    k: int | None,
    map_id: str | None,
    role: str,
    clv_fit_id: str | None,
) -> pl.DataFrame:
    """Map points (stored UMAP, else PCA) with segment, the customer as the role may see it, and colours."""
    backend = get_database(path).backend()
    ids, X = scaled_matrix(path, feature_set)
    if map_id is not None:
        points = maps.load_map_points(backend, map_id)
    else:
        xy = projections.pca_map(X)
        points = pl.DataFrame({"customer_id": ids, "x": xy[:, 0], "y": xy[:, 1]})
    result, _ = segmentation(path, feature_set, algorithm, k)
    frame = feature_frame(path, feature_set)
    points = points.join(result.assignment, on="customer_id", how="inner").join(
        frame.frame.rename({frame.id_column: "customer_id"}), on="customer_id", how="left"
    )
    if clv_fit_id is not None:
        predictions = clv_store.load_clv_predictions(backend, clv_fit_id).select(
            "customer_id", "probability_alive", pl.col("clv").alias("predicted_clv")
        )
        points = points.join(predictions, on="customer_id", how="left")
    key = pseudonym_key(get_database(path))
    label = (
        points.get_column("customer_id").cast(pl.String)
        if sees_raw_personal_data(role)
        else pseudonymize_ids(points.get_column("customer_id"), key)
    )
    return points.with_columns(label.alias("customer"))


# -- models page --------------------------------------------------------------------------
@st.cache_data(ttl=60, max_entries=4, show_spinner=False)
def registered_models(path: str) -> pl.DataFrame:
    """The model registry, newest version of each target first (re-read every minute)."""
    return model_registry.list_models(get_database(path).backend())


@st.cache_resource(max_entries=8, show_spinner=False)
def loaded_model(path: str, model_id: str) -> model_registry.LoadedModel:
    """A registered model's estimators, checksum verified (shared; never mutate it)."""
    return model_registry.load_model(get_database(path), model_id)


@st.cache_data(ttl=600, max_entries=8, show_spinner=False)
def model_quality_views(path: str, model_id: str) -> quality_views.QualityViews | None:
    """The quality view of a model from its stored test scores (None without them)."""
    return quality_views.quality_views(get_database(path).backend(), model_id)


@st.cache_data(ttl=600, max_entries=8, show_spinner=False)
def shap_matrix(path: str, model_id: str, kind: str) -> explanations.ShapMatrix:
    """A model's stored SHAP sample as matrices."""
    return explanations.load_shap_matrix(get_database(path).backend(), model_id, kind=kind)


@st.cache_data(ttl=600, max_entries=8, show_spinner=False)
def shap_importance(path: str, model_id: str, kind: str) -> pl.DataFrame:
    """Mean |SHAP| per feature of a stored sample."""
    return explanations.global_importance(shap_matrix(path, model_id, kind))


@st.cache_data(ttl=600, max_entries=8, show_spinner=False)
def beeswarm(path: str, model_id: str, kind: str, features: tuple[str, ...]) -> pl.DataFrame:
    """Beeswarm points of the given features."""
    return explanations.beeswarm_points(shap_matrix(path, model_id, kind), features)


@st.cache_data(ttl=600, max_entries=32, show_spinner=False)
def dependence(path: str, model_id: str, kind: str, feature: str) -> explanations.DependenceView:
    """One feature's dependence points, coloured by its strongest interaction."""
    return explanations.dependence_view(shap_matrix(path, model_id, kind), feature)


@st.cache_data(ttl=600, max_entries=8, show_spinner=False)
def explanation_meta(path: str, model_id: str) -> dict:
    """The stored SHAP samples' descriptions (tree, baseline)."""
    return explanations.load_explanation_meta(get_database(path).backend(), model_id)


@st.cache_data(ttl=600, max_entries=4, show_spinner=False)
def current_pseudonyms(path: str) -> dict[str, int]:
    """Masked id -> customer number of every current customer (the ids the page accepts)."""
    db = get_database(path)
    ids = publishing.current_customer_ids(db.backend())
    return dict(zip(pseudonymize_ids(ids, pseudonym_key(db)).to_list(), ids.to_list(), strict=True))


def masked_id(path: str, customer_id: int) -> str:
    """One customer's masked id (a single keyed hash: no scan of every customer's)."""
    db = get_database(path)
    return pseudonymize_ids(pl.Series([customer_id], dtype=pl.Int64), pseudonym_key(db))[0]


@st.cache_data(ttl=600, max_entries=16, show_spinner=False)
def top_scored(path: str, model_id: str, role: str, n: int = 20) -> pl.DataFrame:
    """The highest-scored consented customers, labelled as the role may see them."""
    db = get_database(path)
    top = publishing.top_scored_customers(db.backend(), model_id, n=n)
    ids = top.get_column("customer_id")
    masked = pseudonymize_ids(ids, pseudonym_key(db))
    return top.with_columns(
        masked.alias("masked_id"),
        (ids.cast(pl.String) if sees_raw_personal_data(role) else masked).alias("customer"),
    )


@st.cache_data(ttl=600, max_entries=64, show_spinner=False)
def customer_row(path: str, customer_id: int, role: str) -> pl.DataFrame:
    """One current customer's model inputs as of the snapshot; a refusal names them as ``role`` may read.

    A role that sees only masked ids is told the masked id, never the number (issue 14: no raw
    customer id in any error message).
    """
    db = get_database(path)
    shown_as = str(customer_id) if sees_raw_personal_data(role) else masked_id(path, customer_id)
    return customer_explanations.load_customer_features(
        db.backend(), customer_id, as_of=db.snapshot_date(), shown_as=shown_as
    )


def segment_members(path: str, segment_id: str) -> pl.Series:
    """Customer ids of one saved segment version (not cached: a saved segment is read when chosen)."""
    return segment_store.segment_members(get_database(path).backend(), segment_id)


# -- A/B tests page -----------------------------------------------------------------------
@st.cache_data(ttl=60, max_entries=4, show_spinner=False)
def experiment_list(path: str) -> pl.DataFrame:
    """Every experiment with its status and customers (re-read every minute)."""
    return experiment_bank.list_experiments(get_database(path).backend())


@st.cache_data(ttl=600, max_entries=8, show_spinner=False)
def experiment_aggregates(path: str, experiment_id: str) -> pl.DataFrame:
    """Each arm's sums of every metric, aggregated in DuckDB: the costly step, shared by every read-out."""
    db = get_database(path)
    experiment = experiment_bank.load_experiment(db.backend(), experiment_id, snapshot=db.snapshot_date())
    return experiment_bank.aggregate_arms(db.backend(), experiment)


@st.cache_data(ttl=600, max_entries=32, show_spinner=False)
def experiment_readout(
    path: str, experiment_id: str, alpha: float, cuped: bool
) -> experiments.ExperimentResult:
    """One experiment's read-out (a new alpha or CUPED choice re-reads the cached sums, not the events)."""
    db = get_database(path)
    return experiments.read_out(
        db.backend(),
        experiment_id,
        snapshot=db.snapshot_date(),
        alpha=alpha,
        cuped=cuped,
        aggregates=experiment_aggregates(path, experiment_id),
    )


@st.cache_data(ttl=600, max_entries=32, show_spinner=False)
def experiment_sequence(path: str, experiment_id: str, metric: str, alpha: float) -> pl.DataFrame:
    """The always-valid series of one metric: its looks only, aggregated when the chart asks for it."""
    db = get_database(path)
    experiment = experiment_bank.load_experiment(db.backend(), experiment_id, snapshot=db.snapshot_date())
    looks = experiment_bank.look_days(experiment)
    aggregates = experiment_bank.aggregate_arms(db.backend(), experiment, looks=looks, look_metrics=(metric,))
    return experiments.sequential_series(aggregates, experiment, metric=metric, looks=looks, alpha=alpha)


@st.cache_data(ttl=600, max_entries=32, show_spinner=False)
def experiment_segments(
    path: str, experiment_id: str, metric: str, dimension: str, alpha: float
) -> pl.DataFrame:
    """The primary metric's lift by group of a customer dimension."""
    db = get_database(path)
    experiment = experiment_bank.load_experiment(db.backend(), experiment_id, snapshot=db.snapshot_date())
    return experiment_breakdown.segment_breakdown(
        db.backend(), experiment, metric=metric, dimension=dimension, alpha=alpha
    )


# -- fairness -------------------------------------------------------------------------------
@st.cache_data(ttl=600, max_entries=16, show_spinner=False)
def fairness_default_threshold(path: str, model_id: str) -> float:
    """A model's default operating threshold (top 10% of its test customers)."""
    return model_audits.default_threshold(get_database(path).backend(), model_id)


@st.cache_data(ttl=600, max_entries=16, show_spinner=False)
def fairness_model_audit(path: str, model_id: str, threshold: float) -> fairness_audit.FairnessAudit:
    """A registered model's audit at a threshold."""
    return model_audits.audit_model(get_database(path).backend(), model_id, threshold=threshold)


@st.cache_data(ttl=600, max_entries=16, show_spinner=False)
def fairness_exposure_audit(path: str, campaign_id: int | None) -> fairness_audit.FairnessAudit:
    """A campaign's exposure audit, or the historical credit decision's (``campaign_id`` None)."""
    backend = get_database(path).backend()
    if campaign_id is None:
        return exposure_audits.audit_credit_decision(backend)
    return exposure_audits.audit_exposure(backend, campaign_id)


@st.cache_data(ttl=600, max_entries=16, show_spinner=False)
def fairness_experiment(path: str, experiment_id: str, attribute: str) -> experiment_equity.ExperimentEquity:
    """Whether an experiment's treatment helps one group less."""
    db = get_database(path)
    return experiment_equity.experiment_equity(
        db.backend(), experiment_id, snapshot=db.snapshot_date(), attribute=attribute
    )


@st.cache_data(ttl=600, max_entries=16, show_spinner=False)
def model_card(path: str, model_id: str, threshold: float):
    """A model's card with the fairness results at the threshold."""
    audit = fairness_model_audit(path, model_id, threshold)
    return fairness_card.model_card(get_database(path).backend(), model_id, audit=audit)


@st.cache_data(ttl=600, max_entries=8, show_spinner=False)
def mitigation(path: str, model_id: str, threshold: float, attribute: str, constraint: str):
    """ThresholdOptimizer's trade-off for a model by one protected attribute (about a second of work)."""
    db = get_database(path)
    audit = fairness_model_audit(path, model_id, threshold)
    rows = fairness.model_rows(db.backend(), model_id, threshold=threshold, as_of=audit.as_of)
    return mitigation_lib.compare_thresholds(
        rows.get_column("y_true"),
        rows.get_column("score"),
        rows.get_column(attribute).cast(pl.String).fill_null("(missing)"),
        constraint=constraint,
        threshold=threshold,
        # The outcomes are rare (2% churn): plain accuracy is best served by selecting almost
        # nobody, so the reviewer's trade-off is drawn for balanced accuracy (docs/fairness.md).
        objective="balanced_accuracy_score",
    )


@st.cache_data(ttl=60, max_entries=4, show_spinner=False)
def campaign_list(path: str) -> pl.DataFrame:
    """Campaigns in start order, for the exposure audit."""
    return exposure_audits.list_campaigns(get_database(path).backend())


@st.cache_data(ttl=30, max_entries=4, show_spinner=False)
def signoff_list(path: str) -> pl.DataFrame:
    """Every sign-off, newest first (cleared when a reviewer signs)."""
    return signoffs.list_signoffs(get_database(path).backend())


@st.cache_data(ttl=30, max_entries=4, show_spinner=False)
def latest_signoffs(path: str) -> pl.DataFrame:
    """The latest sign-off of every audited subject (cleared when a reviewer signs)."""
    return signoffs.latest_signoffs(get_database(path).backend())


@st.cache_data(ttl=600, max_entries=16, show_spinner=False)
def signed_report(path: str, signoff_id: str) -> str:
    """A stored signed report."""
    return signoffs.load_report(get_database(path).backend(), signoff_id)


def find_signed_report(path: str, digest: str) -> dict | None:
    """The sign-off whose stored report has this SHA-256, or None (not cached: a new sign-off counts)."""
    return signoffs.find_report(get_database(path).backend(), digest)


def sign_audit(
    path: str, audit, *, user: User, decision: str, comment: str, card=None
) -> signoffs.SignedReport:
    """Sign an audit as ``user``: store its report and hashes, log it, drop the cached sign-off lists.

    Not cached (it writes). Raises ``ValueError``/``PermissionError`` as ``signoffs.sign_audit`` does.
    """
    signed = signoffs.sign_audit(
        get_database(path),
        audit,
        reviewer=user.username,
        role=user.role,
        decision=decision,
        comment=comment,
        card=card,
    )
    signoff_list.clear()
    latest_signoffs.clear()
    return signed


def record_mitigation_decision(
    path: str, user: User, *, model_id: str, constraint: str, decision: str, summary: dict, comment: str
) -> None:
    """Write ``user``'s decision on a proposed mitigation to the audit log (not cached: it writes)."""
    signoffs.record_mitigation_decision(
        get_database(path),
        reviewer=user.username,
        role=user.role,
        model_id=model_id,
        constraint=constraint,
        decision=decision,
        summary=summary,
        comment=comment,
    )


# -- data & privacy page ---------------------------------------------------------------------
@st.cache_data(ttl=600, max_entries=8, show_spinner=False)
def consent_coverage(path: str, by: str | None) -> pl.DataFrame:
    """Share of current customers consenting to each purpose, overall or by group."""
    db = get_database(path)
    return consent.consent_coverage(db.backend(), as_of=db.snapshot_date(), by=by)


@st.cache_data(ttl=600, max_entries=2, show_spinner=False)
def consent_over_time(path: str) -> pl.DataFrame:
    """Share of current customers consenting to each purpose at each of the last 24 month ends."""
    db = get_database(path)
    return consent.consent_coverage_over_time(db.backend(), as_of=db.snapshot_date())


@st.cache_data(ttl=600, max_entries=2, show_spinner=False)
def table_overview(path: str) -> pl.DataFrame:
    """Every contract table with its rows and freshness."""
    return data_dictionary_lib.table_overview(get_database(path))


@st.cache_data(ttl=600, max_entries=2, show_spinner=False)
def data_dictionary(path: str) -> pl.DataFrame:
    """Every column of every contract table: type, meaning, key, personal data."""
    return data_dictionary_lib.data_dictionary(get_database(path))


@st.cache_data(ttl=300, max_entries=2, show_spinner=False)
def quality_report(path: str) -> quality_checks.QualityReport:
    """Every data-quality check of the bank's tables (about 1.5 s on the sample bank)."""
    return quality_checks.run_quality_checks(get_database(path))


@st.cache_data(ttl=600, max_entries=4, show_spinner=False)
def _audit_chain(path: str, head_event_id: int | None):
    """Every seal of the audit log checked, kept while its newest row stays the same (O(rows) HMACs)."""
    return get_database(path).verify_audit()


def audit_log_view(path: str, *, filters: dict, limit: int) -> audit_log.AuditLogView:
    """The audit rows matching ``filters`` and their total, read fresh; the chain check kept per head."""
    db = get_database(path)
    chain = _audit_chain(path, audit_log.audit_head(db))
    return audit_log.audit_log_view(db, **filters, limit=limit, chain=chain)


def audit_actions(path: str) -> list[str]:
    """The actions present in the audit log, for the filter."""
    return audit_log.audit_actions(get_database(path))


def export_audit_log(path: str, user: User, *, filters: dict, rows: pl.DataFrame) -> bytes:
    """The rows as a formula-safe CSV, the export recorded in the audit log first."""
    audit_log.record_audit_export(
        get_database(path), username=user.username, role=user.role, rows=rows.height, **filters
    )
    return audit_log.audit_log_csv(rows)


@st.cache_data(ttl=300, max_entries=2, show_spinner=False)
def check_import(
    path: str, table: str, data: bytes, *, name: str, mode: str, mapping: dict | None, max_rows: int
) -> imports_lib.ImportReport:
    """Validate an uploaded file against a table's contract; nothing is written.

    Kept for the reruns that follow (choosing the mode, clicking Import) so a file is checked once
    per choice; an import checks again inside its transaction and then clears every cache.
    """
    return imports_lib.validate_import(
        get_database(path), table, data, mode=mode, mapping=mapping, source_name=name, max_rows=max_rows
    )


def run_import(
    path: str,
    user: User,
    table: str,
    data: bytes,
    *,
    name: str,
    mode: str,
    mapping: dict | None,
    max_rows: int,
) -> imports_lib.ImportReport:
    """Import an uploaded file (all or nothing), audit it, and drop every cached result of the old data.

    Raises ``ImportRefusedError`` (with its report) when the file is refused; nothing is written then.
    """
    db = get_database(path)
    report = imports_lib.import_table(
        db, table, data, mode=mode, mapping=mapping, source_name=name, max_rows=max_rows
    )
    db.write_audit(
        username=user.username,
        role=user.role,
        action="import",
        target=table,
        details={
            "mode": mode,
            "rows": report.rows_added,
            "rows_replaced": report.rows_replaced,
            "file": name,
            "mapping": mapping,
        },
    )
    # Every page's cached numbers describe the data before the import.
    st.cache_data.clear()
    return report


def resolve_subject(path: str, text: str) -> int:
    """The customer number a data-subject request names (a number or a masked id)."""
    return subject_reference.resolve_customer_reference(get_database(path), text)


def subject_access(path: str, user: User, customer_id: int) -> bytes:
    """The access export (zip) of one customer, audited before it is built (never cached)."""
    return subject_requests.subject_access(
        get_database(path), customer_id, requested_by=user.username, role=user.role
    )


def erase_subject(path: str, user: User, customer_id: int) -> subject_requests.ErasureReport:
    """Erase one customer everywhere, rewrite the file, then drop every cached result that may hold them."""
    report = subject_requests.erase_subject(
        get_database(path), customer_id, requested_by=user.username, role=user.role
    )
    st.cache_data.clear()
    return report
