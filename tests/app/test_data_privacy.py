"""AppTest of the Data & privacy page: who may open it, and each section against the library."""

from __future__ import annotations

import pytest

from analytics.common.types import User
from analytics.privacy import coverage
from app import resources
from tests.app.conftest import REPO, new_app

PAGE = str(REPO / "pages" / "data_privacy.py")
ACCOUNT = str(REPO / "pages" / "account.py")


def page(role: str, **state):
    return new_app(PAGE, user=User(f"test_{role}", role), **state)


@pytest.mark.parametrize("role", ["executive", "marketing_analyst"])
def test_executives_and_analysts_are_refused_on_the_server(bank, role):
    at = page(role).run()
    assert not at.exception
    assert at.error and "does not give access to this page" in at.error[0].value
    assert not at.dataframe and not at.get("plotly_chart")


@pytest.mark.parametrize(
    ("role", "offered"),
    [("executive", False), ("marketing_analyst", False), ("compliance_reviewer", True), ("admin", True)],
)
def test_the_page_is_listed_only_for_reviewers_and_admins(bank, role, offered):
    at = new_app(ACCOUNT, user=User(f"test_{role}", role)).run()
    assert not at.exception
    listed = " ".join(m.value for m in at.markdown)
    assert ("Data & privacy" in listed) is offered


@pytest.mark.parametrize("role", ["compliance_reviewer", "admin"])
def test_consent_coverage_equals_the_library(bank, role):
    at = page(role, data_section="consent").run()
    assert not at.exception
    db = resources.get_database(resources.database_path())
    expected = coverage.consent_coverage(db.backend(), as_of=db.snapshot_date())
    shown = at.dataframe[0].value
    assert list(shown["Current customers"]) == expected.get_column("customers").to_list()
    assert list(shown["Consenting"]) == expected.get_column("consenting").to_list()
    assert len(at.get("plotly_chart")) == 2
    at.segmented_control(key="consent_by").set_value("age_band").run()
    assert not at.exception
