"""Sign-in, the user store, lock-out and role access (analytics.access.auth)."""

from datetime import UTC, datetime, timedelta

import pytest
from argon2 import PasswordHasher

from analytics.access import auth
from analytics.store.database import Database


@pytest.fixture()
def db():
    database = Database(":memory:")
    database.ensure_schema()
    yield database
    database.close()


def audit_actions(db, username):
    return (
        db.query("select action from audit_log where username = ? order by event_id", [username])
        .get_column("action")
        .to_list()
    )


def test_password_is_stored_as_salted_argon2id_hash(db):
    auth.add_user(db, "Ana.Lyst", "correct horse battery", "marketing_analyst")
    auth.add_user(db, "second", "correct horse battery", "executive")
    hashes = db.query("select username, password_hash from users order by username").rows()
    assert [h[0] for h in hashes] == ["ana.lyst", "second"]
    assert all(h[1].startswith("$argon2id$") for h in hashes)
    assert "correct horse battery" not in hashes[0][1]
    assert hashes[0][1] != hashes[1][1]  # same password, different salt
    assert PasswordHasher().verify(hashes[0][1], "correct horse battery")


def test_sign_in_succeeds_case_insensitively_and_is_audited(db):
    auth.add_user(db, "exec", "a long password", "executive")
    result = auth.authenticate(db, "  EXEC ", "a long password")
    assert result.ok and result.user.username == "exec" and result.user.role == "executive"
    assert audit_actions(db, "exec")[-1] == "sign_in"
    last = db.query("select last_sign_in_at from users where username = 'exec'").item()
    assert last is not None


def test_wrong_password_and_unknown_user_get_the_same_plain_refusal(db):
    auth.add_user(db, "exec", "a long password", "executive")
    wrong_password = auth.authenticate(db, "exec", "not the password")
    unknown_user = auth.authenticate(db, "nobody", "a long password")
    assert not wrong_password.ok and not unknown_user.ok
    assert wrong_password.message == unknown_user.message == auth.MSG_SIGN_IN_FAILED
    assert wrong_password.user is None
    assert audit_actions(db, "exec") == ["user_added", "sign_in_failed"]
    assert audit_actions(db, "nobody") == ["sign_in_failed"]


def test_empty_fields_are_refused_without_touching_the_store(db):
    assert auth.authenticate(db, "", "x").message == auth.MSG_SIGN_IN_EMPTY
    assert auth.authenticate(db, "exec", "").message == auth.MSG_SIGN_IN_EMPTY


def test_repeated_failures_lock_the_name_even_with_the_right_password(db):
    auth.add_user(db, "exec", "a long password", "executive")
    for _ in range(auth.MAX_FAILED_ATTEMPTS):
        assert auth.authenticate(db, "exec", "guess").message == auth.MSG_SIGN_IN_FAILED
    locked = auth.authenticate(db, "exec", "a long password")
    assert not locked.ok
    assert locked.message == auth.MSG_SIGN_IN_LOCKED.format(minutes=15)
    assert auth.list_users(db).filter(username="exec").get_column("locked").item() is True
    # Unknown names lock the same way, so the lock-out does not reveal which names exist.
    for _ in range(auth.MAX_FAILED_ATTEMPTS):
        auth.authenticate(db, "ghost", "guess")
    assert auth.authenticate(db, "ghost", "guess").message == locked.message


def test_lock_expires_after_the_window_and_unlock_clears_it(db):
    auth.add_user(db, "exec", "a long password", "executive")
    for _ in range(auth.MAX_FAILED_ATTEMPTS):
        auth.authenticate(db, "exec", "guess")
    later = datetime.now(UTC).replace(tzinfo=None) + auth.LOCKOUT + timedelta(seconds=5)
    assert auth.failed_attempts(db, "exec", now=later) == 0
    assert auth.failed_attempts(db, "exec") == auth.MAX_FAILED_ATTEMPTS
    auth.unlock_user(db, "exec")
    assert auth.authenticate(db, "exec", "a long password").ok


def test_a_success_resets_the_failure_count(db):
    auth.add_user(db, "exec", "a long password", "executive")
    for _ in range(auth.MAX_FAILED_ATTEMPTS - 1):
        auth.authenticate(db, "exec", "guess")
    assert auth.authenticate(db, "exec", "a long password").ok
    assert auth.failed_attempts(db, "exec") == 0


@pytest.mark.parametrize(
    ("username", "password", "role", "message"),
    [
        ("x", "a long password", "executive", "is not allowed"),
        ("has space", "a long password", "executive", "is not allowed"),
        ("valid", "short", "executive", "too short"),
        ("valid", "a long password", "ceo", "does not exist"),
    ],
)
def test_bad_user_definitions_are_refused_with_the_reason(db, username, password, role, message):
    with pytest.raises(auth.UserError, match=message):
        auth.add_user(db, username, password, role)
    assert auth.count_users(db) == 0


def test_existing_user_needs_replace_and_remove_needs_a_user(db):
    auth.add_user(db, "exec", "a long password", "executive")
    with pytest.raises(auth.UserError, match="already exists"):
        auth.add_user(db, "exec", "another password", "executive")
    auth.add_user(db, "exec", "another password", "admin", replace=True)
    assert auth.authenticate(db, "exec", "another password").user.role == "admin"
    auth.remove_user(db, "exec")
    assert auth.count_users(db) == 0
    with pytest.raises(auth.UserError, match="no user"):
        auth.remove_user(db, "exec")


def test_user_names_are_bound_parameters_not_sql(db):
    auth.add_user(db, "exec", "a long password", "executive")
    result = auth.authenticate(db, "exec' OR '1'='1", "a long password")
    assert not result.ok
    assert auth.count_users(db) == 1


def test_demo_users_one_per_role_only_on_an_empty_store(db):
    created = auth.create_demo_users(db)
    assert sorted(u.role for u in created) == sorted(auth.ROLES)
    for demo in created:
        assert auth.authenticate(db, demo.username, demo.password).ok
    assert auth.create_demo_users(db) == []


@pytest.mark.parametrize(
    ("role", "page", "allowed"),
    [
        ("executive", "executive_summary", True),
        ("marketing_analyst", "executive_summary", True),
        ("admin", "executive_summary", True),
        ("compliance_reviewer", "executive_summary", False),
        ("compliance_reviewer", "account", True),
        (None, "account", False),
        ("executive", "no_such_page", False),
    ],
)
def test_page_access_by_role(role, page, allowed):
    assert auth.can_view(role, page) is allowed


def test_recent_activity_lists_only_the_users_own_sign_in_events(db):
    auth.add_user(db, "exec", "a long password", "executive")
    auth.add_user(db, "other", "a long password", "executive")
    auth.authenticate(db, "exec", "wrong password")
    auth.authenticate(db, "exec", "a long password")
    auth.authenticate(db, "other", "a long password")
    activity = auth.recent_activity(db, "exec")
    assert activity.get_column("action").to_list() == ["sign_in", "sign_in_failed"]


def test_parallel_wrong_passwords_cannot_outrun_the_lock_out(tmp_path):
    import threading

    path = tmp_path / "bank.duckdb"
    db = Database(path)
    db.ensure_schema()
    auth.add_user(db, "alice", "a long password", "executive")
    results = []

    def attempt():
        results.append(auth.authenticate(db, "alice", "wrong password").message)

    threads = [threading.Thread(target=attempt) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count(auth.MSG_SIGN_IN_FAILED) == auth.MAX_FAILED_ATTEMPTS
    assert results.count(auth.MSG_SIGN_IN_LOCKED.format(minutes=15)) == 12 - auth.MAX_FAILED_ATTEMPTS
    db.close()
