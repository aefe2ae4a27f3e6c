"""The whole-app leak scan (issue 14): nothing the server sends to a role that may not see raw
personal data names a customer of the sample bank.

For every role without raw access (``privacy.sees_raw_personal_data``), every page the role may
open (``auth.can_view``), the shell around it, and each page's sections and selector states, every
message sent to the browser and every file a download button offers is captured
(``tests.leak_scan.capture``) and searched for the bank's customer numbers, full names, e-mail
addresses, phone numbers and birth dates (``tests.leak_scan.scan``). Roles that may see raw data
have nothing to search for; they are the positive controls, with a planted copy of the old
what-if bug, which show the scan is not blind.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest

from analytics.access import auth
from analytics.access.privacy import pseudonym_key, pseudonymize_ids, sees_raw_personal_data
from analytics.clv import store as clv_store
from analytics.common.types import ROLES, User
from analytics.fairness import exposure_audits, model_audits, signoffs
from analytics.fairness import model_card as fairness_card
from analytics.kpis import nps as nps_lib
from analytics.models import registry as model_registry
from analytics.segments import store as segment_store
from analytics.store.database import Database
from app import components
from app.charts import executive_summary as summary_charts
from tests.app.conftest import MAIN, PASSWORD, REPO, new_app
from tests.conftest import copy_bank
from tests.leak_scan import Capture, Hit, PersonalData, capture, scan

PAGE_SCRIPTS = {key: str((REPO / "app" / script).resolve()) for key, script, _, _ in components.PAGES}
RESTRICTED_ROLES = tuple(role for role in ROLES if not sees_raw_personal_data(role))
SCANNED = [
    (role, page)
    for role in RESTRICTED_ROLES
    for page in ("shell", *PAGE_SCRIPTS)
    if page == "shell" or auth.can_view(role, page)
]


class Context:
    """The scanned bank: its path, reference data and what the fixture put in it."""

    def __init__(self, path: Path, reference: PersonalData, facts: dict) -> None:
        self.path = path
        self.reference = reference
        self.facts = facts


@pytest.fixture(scope="module")
def scan_bank(model_bank_path: Path, tmp_path_factory) -> Context:
    """The bank with models, a user per role, a saved segment and two signed audits (TAILOR_DB)."""
    path = tmp_path_factory.mktemp("leak_scan") / "bank.duckdb"
    copy_bank(model_bank_path, path)
    db = Database(path)
    try:
        for role in ROLES:
            auth.add_user(db, f"test_{role}", PASSWORD, role)
        backend = db.backend()
        customers = db.query(
            "select customer_id, first_name, last_name, email, phone, birth_date from customers"
        )
        members = db.query(
            "select customer_id from customers where consent_profiling order by customer_id limit 300"
        ).get_column("customer_id")
        segment = segment_store.save_segment(
            db,
            name="Leak scan [segment](http://example.org)",
            customer_ids=members,
            source="clustering",
            created_by="test_marketing_analyst",
            role="marketing_analyst",
        )
        churn = model_registry.latest_model(backend, "churn").model_id
        threshold = model_audits.default_threshold(backend, churn)
        audit = model_audits.audit_model(backend, churn, threshold=threshold)
        card = fairness_card.model_card(backend, churn, audit=audit)
        model_signed = signoffs.sign_audit(
            db, audit, reviewer="test_compliance_reviewer", role="compliance_reviewer",
            decision="approved", comment="Leak scan: a signed model audit.", card=card,
        )  # fmt: skip
        credit_signed = signoffs.sign_audit(
            db, exposure_audits.audit_credit_decision(backend), reviewer="test_compliance_reviewer",
            role="compliance_reviewer", decision="rejected", comment="Leak scan: the credit decision.",
        )  # fmt: skip
        clv_fit = clv_store.fit_bank_clv(db, fitted_by="tests")
        what_if_customer = int(
            db.query(
                "select customer_id from customer_features"
                " join (select customer_id from customers where consent_profiling) using (customer_id)"
                " where support_contacts >= 4"
                " order by customer_id desc limit 1"
            ).item()
        )
        masked = pseudonymize_ids(pl.Series([what_if_customer]), pseudonym_key(db))[0]
        experiments = db.query("select experiment_id from experiments order by experiment_id")
    finally:
        db.close()
    facts = {
        "segment_id": segment.segment_id,
        "churn_id": churn,
        "what_if_customer": what_if_customer,
        "what_if_masked": masked,
        "experiments": experiments.get_column("experiment_id").to_list(),
        "signoffs": [model_signed.signoff.signoff_id, credit_signed.signoff.signoff_id],
    }
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TAILOR_DB", str(path))
        reference = PersonalData.from_customers(customers)
        # The CLV holdout check's purchase counts are aggregates the page shows and downloads; one
        # that equals a customer number (the sample's are 100001..120000) is no leak. Since the
        # fit left out customers without profiling consent (docs/privacy.md), the 7+ bucket's
        # actual total is 118,049, so that number is not searched for (and said so here).
        totals = {str(int(v)) for v in clv_fit.calibration.get_column("actual_total").to_list()}
        reference = dataclasses.replace(reference, customer_numbers=reference.customer_numbers - totals)
        yield Context(path, reference, facts)


# -- scenarios: the states of each page, one step each ----------------------------------------------
# A step is (section, action, check): the action brings the page into the state and runs it; the
# check is one fact the user would see there, so that a scan of a page that failed to reach the
# state cannot pass for a clean one.
Step = tuple[str, Callable, Callable]


def _set(**state) -> Callable:
    def action(at):
        for key, value in state.items():
            at.session_state[key] = value
        at.run()

    return action


def _click(key: str) -> Callable:
    return lambda at: at.button(key=key).click().run()


def _submit(label: str) -> Callable:
    return lambda at: next(b for b in at.button if b.label == label).click().run()


def _run(at) -> None:
    at.run()


def _table_with(column: str) -> Callable:
    return lambda at: any(column in frame.value.columns for frame in at.dataframe)


def _download(key: str) -> Callable:
    return lambda at: any(button.key == key for button in at.get("download_button"))


def _chart(key: str) -> Callable:
    return lambda at: any(chart.key == key for chart in at.get("plotly_chart"))


def _anything(at) -> bool:
    return len(at.main.children) > 0


def shell_steps(ctx: Context) -> list[Step]:
    return [("signed in, default page", _run, lambda at: bool(at.sidebar.markdown) and bool(at.title))]


def executive_summary_steps(ctx: Context) -> list[Step]:
    dimensions = list(summary_charts.DIMENSION_LABELS)
    return [
        ("default", _run, lambda at: len(at.metric) >= 5),
        *[
            (f"breakdown by {d}", _set(breakdown_dimension=d), _chart("breakdown_chart"))
            for d in dimensions[1:]
        ],
        (
            "saved segment filter",
            _set(filter_segment=ctx.facts["segment_id"]),
            lambda at: "Leak scan" in at.caption[0].value,
        ),
    ]


def kpis_steps(ctx: Context) -> list[Step]:
    comments = _table_with("comment")
    return [
        ("nps", _set(kpi_section="nps"), comments),
        *[(f"nps by {d}", _set(nps_dimension=d), comments) for d in nps_lib.NPS_DIMENSIONS[1:]],
        ("nps detractor comments", _set(nps_comment_category="detractor"), comments),
        ("retention", _set(kpi_section="retention"), _chart("cohort_heatmap")),
        ("revenue cohorts", _set(cohort_metric="revenue_retention"), _chart("cohort_heatmap")),
        ("survival by region", _set(survival_by="region"), _chart("survival_curves")),
        ("predictive clv", _set(kpi_section="clv"), _download("clv_top_csv")),
        ("engagement", _set(kpi_section="engagement"), _chart("engagement_histogram")),
        *[
            (f"engagement by {d}", _set(engagement_dimension=d), _chart("engagement_histogram"))
            for d in ("age_band", "rfm_group")
        ],
    ]


def segments_steps(ctx: Context) -> list[Step]:
    return [
        ("bank customers", _run, _chart("segment_map")),
        ("map by predicted clv", _set(segment_map_color="predicted_clv"), _chart("segment_map")),
        (
            "behaviour and value, k=4",
            _set(segment_feature_set="behaviour and value", segment_k=4),
            _chart("segment_map"),
        ),
        ("segment export", _click("prepare_export"), _download("export_csv")),
        ("upload", _set(segment_source="upload"), lambda at: bool(at.get("file_uploader"))),
    ]


def models_steps(ctx: Context) -> list[Step]:
    masked = ctx.facts["what_if_masked"]
    return [
        ("quality", _set(model_section="quality"), _chart("roc_chart")),
        ("quality credit card", _set(model_target="credit_card"), _chart("roc_chart")),
        ("explanations", _set(model_section="explanations", model_target="churn"), _chart("beeswarm_chart")),
        ("explanations baseline", _set(shap_kind="baseline"), _chart("beeswarm_chart")),
        (
            "one customer: top scores",
            _set(model_section="customer"),
            lambda at: len(at.selectbox(key="customer_pick").options) > 1,
        ),
        ("one customer: masked id", _set(customer_ref=masked), lambda at: masked in at.subheader[0].value),
        (
            "one customer: what-if",
            _submit("Re-score"),
            lambda at: any(m.label == "Score with these values" for m in at.metric),
        ),
        (
            "segments",
            _set(model_section="segments", shap_segment=ctx.facts["segment_id"]),
            _chart("segment_shap_chart"),
        ),
        ("upload", _set(model_section="upload"), lambda at: bool(at.get("file_uploader"))),
    ]


def ab_tests_steps(ctx: Context) -> list[Step]:
    return [
        ("read-out", _run, _chart("ab_forest")),
        *[
            (f"read-out of {experiment}", _set(ab_experiment=experiment), _chart("ab_forest"))
            for experiment in ctx.facts["experiments"][1:]
        ],
        ("segments by age band", _set(ab_dimension="age_band"), _chart("ab_forest")),
        ("segments by channel", _set(ab_dimension="preferred_channel"), _chart("ab_forest")),
        ("power", _set(ab_section="power"), lambda at: len(at.metric) >= 3),
        ("upload", _set(ab_section="upload"), lambda at: bool(at.get("file_uploader"))),
    ]


def fairness_steps(ctx: Context) -> list[Step]:
    def signed_view(at) -> bool:
        # Analysts read the signed reports (a download and a frame); executives only the verdicts.
        return bool(at.get("iframe")) and bool(at.get("download_button")) or len(at.metric) == 3

    return [
        ("default", _run, signed_view),
        *[
            (f"report {i + 1}", _set(analyst_report=signoff), signed_view)
            for i, signoff in enumerate(ctx.facts["signoffs"])
        ],
    ]


def account_steps(ctx: Context) -> list[Step]:
    return [("default", _run, _anything)]


SCENARIOS = {
    "shell": shell_steps,
    "executive_summary": executive_summary_steps,
    "kpis": kpis_steps,
    "segments": segments_steps,
    "models": models_steps,
    "ab_tests": ab_tests_steps,
    "fairness": fairness_steps,
    "account": account_steps,
}


def run_scan(at, steps: list[Step], reference: PersonalData) -> tuple[list[str], list[Hit]]:
    """Run each step under a capture and scan it; a summary line per step, and every hit."""
    lines, hits = [], []
    for section, action, check in steps:
        started = time.perf_counter()
        with capture() as recorded:
            action(at)
        assert not at.exception, f"{section}: {at.exception}"
        assert check(at), f"{section}: the page did not reach this state"
        found = scan(recorded, reference)
        hits += found
        lines.append(_summary(section, recorded, found, time.perf_counter() - started))
    return lines, hits


def _summary(section: str, recorded: Capture, found: list[Hit], seconds: float) -> str:
    return (
        f"  {section:<28} {len(recorded.messages):>4} messages {recorded.message_bytes:>10,} bytes"
        f" {len(recorded.files):>2} files {recorded.file_bytes:>9,} bytes"
        f"  hits {len(found)}  ({seconds:.1f} s)"
    )


def _report(hits: list[Hit]) -> str:
    return "\n".join(f"{h.kind} {h.value} at {h.where}" for h in hits[:30])


def _app(role: str, page: str, **state):
    return new_app(MAIN if page == "shell" else PAGE_SCRIPTS[page], user=User(f"test_{role}", role), **state)


@pytest.mark.parametrize(("role", "page"), SCANNED, ids=[f"{r}-{p}" for r, p in SCANNED])
def test_nothing_sent_to_the_role_names_a_customer(scan_bank, role, page):
    lines, hits = run_scan(_app(role, page), SCENARIOS[page](scan_bank), scan_bank.reference)
    print(f"\n{role} · {page}\n" + "\n".join(lines))
    assert not hits, _report(hits)


def test_the_sign_in_page_names_no_customer(scan_bank):
    lines, hits = run_scan(
        new_app(MAIN), [("sign-in form", _run, lambda at: bool(at.text_input))], scan_bank.reference
    )
    print("\nsigned out · sign-in\n" + "\n".join(lines))
    assert not hits, _report(hits)


# -- the scan is not blind --------------------------------------------------------------------------
def test_the_scan_finds_a_customer_number_a_reviewer_may_see(scan_bank):
    customer = scan_bank.facts["what_if_customer"]
    steps = [
        (
            "one customer: number typed",
            _set(model_section="customer", customer_ref=str(customer)),
            lambda at: str(customer) in at.subheader[0].value,
        )
    ]
    _, hits = run_scan(_app("compliance_reviewer", "models"), steps, scan_bank.reference)
    assert Hit("customer_number", str(customer), "") in {Hit(h.kind, h.value, "") for h in hits}


def test_the_scan_finds_names_e_mails_phones_and_numbers_an_admin_may_see(scan_bank):
    steps = [
        ("nps comments as written", _set(kpi_section="nps"), _table_with("comment")),
        ("predictive clv", _set(kpi_section="clv"), _download("clv_top_csv")),
    ]
    at = _app("admin", "kpis")
    _, comment_hits = run_scan(at, steps[:1], scan_bank.reference)
    assert {"full_name", "email", "phone"} <= {h.kind for h in comment_hits}
    _, clv_hits = run_scan(at, steps[1:], scan_bank.reference)
    # The top customers' numbers: integer cells of the table's customer column, and the CSV.
    numbers = {h.value for h in clv_hits if h.kind == "customer_number"}
    assert len(numbers) >= 10
    assert any(".arrow_data.data[customer_id]" in h.where for h in clv_hits)
    assert any(h.where.startswith("file tailor_clv_top_customers.csv") for h in clv_hits)


def test_the_scan_finds_the_customer_numbers_of_an_admins_map_hover(scan_bank):
    steps = [("bank customers", _run, _chart("segment_map"))]
    _, hits = run_scan(_app("admin", "segments"), steps, scan_bank.reference)
    in_hover = {h.value for h in hits if h.kind == "customer_number" and "plotly_chart.spec" in h.where}
    assert len(in_hover) >= 10


def test_the_scan_finds_the_what_if_keys_of_the_old_bug(scan_bank, tmp_path, monkeypatch):
    """A copy of the Models page whose what-if widgets are keyed by the raw customer number again."""
    source = (REPO / "app" / "model_customer.py").read_text()
    good = "what_if(model, row, result, typical, masked=masked)"
    assert source.count(good) == 1
    # The old key, f"wi_{model_id}_{customer_id}": the what-if prefix takes the customer number.
    (tmp_path / "planted_model_customer.py").write_text(
        source.replace(good, "what_if(model, row, result, typical, masked=str(customer_id))")
    )
    page = (REPO / "pages" / "models.py").read_text()
    line = "from app.model_customer import customer_section"
    assert page.count(line) == 1
    (tmp_path / "models.py").write_text(
        page.replace(line, "from planted_model_customer import customer_section")
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    customer, masked = scan_bank.facts["what_if_customer"], scan_bank.facts["what_if_masked"]
    at = new_app(str(tmp_path / "models.py"), user=User("test_marketing_analyst", "marketing_analyst"))
    steps = [
        ("one customer: masked id", _set(model_section="customer", customer_ref=masked), _anything),
        ("one customer: what-if", _submit("Re-score"), _anything),
    ]
    lines, hits = run_scan(at, steps, scan_bank.reference)
    print("\nplanted bug · models\n" + "\n".join(lines) + "\n" + _report(hits))
    assert {h.value for h in hits} == {str(customer)}
    places = " ".join(h.where for h in hits)
    assert ".id" in places and "form_id" in places  # element ids (their keys) and the form's id
