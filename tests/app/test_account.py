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


def change_password(at, current: str, new: str, repeat: str | None = None):
    fields = {t.label: t for t in at.text_input}
    fields["Current password"].input(current)
    fields["New password"].input(new)
    fields["Repeat the new password"].input(new if repeat is None else repeat)
    return at.button(key="FormSubmitter:change_password-Change password").click().run()


def test_a_user_changes_their_password_on_the_account_page(bank):
    from analytics.access import auth
    from analytics.store.database import Database

    at = new_app(PAGE, user=User("test_executive", "executive")).run()
    at = change_password(at, PASSWORD, "my brand new password")
    assert not at.exception
    assert at.success[0].value == auth.MSG_PASSWORD_CHANGED
    db = Database(bank)
    assert not auth.authenticate(db, "test_executive", PASSWORD).ok
    assert auth.authenticate(db, "test_executive", "my brand new password").ok
    changed = db.query("select username, role from audit_log where action = 'password_changed'").rows()
    db.close()
    assert changed == [("test_executive", "executive")]
    at.run()
    assert "Password changed" in at.dataframe[0].value["action"].tolist()


@pytest.mark.parametrize(
    ("current", "new", "repeat", "message"),
    [
        ("wrong password", "my brand new password", None, "The current password is not right."),
        (PASSWORD, "my brand new password", "my brand new passwort", "The two new passwords differ."),
        (PASSWORD, "short", None, "The password is too short"),
    ],
)
def test_a_refused_password_change_says_why_and_keeps_the_old_one(bank, current, new, repeat, message):
    from analytics.access import auth
    from analytics.store.database import Database

    at = new_app(PAGE, user=User("test_admin", "admin")).run()
    at = change_password(at, current, new, repeat)
    assert not at.exception
    assert at.error[0].value.startswith(message)
    assert not at.success
    db = Database(bank)
    assert auth.authenticate(db, "test_admin", PASSWORD).ok
    db.close()
