"""AppTest of the Fairness & compliance page: what each role sees, the figures against direct counts,
signing (stored report and hash, audit log), mitigation decisions, experiments and uploads."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import polars as pl
from scipy import stats

from analytics.common.types import User
from analytics.fairness import exposure_audits, model_audits, signoffs
from analytics.models import registry as model_registry
from app import resources
from tests.app.conftest import REPO, new_app

PAGE = str(REPO / "pages" / "fairness.py")


def page(role: str = "compliance_reviewer", **state):
    return new_app(PAGE, user=User(f"test_{role}", role), **state)


def app_db():
    return resources.get_database(resources.database_path())


def churn_id() -> str:
    return model_registry.latest_model(app_db().backend(), "churn").model_id


def frame(at, containing: str):
    """The first dataframe with a column ``containing`` (pandas, as AppTest returns it)."""
    return next(df.value for df in at.dataframe if containing in df.value.columns)


def test_a_reviewer_sees_the_model_audit_with_rates_equal_to_a_direct_count(model_bank):
    at = page().run()
    assert not at.exception
    assert at.title[0].value == "Fairness & compliance"
    backend = app_db().backend()
    scores = backend.table("model_test_scores")
    rows = scores.filter(scores.model_id == churn_id()).to_polars()
    # The default threshold flags the top 10% of the test customers, as on the Models page.
    threshold = round(float(np.quantile(rows["score"].to_numpy(), 0.9)), 3)
    assert at.slider(key=f"fairness_threshold_{churn_id()}").value == threshold
    customers = backend.table("customers").select("customer_id", "gender").to_polars()
    joined = rows.join(customers, on="customer_id")
    female = joined.filter(pl.col("gender") == "female")
    expected = float((female["score"] >= threshold).mean())
    groups = frame(at, "Selection rate")
    shown = groups.set_index("Group").loc["female", "Selection rate"]
    assert shown == f"{expected:.1%}"
    verdicts = [e.value for e in at.error] + [s.value for s in at.success] + [w.value for w in at.warning]
    assert any("four-fifths" in v or "within 0.8-1.25" in v or "crosses 0.8" in v for v in verdicts)
    assert any(b.label == "Sign and store the report" for b in at.button)


def test_the_credit_decision_fails_and_the_gap_holds_within_credit_bands(model_bank):
    at = page(fairness_section="offers").run()
    assert not at.exception
    assert at.selectbox(key="fairness_offer").value == "credit"
    assert at.error and at.error[0].value.startswith("**Fail**")
    banner = at.error[0].value
    assert "Rule: four-fifths rule" in banner and "0.8; 95% katz-log intervals" in banner
    strata = frame(at, "Credit band")
    judged = strata[strata["Verdict"] != ""]
    assert set(judged["Rule"]) == {"four-fifths"} and all(judged["Interval"].str.startswith("katz-log"))
    female = strata[(strata["Attribute"] == "gender") & (strata["Group"] == "female")]
    # Women are pre-approved at 0.7 times the men's rate in every band; where a band's Katz interval
    # reaches 0.8 (600-649: [0.61, 0.80]) the band is undecided, never passed.
    assert len(female) == 4 and set(female["Verdict"]) <= {"fail", "undecided"}
    assert (female["Verdict"] == "fail").sum() >= 3


def test_signing_stores_the_report_with_its_hash_and_logs_it(model_bank):
    at = page(fairness_section="offers").run()
    at.radio[0].set_value("rejected")
    at.text_area[0].input("Women are pre-approved at 0.7 times the men's rate in every credit band.")
    at.button[0].click().run()
    assert not at.exception
    assert any("Signed and stored" in s.value for s in at.success)
    stored = signoffs.list_signoffs(app_db().backend())
    assert stored.height == 1
    row = stored.row(0, named=True)
    assert (row["kind"], row["decision"], row["audit_verdict"], row["reviewer"]) == (
        "credit_decision",
        "rejected",
        "fail",
        "test_compliance_reviewer",
    )
    html = signoffs.load_report(app_db().backend(), row["signoff_id"])
    assert hashlib.sha256(html.encode("utf-8")).hexdigest() == row["report_sha256"]
    assert "test_compliance_reviewer" in html and "0.7 times" in html
    log = app_db().query("select action, target, details from audit_log where action = 'fairness_signoff'")
    assert log.height == 1 and json.loads(log["details"][0])["report_sha256"] == row["report_sha256"]
    labels = {b.label for b in at.get("download_button")}
    assert {"Download the signed report (HTML)", "Download the signed report (PDF)"} <= labels


def test_approving_a_failing_audit_needs_a_justification(model_bank):
    at = page(fairness_section="offers").run()
    at.radio[0].set_value("approved")
    at.button[0].click().run()
    assert not at.exception
    assert any(e.value == signoffs.MSG_NEEDS_COMMENT.format(verdict="failed") for e in at.error)
    assert signoffs.list_signoffs(app_db().backend()).height == 0


def _sign_credit_decision() -> str:
    audit = exposure_audits.audit_credit_decision(app_db().backend())
    signed = signoffs.sign_audit(
        app_db(), audit, reviewer="test_compliance_reviewer", role="compliance_reviewer", decision="rejected"
    )
    resources.signoff_list.clear()
    resources.latest_signoffs.clear()
    return signed.signoff.signoff_id


def test_an_analyst_reads_the_latest_signed_result_and_cannot_sign(model_bank):
    at = page("marketing_analyst").run()
    assert not at.exception
    assert any(i.value == "No audit has been signed yet." for i in at.info)
    signoff_id = _sign_credit_decision()
    at = page("marketing_analyst").run()
    assert not at.exception
    listing = frame(at, "Decision")
    assert listing["Sign-off"].tolist() == [signoff_id]
    assert listing["Decision"].tolist() == ["Rejected"] and listing["Verdict"].tolist() == ["Fail"]
    assert not any(b.label == "Sign and store the report" for b in at.button)
    assert not at.get("segmented_control")  # no audit sections


def test_an_executive_sees_only_the_pass_fail_summary(model_bank):
    _sign_credit_decision()
    at = page("executive").run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics == {"Approved": "0", "Approved with conditions": "0", "Rejected": "1"}
    summary = at.dataframe[0].value
    assert list(summary.columns) == ["Decision audited", "Fairness check", "Compliance sign-off", "Signed"]
    assert not at.get("plotly_chart") and not at.get("download_button")


def test_the_mitigation_trade_off_is_shown_and_the_decision_is_logged(model_bank):
    # By age band, where the planted disparity is (0.19 -> 0.04 on the held-out half). By gender
    # the gap is noise-sized: once customers without profiling consent left the test rows
    # (docs/privacy.md) it went from 0.010 to 0.018 after mitigation, so gender proves nothing.
    at = page(mitigation_attr="age_band").run()
    table = frame(at, "Before (one threshold)").set_index("Measure")
    before = table.loc["Demographic parity difference", "Before (one threshold)"]
    after = table.loc["Demographic parity difference", "After (per-group thresholds)"]
    assert after < before
    at.radio(key="mitigation_choice").set_value("accepted")
    at.text_input(key="mitigation_comment").input("Trade-off acceptable for retention contact")
    next(b for b in at.button if b.label == "Record the decision").click().run()
    assert not at.exception
    decisions = signoffs.mitigation_decisions(app_db().backend(), churn_id())
    assert decisions.height == 1
    details = json.loads(decisions["details"][0])
    assert details["decision"] == "accepted" and details["constraint"] == "demographic_parity"


def test_experiment_lifts_by_group_with_cochrans_q(model_bank):
    at = page(fairness_section="experiments").run()
    assert not at.exception
    lifts = frame(at, "Treatment n")
    lift_col = next(c for c in lifts.columns if c.startswith("Lift"))
    usable = lifts.dropna(subset=[lift_col, "Low", "High"])
    se = (usable["High"] - usable["Low"]).to_numpy() / (2 * stats.norm.ppf(0.975))
    effects = usable[lift_col].to_numpy()
    w = 1 / se**2
    q = float(np.sum(w * (effects - np.sum(w * effects) / w.sum()) ** 2))
    banner = (at.success or at.error or at.warning)[0].value
    assert "Rule: cochran-q rule" in banner and "p-value below 0.05" in banner
    caption = next(c.value for c in at.caption if c.value.startswith("Cochran's Q"))
    # The table rounds lifts to 5 decimals; the Q in the caption is from the unrounded lifts.
    shown = float(caption.split("=")[1].split()[0])
    assert abs(shown - q) < 0.05 * max(q, 1)


def test_an_uploaded_table_is_audited_by_the_columns_declared_protected(model_bank):
    rng = np.random.default_rng(0)
    n = 2000
    group = rng.choice(["a", "b"], n)
    table = pl.DataFrame(
        {
            "outcome": rng.binomial(1, 0.3, n),
            "approved": rng.binomial(1, np.where(group == "a", 0.5, 0.2)),
            "g": group,
        }
    )
    at = page(fairness_section="upload").run()
    at.file_uploader[0].set_value(("decisions.csv", table.write_csv().encode(), "text/csv")).run()
    at.selectbox(key="fair_up_true").set_value("outcome")
    at.selectbox(key="fair_up_pred").set_value("approved")
    at.multiselect(key="fair_up_groups").set_value(["g"]).run()
    assert not at.exception
    assert at.error and at.error[0].value.startswith("**Fail**")
    groups = frame(at, "Selection rate").set_index("Group")
    expected = table.filter(pl.col("g") == "b")["approved"].mean()
    assert groups.loc["b", "Selection rate"] == f"{expected:.1%}"


def test_an_upload_with_scores_and_no_threshold_is_refused_by_name(model_bank):
    table = pl.DataFrame({"y": [0, 1] * 50, "s": [0.2, 0.7] * 50, "g": ["a", "b"] * 50})
    at = page(fairness_section="upload").run()
    at.file_uploader[0].set_value(("scores.csv", table.write_csv().encode(), "text/csv")).run()
    at.selectbox(key="fair_up_true").set_value("y")
    at.selectbox(key="fair_up_pred").set_value("s")
    at.multiselect(key="fair_up_groups").set_value(["g"]).run()
    assert not at.exception
    assert any("holds scores, not 0/1 decisions" in e.value and "threshold" in e.value for e in at.error)


def test_one_customers_decision_shows_its_reasons_and_is_audited(model_bank):
    from analytics.access.privacy import pseudonym_key, pseudonymize_ids
    from analytics.models import customer_explanations, explanations

    backend = app_db().backend()
    scores = backend.table("model_predictions")
    lowest = scores.filter(scores.model_id == churn_id()).order_by("score").limit(1).to_polars()
    customer = int(lowest["customer_id"][0])
    masked = pseudonymize_ids(pl.Series([customer]), pseudonym_key(app_db()))[0]
    at = page().run()
    at.text_input(key="fairness_customer").input(masked).run()
    assert not at.exception
    text = " ".join(m.value for m in at.markdown)
    assert "not selected (adverse)" in text and "Principal reasons against selection" in text
    record = model_registry.get_model(backend, churn_id())
    expected = customer_explanations.explain_customer(
        resources.loaded_model(resources.database_path(), churn_id()),
        resources.customer_row(resources.database_path(), customer, "compliance_reviewer"),
        typical=explanations.load_explanation_meta(backend, record.model_id)["tree"].typical,
    )
    assert f"Score **{expected.score:.1%}**" in text
    log = app_db().query("select target, details from audit_log where target = 'fairness_decision'")
    # Audit entries name customers by pseudonym for every role (a raw number would survive erasure).
    assert log.height == 1 and json.loads(log["details"][0])["customer"] == masked
    assert str(customer) not in log["details"][0]


def test_the_analyst_reads_the_signed_report_in_its_own_frame(model_bank):
    import base64

    signoff_id = _sign_credit_decision()
    at = page("marketing_analyst").run()
    assert not at.exception
    frames = at.get("iframe")
    assert len(frames) == 1
    source = frames[0].proto.src
    assert source.startswith("data:text/html;base64,")
    stored = signoffs.load_report(app_db().backend(), signoff_id)
    assert base64.b64decode(source.split(",", 1)[1]).decode("utf-8") == stored


def test_a_model_without_test_scores_is_a_message_not_a_traceback(model_bank):
    app_db().execute("delete from model_test_scores where model_id = ?", [churn_id()])
    at = page().run()
    assert not at.exception
    assert any(e.value == model_audits.MSG_NO_SCORES.format(model_id=churn_id()) for e in at.error)


def test_an_admin_audits_and_signs_like_a_reviewer(model_bank):
    at = page("admin", fairness_section="offers").run()
    assert not at.exception
    assert at.get("segmented_control")
    at.radio[0].set_value("approved_with_conditions")
    at.text_area[0].input("Only with a re-run of the pre-approval rule without gender-correlated inputs.")
    at.button[0].click().run()
    assert not at.exception
    row = signoffs.list_signoffs(app_db().backend()).row(0, named=True)
    assert (row["reviewer"], row["reviewer_role"], row["decision"]) == (
        "test_admin",
        "admin",
        "approved_with_conditions",
    )


def test_an_uploaded_files_name_cannot_put_a_link_into_the_verdict(model_bank):
    table = pl.DataFrame({"y": [0, 1] * 50, "d": [0, 1, 1, 0] * 25, "g": ["a", "b"] * 50})
    name = "[click me](https://evil.example)![x](https://evil.example/x.png).csv"
    at = page(fairness_section="upload").run()
    at.file_uploader[0].set_value((name, table.write_csv().encode(), "text/csv")).run()
    at.selectbox(key="fair_up_true").set_value("y")
    at.selectbox(key="fair_up_pred").set_value("d")
    at.multiselect(key="fair_up_groups").set_value(["g"]).run()
    assert not at.exception
    banner = next(e.value for e in [*at.success, *at.error, *at.warning] if "Uploaded decisions" in e.value)
    assert "](https://evil.example)" not in banner and "\\[click me\\]" in banner
