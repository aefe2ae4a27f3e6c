"""Reusable widgets: sign-in, the role gate, shared filters, KPI tiles, CSV export."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from datetime import date

import polars as pl
import streamlit as st

from analytics.access import auth
from analytics.access.privacy import log_personal_data_view
from analytics.common import uploads
from analytics.common.exports import formula_safe
from analytics.common.formatting import (
    escape_markdown,
    format_change,
    format_interval,
    format_month,
    format_value,
)
from analytics.common.types import AGE_BANDS, PRODUCT_IDS, REGIONS, KpiFilters, User
from analytics.segments.store import segment_label
from analytics.store.database import Database
from app import state

log = logging.getLogger("tailor")

MSG_NOT_SIGNED_IN = "Please sign in to use Tailor."
MSG_NO_ACCESS = "Your role ({role}) does not give access to this page. Ask an administrator if you need it."
MSG_UNEXPECTED = (
    "Something went wrong while drawing this page. The problem was logged with reference {ref}; "
    "please try again or report the reference to your administrator."
)

# (key, script relative to app/main.py, title, icon). A page is listed only for roles
# that may open it; each page checks the role again on the server side.
PAGES: tuple[tuple[str, str, str, str], ...] = (
    ("executive_summary", "../pages/executive_summary.py", "Executive summary", ":material/dashboard:"),
    ("kpis", "../pages/kpis.py", "KPIs", ":material/monitoring:"),
    ("segments", "../pages/segments.py", "Segments", ":material/scatter_plot:"),
    ("models", "../pages/models.py", "Models & explanations", ":material/model_training:"),
    ("ab_tests", "../pages/ab_tests.py", "A/B tests", ":material/science:"),
    ("fairness", "../pages/fairness.py", "Fairness & compliance", ":material/balance:"),
    ("data_privacy", "../pages/data_privacy.py", "Data & privacy", ":material/shield_person:"),
    ("account", "../pages/account.py", "Account", ":material/person:"),
)

# Pages that read the shared sidebar filters; the others do not show them.
FILTERED_PAGES = frozenset({"executive_summary", "kpis", "segments"})

PRODUCT_LABELS = {
    "current_account": "Current account",
    "savings": "Savings",
    "credit_card": "Credit card",
    "personal_loan": "Personal loan",
    "mortgage": "Mortgage",
    "investment_fund": "Investment fund",
    "insurance": "Insurance",
}
ROLE_LABELS = {
    "executive": "Executive",
    "marketing_analyst": "Marketing analyst",
    "compliance_reviewer": "Compliance reviewer",
    "admin": "Administrator",
}


def current_user() -> User | None:
    """The signed-in user of this browser session, if any."""
    user = state.get(state.USER)
    return user if isinstance(user, User) else None


def require_access(page: str) -> User:
    """Stop the script with a refusal unless the signed-in user's role may open ``page``.

    This is the server-side check every page makes first; hiding a menu entry is
    not a control.
    """
    user = current_user()
    if user is None:
        st.error(MSG_NOT_SIGNED_IN)
        st.stop()
    if not auth.can_view(user.role, page):
        st.error(MSG_NO_ACCESS.format(role=ROLE_LABELS.get(user.role, user.role)))
        st.stop()
    return user


def sign_in_form(db: Database) -> None:
    """Draw the sign-in form; on success store the user and rerun."""
    left, middle, right = st.columns([1, 1.2, 1])
    with middle:
        st.title("Tailor")
        st.caption(
            "Personalization analytics for banks. Sign in with the account your administrator gave you."
        )
        with st.form("sign_in", clear_on_submit=False):
            username = st.text_input("User name", key="sign_in_username")
            password = st.text_input("Password", type="password", key="sign_in_password")
            submitted = st.form_submit_button("Sign in", type="primary", width="stretch")
        if submitted:
            result = auth.authenticate(db, username, password)
            if result.ok and result.user is not None:
                st.session_state[state.USER] = result.user
                st.session_state.pop("sign_in_password", None)
                st.rerun()
            # A failed attempt costs the person a second: cheap for a human, slow for a script.
            time.sleep(1.0)
            st.error(result.message)


def sidebar_account(db: Database, user: User) -> None:
    """Who is signed in, and the sign-out button."""
    with st.sidebar:
        st.markdown(f"**{user.username}**  \n{ROLE_LABELS.get(user.role, user.role)}")
        if st.button("Sign out", key="sign_out"):
            db.write_audit(username=user.username, role=user.role, action="sign_out", target="sign_in")
            st.session_state.clear()
            st.rerun()


def _preset_range(months: list[date], preset: str) -> tuple[date, date]:
    length = state.PERIOD_PRESETS.get(preset) or 3
    end = months[-1]
    start = months[max(0, len(months) - length)]
    return start, end


def sidebar_filters(months: list[date], segments: pl.DataFrame | None = None) -> None:
    """Draw the filters shared by every page (period, region, age band, product, saved segment)."""
    if not months:
        return
    # Seed the widgets' keys with the defaults, so that a first visit shows the default
    # period (and no widget is given both a key value and a default).
    for key in (state.PERIOD_PRESET, state.REGIONS, state.AGE_BANDS, state.PRODUCTS):
        st.session_state.setdefault(key, state.DEFAULTS[key])
    with st.sidebar:
        st.subheader("Filters")
        preset = st.radio("Period", list(state.PERIOD_PRESETS), key=state.PERIOD_PRESET)
        if state.PERIOD_PRESETS.get(preset) is None:
            default_start, default_end = _preset_range(months, "Last 3 months")
            start = st.selectbox(
                "From",
                months,
                index=months.index(default_start),
                format_func=format_month,
                key=state.START_MONTH,
            )
            end = st.selectbox(
                "To", months, index=months.index(default_end), format_func=format_month, key=state.END_MONTH
            )
            if start > end:
                st.warning("'From' is after 'To'; the two are swapped.")
        st.multiselect("Region", REGIONS, key=state.REGIONS, placeholder="All regions")
        st.multiselect("Age band", AGE_BANDS, key=state.AGE_BANDS, placeholder="All ages")
        st.multiselect(
            "Product held",
            PRODUCT_IDS,
            key=state.PRODUCTS,
            format_func=lambda p: PRODUCT_LABELS.get(p, p),
            placeholder="All products",
        )
        if segments is not None and segments.height:
            labels = {row["segment_id"]: _segment_option(row) for row in segments.iter_rows(named=True)}
            st.selectbox(
                "Saved segment",
                [None, *labels],
                format_func=lambda s: "All customers" if s is None else labels.get(s, s),
                key=state.SEGMENT,
            )


def _segment_option(row: dict) -> str:
    stale = "" if row.get("current", True) else " · other data"
    return f"{segment_label(row)}{stale}"


def current_filters(months: list[date]) -> KpiFilters:
    """The shared filters as :class:`KpiFilters`, from session state with defaults."""
    preset = state.get(state.PERIOD_PRESET)
    if state.PERIOD_PRESETS.get(preset) is None:
        default_start, default_end = _preset_range(months, "Last 3 months")
        start = state.get(state.START_MONTH) or default_start
        end = state.get(state.END_MONTH) or default_end
        start, end = min(start, end), max(start, end)
    else:
        start, end = _preset_range(months, preset)
    return KpiFilters(
        start_month=start,
        end_month=end,
        regions=tuple(state.get(state.REGIONS)),
        age_bands=tuple(state.get(state.AGE_BANDS)),
        products=tuple(state.get(state.PRODUCTS)),
        segment_id=state.get(state.SEGMENT),
    )


def describe_filters(filters: KpiFilters, segments: pl.DataFrame | None = None) -> str:
    """One line naming the active slices, e.g. 'North, South · 25-34 · holders of Savings'."""
    parts = []
    if filters.segment_id:
        found = segments.filter(pl.col("segment_id") == filters.segment_id) if segments is not None else None
        name = (
            # The analyst's name goes into captions and st.info: escaped, it shows literally.
            segment_label({**found.row(0, named=True), "name": escape_markdown(found.item(0, "name"))})
            if found is not None and found.height
            else "a saved segment"
        )
        parts.append(f"segment {name}")
    if filters.regions:
        parts.append(", ".join(filters.regions))
    if filters.age_bands:
        parts.append("aged " + ", ".join(filters.age_bands))
    if filters.products:
        parts.append("holders of " + ", ".join(PRODUCT_LABELS.get(p, p) for p in filters.products))
    return " · ".join(parts) if parts else "all customers"


# Tiles are narrow: short names on the tile, the full name in its help.
SHORT_LABELS = {
    "nps": "NPS",
    "csat": "CSAT",
    "retention_rate": "Retention rate",
    "churn_rate": "Churn rate",
    "clv": "CLV (historical)",
    "engagement": "Engagement score",
    "cross_sell": "Products per customer",
    "ctr": "Click-through rate",
    "conversion_rate": "Conversion rate",
    "active_customers": "Monthly active customers",
}


def kpi_tile(kpi, *, higher_is_better: bool = True) -> None:
    """One KPI as a metric tile with its change against the previous period."""
    help_lines = [f"**{kpi.label}**"]
    interval = format_interval(kpi.ci_low, kpi.ci_high, kpi.unit)
    if interval:
        help_lines.append(f"95% interval {interval}")
    help_lines.append(f"Base: {kpi.n:,}")
    if kpi.previous is not None:
        help_lines.append(f"Previous period: {format_value(kpi.previous, kpi.unit)}")
    if kpi.change_significant is not None:
        help_lines.append(
            "Change is significant at 5%" if kpi.change_significant else "Change is within noise"
        )
    if kpi.note:
        help_lines.append(kpi.note)
    st.metric(
        SHORT_LABELS.get(kpi.name, kpi.label),
        format_value(kpi.value, kpi.unit),
        delta=format_change(kpi.change, kpi.unit),
        delta_color="normal" if higher_is_better else "inverse",
        help="  \n".join(help_lines),
        border=True,
        delta_description="vs previous period" if kpi.change is not None else None,
    )
    if interval:
        st.caption(f"95% CI {interval}")


def csv_download(
    frame: pl.DataFrame,
    *,
    file_name: str,
    key: str,
    label: str = "Download CSV",
    on_download: Callable[[], None] | None = None,
) -> None:
    """A button that downloads ``frame`` as CSV (the table behind a chart).

    ``on_download`` runs on the server when the button is clicked (an export of customer rows
    writes its audit row there); without it the click does not rerun the page.
    """
    st.download_button(
        label,
        data=formula_safe(frame).write_csv().encode("utf-8"),
        file_name=file_name,
        mime="text/csv",
        key=key,
        icon=":material/download:",
        on_click=on_download or "ignore",
    )


def read_upload(upload, *, max_rows: int, too_many: str = "") -> pl.DataFrame | None:
    """An uploaded CSV or Parquet file as a table, or None after showing why it cannot be read.

    Every upload has a row cap, checked before the file is read whole (``uploads.read_table``).
    ``too_many`` is the page's next step for a file over it, shown after the refusal. The refusal
    names the file, and whoever made the file chose its name: the name is markdown-escaped in it,
    so it can put neither a link nor an image into the message.
    """
    try:
        return uploads.read_table(upload.getvalue(), name=upload.name, max_rows=max_rows)
    except uploads.TooManyRowsError as exc:
        st.error(f"{_escape_name(exc, upload.name)} {too_many}".strip())
    except ValueError as exc:
        st.error(_escape_name(exc, upload.name))
    return None


def _escape_name(exc: Exception, name: str) -> str:
    return str(exc).replace(name, escape_markdown(name)) if name else str(exc)


def log_view_once(db: Database, user: User, *, target: str, details: dict) -> None:
    """Audit a view of raw personal data once per distinct view and session (not on every rerun)."""
    logged = st.session_state.setdefault(state.LOGGED_VIEWS, set())
    fingerprint = (target, tuple(sorted((k, str(v)) for k, v in details.items())))
    if fingerprint not in logged:
        log_personal_data_view(db, username=user.username, role=user.role, target=target, details=details)
        logged.add(fingerprint)


def show_unexpected_error(exc: BaseException) -> None:
    """Log the exception server-side and show the person a plain message, never a traceback."""
    ref = uuid.uuid4().hex[:8]
    log.exception("unexpected error %s", ref, exc_info=exc)
    st.error(MSG_UNEXPECTED.format(ref=ref))
