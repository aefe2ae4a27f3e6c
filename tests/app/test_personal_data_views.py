"""AppTests of issue 14's smaller findings in the pages: a raw view is audited before it is drawn,
no error message names a raw customer number to a role that sees masked ids, and an uploaded
file's name is escaped in the refusal that names it."""

from __future__ import annotations

import polars as pl
import streamlit as st

from analytics.access.privacy import pseudonym_key, pseudonymize_ids
from analytics.clv import store as clv_store
from analytics.common.formatting import escape_markdown
from analytics.common.types import User
from analytics.models import customer_explanations
from analytics.store.database import Database
from app import resources
from tests.app.conftest import REPO, new_app
from tests.leak_scan import PersonalData, capture, scan

SEGMENTS = str(REPO / "pages" / "segments.py")
KPIS = str(REPO / "pages" / "kpis.py")
MODELS = str(REPO / "pages" / "models.py")
AB_TESTS = str(REPO / "pages" / "ab_tests.py")


def app_db():
    return resources.get_database(resources.database_path())


def audited(target: str) -> int:
    return app_db().query("select count(*) from audit_log where target = ?", [target]).item()


def failing(original, failing_when):
    """``original``, except that it raises where ``failing_when(kwargs)`` holds: drawing fails."""

    def draw(*args, **kwargs):
        if failing_when(kwargs):
            raise RuntimeError("the browser connection dropped while drawing")
        return original(*args, **kwargs)

    return draw


def test_the_map_is_audited_before_it_is_drawn_even_when_drawing_fails(bank, monkeypatch):
    monkeypatch.setattr(
        st, "plotly_chart", failing(st.plotly_chart, lambda kw: kw.get("key") == "segment_map")
    )
    at = new_app(SEGMENTS, user=User("test_admin", "admin")).run()
    assert at.exception  # the map was not drawn
    assert audited("segment_map") == 1


def test_the_clv_list_is_audited_before_it_is_drawn_even_when_drawing_fails(bank, monkeypatch):
    db = Database(bank)
    clv_store.fit_bank_clv(db, fitted_by="tests")
    db.close()
    top_customers = failing(st.dataframe, lambda kw: "customer_id" in (kw.get("column_config") or {}))
    monkeypatch.setattr(st, "dataframe", top_customers)
    at = new_app(KPIS, user=User("test_admin", "admin"), kpi_section="clv").run()
    assert at.exception
    assert audited("clv_top_customers") == 1


def _closed_customer() -> int:
    return int(
        app_db()
        .query(
            "select customer_id from customers"
            " where customer_id not in (select customer_id from customer_features)"
            " order by customer_id limit 1"
        )
        .item()
    )


def test_a_customer_who_is_not_current_is_named_by_the_masked_id_to_an_analyst(model_bank, monkeypatch):
    db = app_db()
    closed = _closed_customer()
    masked = pseudonymize_ids(pl.Series([closed]), pseudonym_key(db))[0]
    # A masked id that resolves to a customer without current features: the pseudonyms and the
    # features of one snapshot agree, so the page is given one that does not.
    current = resources.current_pseudonyms(resources.database_path())
    monkeypatch.setattr(resources, "current_pseudonyms", lambda path: {**current, masked: closed})
    at = new_app(MODELS, user=User("test_marketing_analyst", "marketing_analyst"))
    at.session_state["model_section"] = "customer"
    at.session_state["customer_ref"] = masked
    with capture() as recorded:
        at.run()
    assert not at.exception
    expected = customer_explanations.MSG_NOT_CURRENT.format(customer=masked, as_of=db.snapshot_date())
    assert [e.value for e in at.error] == [expected]
    customers = db.query("select customer_id, first_name, last_name, email, phone, birth_date from customers")
    assert scan(recorded, PersonalData.from_customers(customers)) == []


def test_a_reviewer_is_told_the_customer_number_that_is_not_current(model_bank):
    closed = _closed_customer()
    at = new_app(MODELS, user=User("test_compliance_reviewer", "compliance_reviewer"))
    at.session_state["model_section"] = "customer"
    at.session_state["customer_ref"] = str(closed)
    at.run()
    expected = customer_explanations.MSG_NOT_CURRENT.format(customer=closed, as_of=app_db().snapshot_date())
    assert [e.value for e in at.error] == [expected]


def test_an_unreadable_upload_is_refused_with_its_name_escaped(bank):
    name = "[click me](http://evil.example) ![x](http://evil.example/x.png).parquet"
    at = new_app(AB_TESTS, user=User("test_marketing_analyst", "marketing_analyst"), ab_section="upload")
    at.run()
    at.get("file_uploader")[0].set_value((name, b"not a parquet file", "application/octet-stream")).run()
    assert not at.exception
    [error] = at.error
    assert escape_markdown(name) in error.value
    assert "[click me](" not in error.value and "![x](" not in error.value
