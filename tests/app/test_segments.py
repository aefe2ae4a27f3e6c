"""AppTest of the Segments page: run a segmentation, name and save a segment, see it offered
as a filter on the executive page; consent, roles, every algorithm; an uploaded table with its
scaling per column."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
from sklearn.datasets import make_blobs

from analytics.common.types import User
from analytics.segments import features
from app import components, resources
from tests.app.conftest import MAIN, REPO, new_app

PAGE = str(REPO / "pages" / "segments.py")


def page(role: str = "marketing_analyst", **state):
    return new_app(PAGE, user=User(f"test_{role}", role), **state)


def app_db():
    return resources.get_database(resources.database_path())


def test_analyst_segments_saves_and_finds_the_segment_on_the_executive_page(bank):
    at = page().run()
    assert not at.exception
    assert at.title[0].value == "Segments"
    k = int(at.metric[0].value)
    assert 5 <= k <= 7  # the planted six personas, within one
    refused = (
        app_db()
        .query("SELECT count(*) FROM customers WHERE NOT consent_profiling AND closed_at IS NULL")
        .item()
    )
    assert f"{refused:,} customers without profiling consent are left out" in at.caption[0].value
    profiles = at.dataframe[0].value
    assert len(profiles) == k and profiles["Customers"].sum() > 10_000
    maps = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    assert any(trace["type"] == "scattergl" for spec in maps for trace in spec["data"])
    at.text_input(key="segment_name_0").set_value("Young salaried")
    at.button(key="save_cluster").click().run()
    assert not at.exception
    assert at.success[0].value.startswith("Saved “Young salaried” (version 1,")
    saved = app_db().query("SELECT segment_id, customers FROM segments WHERE name = 'Young salaried'").row(0)
    audit = app_db().query("SELECT target FROM audit_log WHERE action = 'save_segment'").get_column("target")
    assert saved[0] in audit.to_list()

    executive = new_app(MAIN, user=User("test_marketing_analyst", "marketing_analyst")).run()
    options = executive.selectbox(key="filter_segment").options
    assert f"Young salaried (v1, {saved[1]:,} customers)" in options


def test_executives_and_reviewers_do_not_open_segments(bank):
    for role, label in (("executive", "Executive"), ("compliance_reviewer", "Compliance reviewer")):
        at = page(role).run()
        assert not at.exception
        assert at.error[0].value == components.MSG_NO_ACCESS.format(role=label)


def test_a_chosen_k_and_algorithm_are_used(bank):
    at = page(segment_feature_set="life stage and income", segment_algorithm="gmm", segment_k=3).run()
    assert not at.exception
    assert at.metric[0].value == "3"


@pytest.mark.parametrize("algorithm", ["hdbscan", "agglomerative"])
def test_other_algorithms_run(bank, algorithm):
    at = page(segment_algorithm=algorithm, segment_k=6 if algorithm == "agglomerative" else 0).run()
    assert not at.exception
    assert len(at.dataframe[0].value) >= 2


def test_pca_preview_and_an_audited_masked_export(bank):
    from analytics.segments import store as segment_store
    from analytics.store.database import Database

    db = Database(bank)
    ids = db.query("SELECT customer_id FROM customers WHERE region = 'West'").get_column("customer_id")
    segment_store.save_segment(db, name="West", customer_ids=ids, source="upload", created_by="t")
    db.close()
    at = page(segment_map_method="pca").run()
    assert not at.exception
    maps = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    assert any(trace["type"] == "scattergl" for spec in maps for trace in spec["data"])
    at.button(key="prepare_export").click().run()
    assert not at.exception
    # A marketing list: marketing and profiling consent, open accounts (docs/privacy.md).
    note = next(c.value for c in at.caption if "left out (no marketing or profiling consent" in c.value)
    assert "Personal data masked for your role" in note
    exports = (
        app_db().query("SELECT details FROM audit_log WHERE action = 'export_segment'").get_column("details")
    )
    assert json.loads(exports[0])["raw"] is False


def test_admin_sees_customer_numbers_on_the_map_and_the_view_is_logged_once(bank):
    at = page("admin").run()
    at.run()
    assert not at.exception
    logged = (
        app_db()
        .query("SELECT target FROM audit_log WHERE action = 'view_personal_data'")
        .get_column("target")
    )
    assert logged.to_list() == ["segment_map"]


def test_review_edge_cases_hdbscan_on_everything_no_clv_colours_and_filters(bank):
    at = page(segment_algorithm="hdbscan", segment_feature_set="everything").run()
    assert not at.exception
    plain = page(segment_k=3).run()
    options = plain.selectbox(key="segment_map_color").options
    assert "P(alive)" not in options  # no CLV fit stored in this bank: not offered
    # The profile KPIs cover each whole segment whatever the sidebar's region says.
    north = page(segment_k=3, filter_regions=["North"]).run()
    assert not north.exception
    assert north.dataframe[0].value.equals(plain.dataframe[0].value)


def _blobs() -> pl.DataFrame:
    X, _ = make_blobs(n_samples=600, centers=3, n_features=3, random_state=2)
    return pl.DataFrame(
        {"customer_id": np.arange(600), "spend": np.exp(X[:, 0]), "x1": X[:, 1], "x2": X[:, 2]}
    )


def _upload(at, table: pl.DataFrame):
    return at.file_uploader[0].set_value(("customers.csv", table.write_csv().encode(), "text/csv")).run()


def test_an_upload_shows_each_columns_scaling_and_takes_an_override(bank):
    table = _blobs()
    at = _upload(page(segment_source="upload").run(), table)
    assert not at.exception
    shown = pl.from_pandas(at.dataframe[0].value)
    expected = features.choose_scaling(table, ["spend", "x1", "x2"])
    assert shown.rows() == expected.rows()
    assert shown.get_column("Scaling").to_list() == ["log", "standard", "standard"]
    at.selectbox(key="segment_upload_scaling_x1").set_value("yeo_johnson").run()
    at.number_input(key="segment_upload_k").set_value(3).run()
    at.button(key="segment_upload_run").click().run()
    assert not at.exception
    x1 = pl.from_pandas(at.dataframe[0].value).row(1, named=True)
    assert (x1["Scaling"], x1["Chosen by"]) == ("yeo_johnson", "user")
    assert x1["Why"].startswith("set by the user (automatic: standard, skewness")
    assert at.metric[0].value == "3"
    assert at.dataframe[1].value["Customers"].sum() == 600


def test_an_override_that_does_not_fit_the_column_is_refused_by_name(bank):
    table = _blobs()
    at = _upload(page(segment_source="upload").run(), table)
    at.selectbox(key="segment_upload_scaling_x1").set_value("share").run()
    assert not at.exception
    x1 = table.get_column("x1")
    assert at.error[0].value == features.MSG_NOT_A_SHARE.format(
        column="x1", minimum=x1.min(), maximum=x1.max()
    )
