"""AppTest of the account page for every role."""

import pytest

from analytics.common.types import ROLES, User
from tests.app.conftest import PASSWORD, REPO, new_app

PAGE = str(REPO / "pages" / "account.py")


@pytest.mark.parametrize("role", ROLES)
def test_every_role_sees_its_account_and_own_sign_ins(bank, role):
    at = new_app(PAGE, user=User(f"test_{role}", role)).run()
    assert not at.exception
    assert at.title[0].value == "Account"
    assert f"**test_{role}**" in at.markdown[0].value
    pages = at.markdown[1].value
    assert ("Executive summary" in pages) == (role != "compliance_reviewer")
    assert "Account" in pages


def test_account_page_refuses_anonymous_visitors(bank):
    at = new_app(PAGE).run()
    assert at.error[0].value == "Please sign in to use Tailor."


def test_sign_in_history_reads_in_plain_words_and_has_no_kpi_filters(bank):
    from analytics.access import auth
    from analytics.store.database import Database

    db = Database(bank)
    auth.authenticate(db, "test_compliance_reviewer", "wrong password")
    auth.authenticate(db, "test_compliance_reviewer", PASSWORD)
    db.close()
    at = new_app(user=User("test_compliance_reviewer", "compliance_reviewer")).run()
    at.switch_page("../pages/account.py").run()
    assert not at.exception
    assert at.title[0].value == "Account"
    events = at.dataframe[0].value["action"].tolist()
    assert events[:2] == ["Signed in", "Failed sign-in"]
    assert not at.sidebar.radio  # the period filter belongs to the KPI pages only
