"""Consent honoured everywhere (issue 15, item 3): every output that lists or profiles individuals
names only customers with the matching consent (docs/privacy.md).

The walk covers the stored tables (scores, test scores, SHAP rows, CLV predictions, segment members,
map points), the library functions that list customers, the CLI's files (the segments assignment
and the CLV predictions the ``clv`` command stores), and what the pages send to the browser for
their customer lists and downloads, captured with ``tests.leak_scan`` and searched for the
non-consenting customers' numbers and pseudonyms. A withdrawal after the outputs were stored is
honoured on read, and a one-customer view of a non-consenting customer is refused with
``MSG_NO_PROFILING_CONSENT``, naming them as the role may read them.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from analytics.access import auth, consent
from analytics.access.privacy import pseudonym_key, pseudonymize_ids
from analytics.clv import store as clv_store
from analytics.common.types import ROLES, User
from analytics.models import customer_explanations, explanations, publishing, quality_views
from analytics.models import registry as model_registry
from analytics.segments import features, maps
from analytics.segments import store as segment_store
from analytics.store.database import Database
from tests.app.conftest import PASSWORD, REPO, new_app
from tests.conftest import copy_bank
from tests.leak_scan import Capture, PersonalData, capture, scan

PAGES = {name: str(REPO / "pages" / f"{name}.py") for name in ("kpis", "segments", "models", "fairness")}
PROFILED_TABLES = (
    "model_predictions",
    "model_test_scores",
    "model_shap",
    "clv_predictions",
    "segment_members",
    "segment_map_points",
)
"""Stored tables with one row per profiled customer (or per customer and feature)."""


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "analytics", *args], cwd=REPO, capture_output=True, text=True, timeout=300
    )


def _reference(numbers: pl.Series) -> PersonalData:
    """Customer numbers only: a refusing customer's name may be a consenting customer's too."""
    return PersonalData(
        customer_numbers=frozenset(str(n) for n in numbers.to_list()),
        full_names={},
        emails=frozenset(),
        phones=frozenset(),
        birth_dates=frozenset(),
    )


class Walk:
    """The walked bank and the customers each purpose must leave out."""

    def __init__(self, path: Path, db: Database, facts: dict) -> None:
        self.path = path
        self.facts = facts
        key = pseudonym_key(db)
        self.unprofiled = db.query(
            "select customer_id from customers where not coalesce(consent_profiling, false)"
        ).get_column("customer_id")
        self.unreachable = db.query(
            "select customer_id from customers where not (coalesce(consent_profiling, false)"
            " and coalesce(consent_marketing, false) and (closed_at is null or closed_at > ?))",
            [db.snapshot_date()],
        ).get_column("customer_id")
        refused = db.query(
            "select customer_id from customer_features join customers using (customer_id)"
            " where not consent_profiling order by customer_id limit 1"
        ).item()
        # A current customer without profiling consent, and their masked id (read before the app
        # opens the bank: the app keeps its own connection).
        self.refused = int(refused)
        self.refused_masked = pseudonymize_ids(pl.Series([self.refused]), key)[0]
        self.references = {
            "profiling": (_reference(self.unprofiled), set(pseudonymize_ids(self.unprofiled, key).to_list())),
            "marketing": (
                _reference(self.unreachable),
                set(pseudonymize_ids(self.unreachable, key).to_list()),
            ),
        }


@pytest.fixture(scope="module")
def walk(model_bank_path: Path, tmp_path_factory) -> Walk:
    """The model bank with a segment, a stored map, a CLV fit by the CLI and the CLI's segments file."""
    folder = tmp_path_factory.mktemp("consent_walk")
    path = copy_bank(model_bank_path, folder / "bank.duckdb")
    db = Database(path)
    try:
        for role in ROLES:
            auth.add_user(db, f"test_{role}", PASSWORD, role)
        # An uploaded list mixing both kinds of customer: the segment keeps the consenting ones.
        mixed = db.query(
            "(select customer_id from customers where consent_profiling order by customer_id limit 300)"
            " union all (select customer_id from customers where not consent_profiling"
            " order by customer_id limit 30)"
        ).get_column("customer_id")
        segment = segment_store.save_segment(
            db, name="Consent walk", customer_ids=mixed, source="upload", created_by="test_marketing_analyst"
        )
        frame = features.load_features(db.backend())
        maps.fit_and_store_map(
            db,
            frame.frame.get_column(frame.id_column),
            frame.scaled(),
            method="pca",
            feature_columns=frame.features,
            **maps.map_params("pca"),
        )
        churn = model_registry.latest_model(db.backend(), "churn").model_id
    finally:
        db.close()
    clv = _cli("clv", "--db", str(path), "--json")
    assert clv.returncode == 0, clv.stderr
    assignment = folder / "segments.csv"
    seg = _cli("segments", "--db", str(path), "--k", "3", "--output", str(assignment), "--json")
    assert seg.returncode == 0, seg.stderr
    db = Database(path, read_only=True)
    try:
        walked = Walk(path, db, {"segment": segment, "churn": churn, "assignment": assignment})
    finally:
        db.close()
    return walked


def _unconsented(ids: pl.Series, refused: pl.Series) -> list[int]:
    return ids.filter(ids.is_in(refused.implode())).unique().sort().to_list()[:10]


# -- stored tables, library lists, CLI files ---------------------------------------------------------
@pytest.mark.parametrize("table", PROFILED_TABLES)
def test_a_stored_table_names_only_customers_consenting_to_profiling(walk, table):
    db = Database(walk.path, read_only=True)
    try:
        ids = db.query(f'select customer_id from "{table}"').get_column("customer_id")  # noqa: S608 - fixed names
    finally:
        db.close()
    assert ids.len() > 0, f"{table} is empty: the walk would prove nothing"
    assert _unconsented(ids, walk.unprofiled) == []


def test_the_library_lists_name_only_consenting_customers(walk):
    db = Database(walk.path, read_only=True)
    backend = db.backend()
    churn, segment = walk.facts["churn"], walk.facts["segment"]
    try:
        fit = clv_store.load_stored_clv(backend)
        lists = {
            "top scores": publishing.top_scored_customers(backend, churn, n=500)["customer_id"],
            "predictions": model_registry.load_predictions(backend, churn)["customer_id"],
            "test scores": quality_views.load_test_scores(backend, churn)["customer_id"],
            "shap sample": pl.Series(explanations.load_shap_matrix(backend, churn).customer_ids),
            "clv predictions": clv_store.load_clv_predictions(backend, fit.fit_id)["customer_id"],
            "segment members": segment_store.segment_members(backend, segment.segment_id),
            "segmentation features": features.load_features(backend).frame["customer_id"],
        }
        map_ids = db.query("select distinct map_id from segment_map_points").get_column("map_id")
        for map_id in map_ids:
            lists[f"map {map_id}"] = maps.load_map_points(backend, map_id)["customer_id"]
    finally:
        db.close()
    for name, ids in lists.items():
        assert ids.len() > 0, name
        assert _unconsented(ids.cast(pl.Int64), walk.unprofiled) == [], name
    assert segment.customers == 300 and segment.warnings[0].startswith("30 customers without profiling")


def test_the_marketing_list_needs_marketing_and_profiling_consent_and_an_open_account(walk, tmp_path):
    path = copy_bank(walk.path, tmp_path / "bank.duckdb")
    db = Database(path)
    try:
        shown, left_out = segment_store.export_segment(
            db, walk.facts["segment"].segment_id, username="test_admin", role="admin"
        )
        reachable = consent.marketing_reachable(db.backend(), as_of=db.snapshot_date()).to_polars()
    finally:
        db.close()
    ids = shown.get_column("customer_id")
    assert ids.len() > 0 and left_out > 0 and ids.len() + left_out == walk.facts["segment"].customers
    assert _unconsented(ids, walk.unreachable) == []
    assert ids.is_in(reachable["customer_id"].implode()).all()


def test_the_cli_files_name_only_consenting_customers(walk):
    assignment = pl.read_csv(walk.facts["assignment"])
    assert assignment.height > 0
    assert _unconsented(assignment["customer_id"], walk.unprofiled) == []


def test_a_withdrawal_after_the_outputs_were_stored_is_honoured_on_read(walk, tmp_path):
    path = copy_bank(walk.path, tmp_path / "bank.duckdb")
    db = Database(path)
    try:
        backend = db.backend()
        churn = walk.facts["churn"]
        top = publishing.top_scored_customers(backend, churn, n=1)["customer_id"][0]
        sampled = int(explanations.load_shap_matrix(backend, churn).customer_ids[0])
        member = int(segment_store.segment_members(backend, walk.facts["segment"].segment_id)[0])
        withdrawn = [int(top), sampled, member]
        db.execute("update customers set consent_profiling = false where customer_id in (?, ?, ?)", withdrawn)
        fit = clv_store.load_stored_clv(backend)
        reads = [
            publishing.top_scored_customers(backend, churn, n=50)["customer_id"],
            model_registry.load_predictions(backend, churn)["customer_id"],
            pl.Series(explanations.load_shap_matrix(backend, churn).customer_ids),
            clv_store.load_clv_predictions(backend, fit.fit_id)["customer_id"],
            segment_store.segment_members(backend, walk.facts["segment"].segment_id),
        ]
        for ids in reads:
            assert not ids.cast(pl.Int64).is_in(withdrawn).any()
        masked = pseudonymize_ids(pl.Series([top]), pseudonym_key(db))[0]
        with pytest.raises(ValueError) as refused:
            customer_explanations.load_customer_features(
                backend, int(top), as_of=db.snapshot_date(), shown_as=masked
            )
    finally:
        db.close()
    assert str(refused.value) == customer_explanations.MSG_NO_PROFILING_CONSENT.format(customer=masked)
    assert str(top) not in str(refused.value)


# -- the pages -------------------------------------------------------------------------------------
def _set(**state):
    def action(at):
        for key, value in state.items():
            at.session_state[key] = value
        at.run()

    return action


def _steps(walk: Walk) -> dict[str, list[tuple[str, str, object]]]:
    """Per page: (what, purpose, action) for each list or download of customers."""
    return {
        "kpis": [("most valuable customers and their download", "profiling", _set(kpi_section="clv"))],
        "segments": [
            ("customer map", "profiling", lambda at: at.run()),
            ("marketing list export", "marketing", lambda at: at.button(key="prepare_export").click().run()),
        ],
        "models": [
            ("top scores", "profiling", _set(model_section="customer")),
            ("beeswarm of the SHAP sample", "profiling", _set(model_section="explanations")),
            (
                "segment against the rest",
                "profiling",
                _set(model_section="segments", shap_segment=walk.facts["segment"].segment_id),
            ),
        ],
    }


WALKED = [
    (role, page)
    for role in ("marketing_analyst", "admin")
    for page in ("kpis", "segments", "models")
    if auth.can_view(role, page)
]


@pytest.mark.parametrize(("role", "page"), WALKED, ids=[f"{r}-{p}" for r, p in WALKED])
def test_no_page_list_or_download_names_a_customer_without_the_matching_consent(
    walk, role, page, monkeypatch
):
    monkeypatch.setenv("TAILOR_DB", str(walk.path))
    at = new_app(PAGES[page], user=User(f"test_{role}", role))
    found = []
    for what, purpose, action in _steps(walk)[page]:
        with capture() as recorded:
            action(at)
        assert not at.exception, f"{what}: {at.exception}"
        assert recorded.messages, what
        # A rerun redraws the whole page: the messages carry its profiling outputs (the map beside
        # the export button), the files the step's own download, checked for the step's purpose.
        parts = [
            (Capture(messages=recorded.messages), "profiling"),
            (Capture(files=recorded.files), purpose),
        ]
        for part, kind in parts:
            numbers, pseudonyms = walk.references[kind]
            found += [f"{what}: {h.kind} {h.value} at {h.where}" for h in scan(part, numbers)]
            blobs = [*part.messages, *(data for _, _, data in part.files.values())]
            sent = b"\n".join(blobs).decode("utf-8", errors="replace")
            found += [f"{what} ({kind}): pseudonym {p}" for p in pseudonyms if p in sent]
        if purpose == "marketing":
            assert recorded.files, f"{what}: no file was offered"
    assert not found, "\n".join(found[:20])


def test_an_analyst_asking_for_a_refusing_customer_is_told_so_by_masked_id(walk, monkeypatch):
    monkeypatch.setenv("TAILOR_DB", str(walk.path))
    customer, masked = walk.refused, walk.refused_masked
    at = new_app(
        PAGES["models"],
        user=User("test_marketing_analyst", "marketing_analyst"),
        model_section="customer",
        customer_ref=masked,
    )
    with capture() as recorded:
        at.run()
    assert not at.exception
    assert [e.value for e in at.error] == [
        customer_explanations.MSG_NO_PROFILING_CONSENT.format(customer=masked)
    ]
    assert not at.get("plotly_chart")
    assert scan(recorded, _reference(pl.Series([customer]))) == []


def test_a_reviewer_asking_for_a_refusing_customers_decision_is_told_so(walk, monkeypatch):
    monkeypatch.setenv("TAILOR_DB", str(walk.path))
    customer = walk.refused
    at = new_app(PAGES["fairness"], user=User("test_compliance_reviewer", "compliance_reviewer"))
    at.run()
    assert not at.exception
    at.text_input(key="fairness_customer").input(str(customer)).run()
    assert not at.exception
    expected = customer_explanations.MSG_NO_PROFILING_CONSENT.format(customer=customer)
    assert expected in [e.value for e in at.error]
