"""AppTest of the entrypoint's gate (app/main.py): session timeouts, the account re-read on every
rerun, the first-sign-in password, and what the sign-in screen says when the database is broken."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from analytics.access import auth
from analytics.common.types import User
from analytics.store.database import Database
from app import state
from app.main import MSG_DB_UNAVAILABLE
from tests.app.conftest import PASSWORD, new_app

ACCOUNT = "../pages/account.py"
NEW_PASSWORD = "a password of my own"


def now() -> datetime:
    return datetime.now(UTC)


def sign_outs(bank) -> list[tuple[str, dict]]:
    db = Database(bank)
    rows = db.query(
        "select username, details from audit_log where action = 'sign_out' order by event_id"
    ).rows()
    db.close()
    return [(name, json.loads(details)) for name, details in rows]


def on_sign_in_form(at) -> bool:
    return [t.label for t in at.text_input] == ["User name", "Password"]


def sign_in(at, username: str, password: str = PASSWORD):
    at.text_input(key="sign_in_username").input(username)
    at.text_input(key="sign_in_password").input(password)
    return at.button[0].click().run()


# -- timeouts -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("signed_in_ago", "idle_for", "reason"),
    [
        (timedelta(hours=1), timedelta(minutes=31), "idle_timeout"),
        (timedelta(hours=12, minutes=1), timedelta(minutes=1), "absolute_timeout"),
    ],
)
def test_an_expired_session_is_signed_out_with_the_reason(bank, signed_in_ago, idle_for, reason):
    at = new_app(
        user=User("test_executive", "executive"),
        **{state.SIGNED_IN_AT: now() - signed_in_ago, state.LAST_ACTIVITY_AT: now() - idle_for},
    ).run()
    assert not at.exception
    assert on_sign_in_form(at)
    assert at.warning[0].value == auth.SESSION_END_MESSAGES[reason]
    assert not at.metric and state.USER not in at.session_state
    assert sign_outs(bank) == [("test_executive", {"reason": reason})]


def test_the_idle_message_says_what_happened():
    assert auth.SESSION_END_MESSAGES["idle_timeout"].startswith(
        "Your session ended after 30 minutes without activity"
    )


def test_an_active_session_goes_on_and_its_clock_moves(bank):
    signed_in = now() - timedelta(hours=11, minutes=50)
    at = new_app(
        user=User("test_executive", "executive"),
        **{state.SIGNED_IN_AT: signed_in, state.LAST_ACTIVITY_AT: now() - timedelta(minutes=29)},
    )
    at.switch_page(ACCOUNT).run()
    assert not at.exception
    assert at.title[0].value == "Account"
    assert at.session_state[state.SIGNED_IN_AT] == signed_in
    assert now() - at.session_state[state.LAST_ACTIVITY_AT] < timedelta(minutes=1)
    assert sign_outs(bank) == []


def test_sign_in_starts_the_session_clock(bank):
    at = sign_in(new_app().run(), "test_compliance_reviewer")
    assert not at.exception
    assert now() - at.session_state[state.SIGNED_IN_AT] < timedelta(minutes=1)


# -- the account re-read on every rerun -------------------------------------------------------------
def test_a_removed_user_is_signed_out_at_the_next_click(bank):
    at = new_app(user=User("test_marketing_analyst", "marketing_analyst"))
    at.switch_page(ACCOUNT).run()
    assert at.title[0].value == "Account"
    db = Database(bank)
    auth.remove_user(db, "test_marketing_analyst", actor="os:test")
    db.close()
    at.run()
    assert not at.exception
    assert on_sign_in_form(at)
    assert at.warning[0].value == auth.MSG_ACCOUNT_GONE
    assert sign_outs(bank) == [("test_marketing_analyst", {"reason": "account_removed"})]


def test_a_changed_role_takes_effect_at_the_next_click(bank):
    at = new_app(user=User("test_marketing_analyst", "marketing_analyst"))
    at.switch_page(ACCOUNT).run()
    assert "Segments" in at.markdown[1].value
    db = Database(bank)
    auth.add_user(
        db, "test_marketing_analyst", PASSWORD, "compliance_reviewer", replace=True, actor="os:test"
    )
    db.close()
    at.run()
    assert not at.exception
    assert at.session_state[state.USER] == User("test_marketing_analyst", "compliance_reviewer")
    assert "**Compliance reviewer**" in at.markdown[0].value
    assert "Segments" not in at.markdown[1].value


# -- first sign-in: set your own password ----------------------------------------------------------
@pytest.fixture()
def printed_user(bank):
    db = Database(bank)
    auth.add_user(db, "fresh", PASSWORD, "executive", must_change_password=True, actor="os:test")
    db.close()
    return "fresh"


def set_password(at, current: str, new: str, repeat: str | None = None):
    at.text_input[0].input(current)
    at.text_input[1].input(new)
    at.text_input[2].input(new if repeat is None else repeat)
    return at.button(key="FormSubmitter:set_own_password-Set password").click().run()


def test_a_printed_password_must_be_replaced_before_any_page_runs(bank, printed_user):
    at = sign_in(new_app().run(), printed_user)
    assert not at.exception
    assert at.title[0].value == "Set your password"
    assert [t.label for t in at.text_input] == ["Current password", "New password", "Repeat the new password"]
    assert not at.metric
    # No page runs, not even one asked for by its path.
    at.switch_page("../pages/executive_summary.py").run()
    assert at.title[0].value == "Set your password" and not at.metric
    at = set_password(at, PASSWORD, NEW_PASSWORD)
    assert not at.exception
    assert at.title[0].value == "Executive summary"
    assert at.toast[0].value == auth.MSG_PASSWORD_CHANGED
    db = Database(bank)
    assert auth.load_account(db, printed_user).must_change_password is False
    assert auth.authenticate(db, printed_user, NEW_PASSWORD).ok
    changed = db.query("select username, target from audit_log where action = 'password_changed'").rows()
    db.close()
    assert changed == [("fresh", "user:fresh")]


def test_the_first_password_form_refuses_a_mismatch_and_stays(bank, printed_user):
    at = new_app(user=User(printed_user, "executive")).run()
    at = set_password(at, PASSWORD, NEW_PASSWORD, repeat="something else entirely")
    assert not at.exception
    assert at.error[0].value == auth.MSG_PASSWORDS_DIFFER
    assert at.title[0].value == "Set your password"
    at = set_password(at, PASSWORD, "short")
    assert at.error[0].value == auth.MSG_SHORT_PASSWORD.format(n=auth.MIN_PASSWORD_LENGTH)
    assert at.title[0].value == "Set your password"


# -- no server path before sign-in ------------------------------------------------------------------
def all_text(at) -> str:
    return " ".join(str(getattr(node, "value", "")) for node in at.main) + " ".join(
        str(getattr(node, "value", "")) for node in at.sidebar
    )


@pytest.mark.parametrize("broken", ["missing", "corrupt"])
def test_a_broken_database_shows_no_server_path_before_sign_in(tmp_path, monkeypatch, broken, caplog):
    path = tmp_path / "bank.duckdb"
    if broken == "corrupt":
        path.write_bytes(b"garbage" * 1000)
    monkeypatch.setenv("TAILOR_DB", str(path))
    with caplog.at_level("ERROR", logger="tailor"):
        at = new_app().run()
    assert not at.exception
    assert at.error[0].value == MSG_DB_UNAVAILABLE
    assert str(tmp_path) not in all_text(at)
    assert str(path) in caplog.text  # the detail is in the server's log


def test_a_signed_in_administrator_sees_the_detail(tmp_path, monkeypatch):
    path = tmp_path / "absent.duckdb"
    monkeypatch.setenv("TAILOR_DB", str(path))
    live = {state.SIGNED_IN_AT: now(), state.LAST_ACTIVITY_AT: now()}
    admin = new_app(user=User("test_admin", "admin"), **live).run()
    assert not admin.exception
    assert str(path) in admin.caption[0].value
    executive = new_app(user=User("test_executive", "executive"), **live).run()
    assert str(tmp_path) not in all_text(executive)
