"""Session-state keys and their defaults (UI state only; read with defaults)."""

from __future__ import annotations

from typing import Any

import streamlit as st

USER = "user"
# When the session signed in and when it last reran (aware UTC datetimes), for the idle and
# absolute timeouts app/main.py checks on every rerun; tests seed them in the past.
SIGNED_IN_AT = "signed_in_at"
LAST_ACTIVITY_AT = "last_activity_at"
# A one-time message for the next rerun: why the session ended (on the sign-in form), or that the
# password was changed.
NOTICE = "notice"
PERIOD_PRESET = "period_preset"
START_MONTH = "start_month"
END_MONTH = "end_month"
REGIONS = "filter_regions"
AGE_BANDS = "filter_age_bands"
PRODUCTS = "filter_products"
SEGMENT = "filter_segment"
TREND_KPI = "trend_kpi"
BREAKDOWN_DIMENSION = "breakdown_dimension"
BREAKDOWN_KPI = "breakdown_kpi"
KPI_SECTION = "kpi_section"
NPS_DIMENSION = "nps_dimension"
ENGAGEMENT_DIMENSION = "engagement_dimension"
COHORT_METRIC = "cohort_metric"
SURVIVAL_BY = "survival_by"
LOGGED_VIEWS = "logged_personal_data_views"
SEGMENT_SOURCE = "segment_source"
SEGMENT_FEATURE_SET = "segment_feature_set"
SEGMENT_ALGORITHM = "segment_algorithm"
SEGMENT_K = "segment_k"
SEGMENT_MAP_METHOD = "segment_map_method"
SEGMENT_MAP_COLOR = "segment_map_color"
MODEL_TARGET = "model_target"
MODEL_ID = "model_id"
MODEL_SECTION = "model_section"
MODEL_THRESHOLD = "model_threshold"
SHAP_KIND = "shap_kind"
DEPENDENCE_FEATURE = "dependence_feature"
CUSTOMER_REF = "customer_ref"
FAIRNESS_SECTION = "fairness_section"
FAIRNESS_SIGNED = "fairness_signed"
DATA_SECTION = "data_section"
CONSENT_BY = "consent_by"
QUALITY_SHOW = "quality_show"
AUDIT_WHO = "audit_who"
AUDIT_ACTIONS = "audit_actions"
AUDIT_PERIOD = "audit_period"
AUDIT_CUSTOMER = "audit_customer"
SUBJECT_REF = "subject_ref"
SUBJECT_CONFIRM = "subject_confirm"

PERIOD_PRESETS: dict[str, int | None] = {
    "Last month": 1,
    "Last 3 months": 3,
    "Last 6 months": 6,
    "Last 12 months": 12,
    "Custom": None,
}

DEFAULTS: dict[str, Any] = {
    USER: None,
    SIGNED_IN_AT: None,
    LAST_ACTIVITY_AT: None,
    NOTICE: None,
    PERIOD_PRESET: "Last 3 months",
    START_MONTH: None,
    END_MONTH: None,
    REGIONS: [],
    AGE_BANDS: [],
    PRODUCTS: [],
    SEGMENT: None,
    TREND_KPI: "nps",
    BREAKDOWN_DIMENSION: "region",
    BREAKDOWN_KPI: "nps",
    KPI_SECTION: "nps",
    NPS_DIMENSION: "channel",
    ENGAGEMENT_DIMENSION: "region",
    COHORT_METRIC: "retained_share",
    SURVIVAL_BY: "none",
    LOGGED_VIEWS: None,
    SEGMENT_SOURCE: "bank",
    SEGMENT_FEATURE_SET: "life stage and income",
    SEGMENT_ALGORITHM: "kmeans",
    SEGMENT_K: 0,
    SEGMENT_MAP_METHOD: "umap",
    SEGMENT_MAP_COLOR: "segment",
    MODEL_TARGET: "churn",
    MODEL_ID: None,
    MODEL_SECTION: "quality",
    MODEL_THRESHOLD: None,
    SHAP_KIND: "tree",
    DEPENDENCE_FEATURE: None,
    CUSTOMER_REF: "",
    FAIRNESS_SECTION: "models",
    FAIRNESS_SIGNED: None,
    DATA_SECTION: "quality",
    CONSENT_BY: "region",
    QUALITY_SHOW: "problems",
    AUDIT_WHO: "",
    AUDIT_ACTIONS: [],
    AUDIT_PERIOD: (),
    AUDIT_CUSTOMER: "",
    SUBJECT_REF: "",
    SUBJECT_CONFIRM: "",
}


def get(key: str) -> Any:
    """Read a session-state key, falling back to its default."""
    return st.session_state.get(key, DEFAULTS[key])
