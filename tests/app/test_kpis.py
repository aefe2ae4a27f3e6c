"""AppTest of the KPIs page: every section, every role, the numbers against the library."""

from __future__ import annotations

import json

import pytest

from analytics.common.types import User
from analytics.kpis import cubes, nps
from analytics.store.database import Database
from app import components, resources
from tests.app.conftest import REPO, new_app

PAGE = str(REPO / "pages" / "kpis.py")


def page(role: str, section: str = "nps", **state):
    return new_app(PAGE, user=User(f"test_{role}", role), kpi_section=section, **state)


def metric(at, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def app_db() -> Database:
    """The app's own connection (a second one to the same file in this process is refused)."""
    return resources.get_database(resources.database_path())


def audit(action: str) -> list[dict]:
    return (
        app_db()
        .query("SELECT username, target, details FROM audit_log WHERE action = ?", [action])
        .to_dicts()
    )


@pytest.mark.parametrize("role", ["executive", "marketing_analyst", "admin"])
def test_nps_section_for_every_role_with_access(bank, role):
    at = page(role).run()
    assert not at.exception
    assert at.title[0].value == "KPIs"
    value = float(metric(at, "NPS"))
    backend = app_db().backend()
    expected = nps.compute_nps_drilldown(backend, cubes.default_filters(backend), dimensions=())
    assert value == pytest.approx(expected.current.nps, abs=0.05)
    assert int(metric(at, "Answers").replace(",", "")) == expected.current.answers
    assert any("within noise" in m.value or "significant" in m.value for m in at.markdown)
    assert len(at.get("plotly_chart")) >= 4


def test_compliance_reviewer_is_refused_on_the_server(bank):
    at = page("compliance_reviewer").run()
    assert not at.exception
    assert at.error[0].value == components.MSG_NO_ACCESS.format(role="Compliance reviewer")
    assert not at.metric


def test_analyst_reads_redacted_comments_admin_reads_them_logged(bank):
    analyst = page("marketing_analyst", nps_comment_category="detractor").run()
    comments = analyst.dataframe[-1].value
    assert len(comments) > 0
    assert not comments["comment"].str.contains("@").any()
    assert comments["customer_id"].str.startswith("C-").all()
    assert not audit("view_personal_data")
    admin = page("admin", nps_comment_category="detractor").run()
    raw = admin.dataframe[-1].value
    assert len(raw) == len(comments)
    assert raw["comment"].str.contains("@").any()
    logged = audit("view_personal_data")
    assert logged and logged[0]["target"] == "nps_comments"
    assert json.loads(logged[0]["details"])["rows"] == len(raw)


def test_segment_breakdown_shows_rfm_groups(bank):
    at = page("marketing_analyst", nps_dimension="segment").run()
    assert not at.exception
    groups = at.dataframe[0].value["Segment"].to_list()
    assert "Champions" in groups and "Lost" in groups


def test_comparing_two_groups_states_the_test(bank):
    at = page("marketing_analyst", nps_dimension="age_band").run()
    at.selectbox(key="nps_compare_a_age_band").set_value("65+")
    at.selectbox(key="nps_compare_b_age_band").set_value("25-34").run()
    assert not at.exception
    sentence = next(m.value for m in at.markdown if m.value.startswith("65+ ("))
    assert "25-34" in sentence and "p =" in sentence and "at 5%" in sentence


def test_engagement_section_shows_drivers_movement_and_rfm(bank):
    at = page("marketing_analyst", "engagement").run()
    assert not at.exception
    score = float(metric(at, "Engagement score"))
    drivers = at.dataframe[0].value
    assert drivers["Points"].sum() == pytest.approx(score, abs=0.05)
    rfm = at.dataframe[-1].value
    assert rfm["Group"].to_list()[0] == "Champions" and len(rfm) == 11


def test_clv_without_a_fit_says_how_to_make_one_and_analyst_fits_it(bank):
    executive = page("executive", "clv").run()
    assert not executive.exception
    assert "python -m analytics clv" in executive.info[0].value
    assert not executive.button
    analyst = page("marketing_analyst", "clv").run()
    analyst.button(key="clv_fit").click().run()
    assert not analyst.exception
    assert int(metric(analyst, "Customers").replace(",", "")) > 10_000
    assert any("transactions predicted" in c.value for c in analyst.caption)
    assert "Does the model predict? Holdout check" in [h.value for h in analyst.subheader]
    check = json.loads(analyst.get("plotly_chart")[0].proto.spec)
    assert check["layout"]["xaxis"]["type"] == "category"  # "7+" is a label, not a number
    assert check["data"][0]["x"] == ["0", "1", "2", "3", "4", "5", "6", "7+"]
    assert [row["target"] for row in audit("fit_model")] == ["clv"]
    top = analyst.dataframe[-1].value
    assert top["customer_id"].str.startswith("C-").all()
    # Downloading the list is an export of customer rows: audited per click, in the user's name.
    assert audit("export") == []
    analyst.download_button(key="clv_top_csv").click().run()
    assert not analyst.exception
    exports = audit("export")
    who = [(e["username"], e["target"]) for e in exports]
    assert who == [("test_marketing_analyst", "clv_top_customers")]
    assert json.loads(exports[0]["details"])["rows"] == len(top)


def test_retention_section_draws_the_cohort_heat_map_and_curves(bank):
    at = page("executive", "retention").run()
    assert not at.exception
    charts = at.get("plotly_chart")
    heat = json.loads(charts[0].proto.spec)["data"][0]
    assert heat["type"] == "heatmap" and len(heat["y"]) == 24
    assert heat["z"][0][0] == pytest.approx(100.0)  # everyone is a customer in the month they join
    assert not any(m.value.startswith("Log-rank") for m in at.markdown)  # one curve, no test
    at.selectbox(key="survival_by").set_value("age_band").run()
    assert not at.exception
    assert any(m.value.startswith("Log-rank test across the groups") for m in at.markdown)
    assert sorted(at.dataframe[-1].value["Group"].unique()) == [
        "18-24",
        "25-34",
        "35-44",
        "45-54",
        "55-64",
        "65+",
    ]


def test_a_raw_view_is_logged_once_per_session_not_per_rerun(bank):
    at = page("admin", nps_comment_category="promoter").run()
    at.run()
    assert len(audit("view_personal_data")) == 1
    at.selectbox(key="nps_comment_category").set_value("detractor").run()
    assert len(audit("view_personal_data")) == 2


def test_tiny_slices_never_raise(bank):
    # One answer per group and groups identical in mix: the comparison says why there is no test.
    at = page(
        "executive",
        filter_regions=["North"],
        filter_age_bands=["18-24"],
        filter_products=["mortgage", "personal_loan"],
        nps_dimension="segment",
    ).run()
    assert not at.exception
    for section in ("retention", "clv", "engagement"):
        at = page(
            "executive",
            section,
            period_preset="Last month",
            filter_regions=["North"],
            filter_age_bands=["18-24"],
            filter_products=["investment_fund"],
        ).run()
        assert not at.exception, section
