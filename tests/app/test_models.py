"""AppTest of the Models & explanations page: quality against sklearn on the stored test scores,
the threshold, the stored SHAP views, one customer's reasons, what-if, the audit, segments, an
upload, and who may open the page."""

from __future__ import annotations

import base64
import json
import re

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import roc_auc_score

from analytics.access import auth
from analytics.access.privacy import pseudonym_key, pseudonymize_ids
from analytics.common.types import User
from analytics.models import customer_explanations, explanations, quality_views
from analytics.models import registry as model_registry
from analytics.segments import store as segment_store
from app import resources
from tests.app.conftest import REPO, new_app

PAGE = str(REPO / "pages" / "models.py")


def page(role: str = "marketing_analyst", **state):
    return new_app(PAGE, user=User(f"test_{role}", role), **state)


def app_db():
    return resources.get_database(resources.database_path())


def churn_id() -> str:
    return model_registry.latest_model(app_db().backend(), "churn").model_id


def values(data) -> np.ndarray:
    """A trace's data array: a list, or Plotly's typed array (dtype + base64 bytes) for numpy input."""
    if isinstance(data, dict):
        return np.frombuffer(base64.b64decode(data["bdata"]), dtype=data["dtype"])
    return np.asarray(data)


def charts(at) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def sent_to_browser(at) -> list[str]:
    """Every node AppTest holds as text: its proto (element and form ids with their keys, labels,
    help, placeholders, options, values, captions, chart specs) and its widget key."""
    texts = []
    for node in at._tree:
        proto = getattr(node, "proto", None)
        if proto is not None:
            texts.append(str(proto))
        if isinstance(getattr(node, "key", None), str):
            texts.append(node.key)
    return texts


def mentions(texts: list[str], customer: int) -> list[str]:
    """The texts naming ``customer`` as a number of its own (not inside a hex hash or a decimal)."""
    pattern = re.compile(rf"(?<![0-9A-Za-z.]){customer}(?![0-9])")
    return [text for text in texts if pattern.search(text)]


def customer_with_a_what_if() -> tuple[int, str]:
    """A customer with four or more support contacts (the churn driver), and their masked id."""
    db = app_db()
    customer = int(
        db.query(
            "select customer_id from customer_features"
            " join (select customer_id from customers where consent_profiling) using (customer_id)"
            " where support_contacts >= 4"
            " order by customer_id desc limit 1"
        ).item()
    )
    return customer, pseudonymize_ids(pl.Series([customer]), pseudonym_key(db))[0]


def test_quality_metrics_equal_sklearn_on_the_stored_test_scores_and_the_threshold_moves(model_bank):
    at = page().run()
    assert not at.exception
    assert at.title[0].value == "Models & explanations"
    scores = quality_views.load_test_scores(app_db().backend(), churn_id())
    y = scores["label"].to_numpy()
    auc = roc_auc_score(y, scores["score"].to_numpy())
    metrics = {m.label: m for m in at.metric}
    assert metrics["AUC"].value == f"{auc:.3f}"
    assert metrics["Test customers"].value == f"{scores.height:,}"
    threshold = 0.1
    at.slider(key=f"model_threshold_{churn_id()}").set_value(threshold).run()
    assert not at.exception
    flagged = int((scores["score"].to_numpy() >= threshold).sum())
    tp = int(((scores["score"].to_numpy() >= threshold) & (y == 1)).sum())
    matrix = at.dataframe[0].value
    assert int(matrix["Flagged"].sum()) == flagged and int(matrix["Flagged"].iloc[0]) == tp
    assert f"{flagged:,} flagged" in at.markdown[0].value
    titles = {spec["layout"]["title"]["text"] for spec in charts(at) if "title" in spec["layout"]}
    assert {"ROC curve", "Precision and recall", "Cumulative gains"} <= titles
    psi = next(spec for spec in charts(at) if spec["data"][0].get("orientation") == "h")
    assert len(psi["data"][0]["x"]) == len(model_registry.get_model(app_db().backend(), churn_id()).features)


def test_explanations_draw_importance_beeswarm_and_dependence_from_the_stored_sample(model_bank):
    at = page(model_section="explanations").run()
    assert not at.exception
    specs = charts(at)
    importance = specs[0]["data"][0]
    assert importance["y"][0] == "support contacts"  # the strongest planted churn driver
    beeswarm = next(s for s in specs if "Beeswarm" in s["layout"]["title"]["text"])
    meta = explanations.load_explanation_meta(app_db().backend(), churn_id())["tree"]
    assert {trace["type"] for trace in beeswarm["data"]} == {"scattergl"}
    assert sum(values(trace["x"]).size for trace in beeswarm["data"]) == 12 * meta.rows
    # nps_score is missing for many customers: those points form the grey trace.
    assert beeswarm["data"][1]["name"] == "value missing" and values(beeswarm["data"][1]["x"]).size > 0
    dependence = next(s for s in specs if s["layout"]["title"]["text"].startswith("Dependence"))
    assert "its strongest interaction" in dependence["layout"]["title"]["text"]
    at.segmented_control(key="shap_kind").set_value("baseline").run()
    assert not at.exception
    assert any("linear SHAP in log-odds of the baseline's probability" in c.value for c in at.caption)


def test_one_customer_by_masked_id_gives_three_reasons_a_waterfall_and_an_audit_entry(model_bank):
    db = app_db()
    customer = int(
        db.query(
            "select customer_id from customer_features"
            " join (select customer_id from customers where consent_profiling) using (customer_id)"
            " order by customer_id limit 1 offset 10"
        ).item()
    )
    masked = pseudonymize_ids(pl.Series([customer]), pseudonym_key(db))[0]
    at = page(model_section="customer", customer_ref=masked).run()
    assert not at.exception
    assert at.subheader[0].value == f"Customer {masked}"
    reasons = [m.value for m in at.markdown if m.value.startswith("- ")]
    assert len(reasons) == 3 and all("churn risk by" in r for r in reasons)
    score = model_registry.load_predictions(db.backend(), churn_id()).filter(
        pl.col("customer_id") == customer
    )
    assert at.metric[0].value == f"{score['score'][0] * 100:.1f}%"
    waterfall = next(s for s in charts(at) if s["data"][0]["type"] == "waterfall")
    assert waterfall["data"][0]["measure"][-1] == "total"
    audit = db.query("select action, target, details from audit_log where target = 'model_explanation'")
    assert audit.height == 1 and masked in audit["details"][0] and str(customer) not in audit["details"][0]
    at.run()  # a rerun is not a second view
    assert db.query("select count(*) from audit_log where target = 'model_explanation'").item() == 1


def test_what_if_re_scores_with_the_edited_values(model_bank):
    db = app_db()
    row = db.query(
        "select customer_id from customer_features"
        " join (select customer_id from customers where consent_profiling) using (customer_id)"
        " where support_contacts >= 4 limit 1"
    )
    customer = int(row.item())
    masked = pseudonymize_ids(pl.Series([customer]), pseudonym_key(db))[0]
    at = page(model_section="customer", customer_ref=masked).run()
    before = at.metric[0].value
    at.number_input(key=f"wi_{churn_id()}_{masked}_support_contacts").set_value(0)
    at.button[0].click().run()
    assert not at.exception
    after = next(m for m in at.metric if m.label == "Score with these values")
    assert float(after.value.rstrip("%")) < float(before.rstrip("%"))
    loaded = model_registry.load_model(db, churn_id())
    edited = customer_explanations.apply_what_if(
        customer_explanations.load_customer_features(
            db.backend(), customer, as_of=db.snapshot_date(), shown_as=masked
        ),
        {"support_contacts": 0},
        features=loaded.features,
    )
    assert after.value == f"{loaded.predict_proba(edited)[0] * 100:.1f}%"
    assert any(c.value == "Changed: support contacts." for c in at.caption)


def test_what_if_starts_from_each_customers_own_values_and_an_untouched_form_keeps_the_score(model_bank):
    db = app_db()
    # Two customers with different support contacts, the second without an NPS answer (missing).
    first = int(
        db.query(
            "select customer_id from customer_features"
            " join (select customer_id from customers where consent_profiling) using (customer_id)"
            " where support_contacts = 4 limit 1"
        ).item()
    )
    second = db.query(
        "select customer_id from customer_features"
        " join (select customer_id from customers where consent_profiling) using (customer_id)"
        " where support_contacts = 5 and nps_score is null"
        " order by customer_id limit 1"
    ).item()
    key = pseudonym_key(db)
    masked_second = pseudonymize_ids(pl.Series([second]), key)[0]
    at = page(model_section="customer", customer_ref=pseudonymize_ids(pl.Series([first]), key)[0]).run()
    at.text_input(key="customer_ref").set_value(masked_second).run()
    assert not at.exception
    assert at.number_input(key=f"wi_{churn_id()}_{masked_second}_support_contacts").value == 5
    before = at.metric[0].value
    at.button[0].click().run()  # nothing edited
    assert next(m for m in at.metric if m.label == "Score with these values").value == before
    assert any(c.value == "Changed: nothing changed." for c in at.caption)


def test_no_widget_key_element_id_or_text_carries_a_masked_customers_number(model_bank):
    # Streamlit writes a widget's key into the element id it sends to the browser.
    customer, masked = customer_with_a_what_if()
    at = page(model_section="customer", customer_ref=masked).run()
    assert not at.exception
    assert at.subheader[0].value == f"Customer {masked}"
    assert mentions(sent_to_browser(at), customer) == []
    what_if = at.number_input(key=f"wi_{churn_id()}_{masked}_support_contacts")
    assert masked in what_if.proto.id and what_if.proto.form_id == f"wi_{churn_id()}_{masked}_form"
    what_if.set_value(0)
    at.button[0].click().run()
    assert not at.exception
    assert any(m.label == "Score with these values" for m in at.metric)
    assert mentions(sent_to_browser(at), customer) == []


def test_an_admin_still_sees_the_customer_number_and_the_what_if_works(model_bank):
    customer, masked = customer_with_a_what_if()
    at = page("admin", model_section="customer", customer_ref=str(customer)).run()
    assert not at.exception
    assert at.subheader[0].value == f"Customer {customer} ({masked})"
    at.number_input(key=f"wi_{churn_id()}_{masked}_support_contacts").set_value(0)
    at.button[0].click().run()
    assert not at.exception
    assert any(m.label == "Score with these values" for m in at.metric)
    widget_keys = [node.key for node in at._tree if isinstance(getattr(node, "key", None), str)]
    assert mentions(widget_keys, customer) == []


def test_a_bad_or_unknown_customer_reference_is_named(model_bank):
    at = page(model_section="customer", customer_ref="12345").run()
    assert not at.exception
    assert at.error[0].value.startswith("'12345' is not a customer reference: type a masked id")
    at = page(model_section="customer", customer_ref="C-000000000000").run()
    assert at.error[0].value == "No current customer has the masked id 'C-000000000000'."


def test_a_too_long_customer_number_is_a_bad_reference_not_a_crash(model_bank):
    at = page("compliance_reviewer", model_section="customer", customer_ref="99999999999999999999999").run()
    assert not at.exception
    assert at.error[0].value.startswith("'99999999999999999999999' is not a customer reference")


def test_admins_view_of_the_top_scores_with_customer_numbers_is_audited(model_bank):
    at = page("admin", model_section="customer").run()
    assert not at.exception
    assert any("this view is logged" in c.value for c in at.caption)
    assert app_db().query("select count(*) from audit_log where target = 'model_top_scores'").item() == 1


def test_compliance_reviewer_may_look_up_a_customer_number_and_sees_it(model_bank):
    db = app_db()
    customer = int(
        db.query(
            "select customer_id from customer_features"
            " join (select customer_id from customers where consent_profiling) using (customer_id)"
            " order by customer_id limit 1"
        ).item()
    )
    at = page("compliance_reviewer", model_section="customer", customer_ref=str(customer)).run()
    assert not at.exception
    assert at.subheader[0].value.startswith(f"Customer {customer} (C-")
    details = db.query("select details from audit_log where target = 'model_explanation'").item()
    # The audit entry names the customer by pseudonym, never the number (erasure needs no rewrite).
    masked = pseudonymize_ids(pl.Series([customer]), pseudonym_key(db))[0]
    assert json.loads(details)["customer"] == masked and str(customer) not in details


def test_top_scores_pick_list_excludes_refused_consent_and_opens_the_customer(model_bank):
    at = page(model_section="customer").run()
    box = at.selectbox(key="customer_pick")
    top = resources.top_scored(resources.database_path(), churn_id(), "marketing_analyst")
    refused = set(
        app_db().query("select customer_id from customers where not consent_profiling")["customer_id"]
    )
    assert top.height == 20 and not (set(top["customer_id"]) & refused)
    box.set_value(top["masked_id"][0]).run()
    assert not at.exception
    assert at.subheader[0].value == f"Customer {top['masked_id'][0]}"


def test_segment_comparison_of_a_saved_segment(model_bank):
    db = app_db()
    matrix = explanations.load_shap_matrix(db.backend(), churn_id())
    members = pl.Series("customer_id", matrix.customer_ids[:300])
    segment_store.save_segment(db, name="First 300", customer_ids=members, created_by="t", source="upload")
    at = page(model_section="segments").run()
    assert not at.exception
    assert any(
        c.value.startswith("300 of the segment's 300 customers are in the stored SHAP") for c in at.caption
    )
    bars = next(s for s in charts(at) if s["layout"].get("barmode") == "group")
    in_segment = dict(zip(bars["data"][0]["y"], bars["data"][0]["x"], strict=True))
    first = bars["data"][0]["y"][0].replace(" ", "_")
    j = matrix.features.index(first)
    assert in_segment[bars["data"][0]["y"][0]] == pytest.approx(np.abs(matrix.shap[:300, j]).mean())


def test_upload_trains_and_explains_a_table(model_bank):
    rng = np.random.default_rng(4)
    n = 600
    x = rng.normal(size=n)
    table = pl.DataFrame(
        {
            "client_id": np.arange(n),
            "x": x,
            "noise": rng.normal(size=n),
            "plan": rng.choice(["basic", "plus"], size=n),
            "bought": np.where(x + 0.3 * rng.normal(size=n) > 0.5, "yes", "no"),
        }
    )
    at = page(model_section="upload").run()
    at.file_uploader[0].set_value(("customers.csv", table.write_csv().encode(), "text/csv")).run()
    at.selectbox(key="upload_target").set_value("bought").run()
    at.selectbox(key="upload_positive").set_value("yes").run()
    at.button(key="upload_train").click().run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert float(metrics["Holdout AUC"]) > 0.9
    importance = at.dataframe[0].value
    assert importance["Feature"].iloc[0] == "x" and importance["Higher values"].iloc[0] == "+"
    assert any("'client_id' looks like an identifier" in c.value for c in at.caption)
    assert len(at.get("download_button")) == 2


def test_upload_of_a_one_class_target_is_refused_with_its_message(model_bank):
    at = page(model_section="upload").run()
    content = pl.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "y": ["a", "a", "a", "a"]}).write_csv().encode()
    at.file_uploader[0].set_value(("one.csv", content, "text/csv")).run()
    at.selectbox(key="upload_target").set_value("y").run()
    at.button(key="upload_train").click().run()
    assert not at.exception
    assert (
        at.error[0].value
        == "The target column 'y' has one value only ('a') on its 4 rows: a model needs two classes."
    )


def test_upload_refusals_list_target_and_a_column_named_like_the_row_index(model_bank, tmp_path):
    rows = 40
    table = pl.DataFrame(
        {
            "__row": list(range(rows)),
            "x": [float(i % 7) for i in range(rows)],
            "tags": [[i] for i in range(rows)],
            "y": ["a" if i % 2 else "b" for i in range(rows)],
        }
    )
    path = tmp_path / "t.parquet"
    table.write_parquet(path)
    at = page(model_section="upload").run()
    at.file_uploader[0].set_value(("t.parquet", path.read_bytes(), "application/octet-stream")).run()
    at.selectbox(key="upload_target").set_value("tags").run()
    assert not at.exception
    assert at.error[0].value.startswith("The target column 'tags' holds List(Int64) values")
    at.selectbox(key="upload_target").set_value("y").run()
    at.selectbox(key="upload_positive").set_value("a").run()
    at.button(key="upload_train").click().run()
    assert not at.exception  # the table's own __row column no longer clashes with the row index
    assert any(m.label == "Holdout AUC" for m in at.metric)


def test_without_models_the_page_says_how_to_train_them(bank):
    at = page().run()
    assert not at.exception
    assert at.info[0].value.startswith("No model is registered yet. `make run` trains them on first start")


@pytest.mark.parametrize("role", ["marketing_analyst", "compliance_reviewer", "admin"])
def test_roles_that_may_open_the_page_see_it(model_bank, role):
    at = page(role).run()
    assert not at.exception and at.title[0].value == "Models & explanations"


def test_executives_are_refused_even_with_models_registered(model_bank):
    at = page("executive").run()
    assert not at.exception
    assert "does not give access to this page" in at.error[0].value
    assert auth.can_view("compliance_reviewer", "models") and not auth.can_view("executive", "models")
