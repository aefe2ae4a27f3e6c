"""AppTest of the A/B tests page: the read-out of each planted experiment, the SRM banner, the
sequential chart, segments, the power calculator, an uploaded experiment, and roles."""

from __future__ import annotations

import io
import json

import polars as pl
import pytest

from analytics.common.types import User
from analytics.experiments import power
from tests.app.conftest import REPO, new_app

PAGE = str(REPO / "pages" / "ab_tests.py")


def page(role: str = "marketing_analyst", **state):
    return new_app(PAGE, user=User(f"test_{role}", role), **state)


def charts(at) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def test_conversion_experiment_reads_out_with_decision_forest_and_sequence(bank):
    at = page(ab_experiment="exp01_savings_nudge").run()
    assert not at.exception
    assert at.title[0].value == "A/B tests"
    assert at.info[0].value.startswith("Treatment raised conversion by 1.51 pp")
    assert not at.error
    table = at.dataframe[1].value
    assert table["Metric"].iloc[0] == "Conversion" and table["Role"].iloc[0] == "primary"
    titles = [spec["layout"]["title"]["text"] for spec in charts(at)]
    assert any(t.startswith("Relative lift with 95% intervals") for t in titles)
    assert "Sequential monitoring: safe to look every day" in titles
    assert any("Benjamini-Hochberg" in c.value for c in at.caption)


def test_the_srm_experiment_shows_the_banner_not_to_trust_it(bank):
    at = page(ab_experiment="exp03_app_home_screen").run()
    assert not at.exception
    assert at.error[0].value.startswith("Sample ratio mismatch: control: 8,353 · treatment: 9,050")
    assert "do not trust this read-out" in at.error[0].value
    assert at.info[0].value.startswith("Do not trust this read-out")


def test_cuped_can_be_switched_off(bank):
    at = page(ab_experiment="exp04_cashback_spend").run()
    with_cuped = at.dataframe[1].value["CUPED variance cut"].iloc[0]
    assert with_cuped.endswith("%") and int(with_cuped.rstrip("%")) > 30
    at.toggle(key="ab_cuped").set_value(False).run()
    assert not at.exception
    assert at.dataframe[1].value["CUPED variance cut"].iloc[0] == "—"


def test_segment_dimension_changes_the_breakdown(bank):
    at = page(ab_experiment="exp01_savings_nudge").run()
    at.segmented_control(key="ab_dimension").set_value("age_band").run()
    assert not at.exception
    groups = set(at.dataframe[-1].value["Group"])
    assert groups <= {"18-24", "25-34", "35-44", "45-54", "55-64", "65+"} and len(groups) >= 4


def test_power_calculator_matches_the_library(bank):
    at = page(ab_section="power").run()
    assert not at.exception
    expected = power.sample_size(baseline=0.10, mde=0.05, kind="proportion", daily_traffic=2000)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Customers per arm"] == f"{expected.per_arm:,}"
    assert metrics["Runtime"] == f"{expected.days} days"


def test_uploaded_per_arm_summary_is_read_out(bank):
    at = page(ab_section="upload").run()
    content = pl.DataFrame(
        {"arm": ["control", "promo"], "n": [5000, 5000], "sum": [500.0, 600.0], "sum_sq": [500.0, 600.0]}
    ).write_csv()
    at.file_uploader[0].set_value(("summary.csv", content.encode(), "text/csv")).run()
    at.toggle(key="ab_upload_summary").set_value(True).run()
    at.selectbox(key="ab_upload_variant").set_value("arm").run()
    at.button(key="ab_upload_go").click().run()
    assert not at.exception
    assert at.info[0].value.startswith("Promo raised metric by 2.00 pp")
    assert at.dataframe[0].value["n"].tolist() == [5000, 5000]


def test_uploaded_file_with_a_text_metric_names_the_row(bank):
    at = page(ab_section="upload").run()
    content = "group,converted\nA,1\nB,0\nA,yes\n"
    at.file_uploader[0].set_value(("bad.csv", content.encode(), "text/csv")).run()
    at.selectbox(key="ab_upload_variant").set_value("group").run()
    at.selectbox(key="ab_upload_metric").set_value("converted").run()
    at.button(key="ab_upload_go").click().run()
    assert not at.exception
    assert at.error[0].value == "Column 'converted' must hold numbers (or true/false); row 3 holds 'yes'."


def test_an_uploaded_file_over_the_row_cap_is_refused_before_its_rows_are_read(bank):
    # Two million rows and one (the page's MAX_UPLOAD_ROWS + 1) as Parquet: a small file whose
    # metadata gives the exact count, refused by the capped reader before any arm is offered.
    buffer = io.BytesIO()
    pl.DataFrame({"arm": ["A", "B"] * 1_000_000 + ["A"], "y": 1}).write_parquet(buffer)
    at = page(ab_section="upload").run()
    at.file_uploader[0].set_value(("huge.parquet", buffer.getvalue(), "application/octet-stream")).run()
    assert not at.exception
    assert at.error[0].value == (
        "Cannot read huge.parquet: it has 2,000,001 rows, and at most 2,000,000 are read here. "
        "Use `python -m analytics abtest --input` for larger files."
    )
    assert not at.selectbox


@pytest.mark.parametrize("role", ["marketing_analyst", "admin"])
def test_roles_that_may_open_the_page(bank, role):
    at = page(role).run()
    assert not at.exception and at.title[0].value == "A/B tests"


@pytest.mark.parametrize("role", ["executive", "compliance_reviewer"])
def test_other_roles_are_refused(bank, role):
    at = page(role).run()
    assert "does not give access to this page" in at.error[0].value
