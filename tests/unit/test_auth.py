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
    assert audit_actions(db, "exec") == ["sign_in_failed"]
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


# -- who did it: actor and target of user management -------------------------------------------
def audit_rows(db, action):
    return db.query(
        "select username, role, target, details from audit_log where action = ? order by event_id", [action]
    ).rows()


def test_user_management_records_who_did_it_and_whom_it_concerns(db):
    auth.add_user(db, "exec", "a long password", "executive", actor="os:alice")
    auth.add_user(db, "exec", "another password", "admin", replace=True, actor="os:bob")
    auth.unlock_user(db, "EXEC", actor="os:carol")
    auth.remove_user(db, "exec", actor="os:dave")
    added = audit_rows(db, "user_added")
    assert [(r[0], r[2]) for r in added] == [("os:alice", "user:exec"), ("os:bob", "user:exec")]
    assert '"replaced": true' in added[1][3] and '"role": "admin"' in added[1][3]
    assert audit_rows(db, "unlock")[0][:3] == ("os:carol", None, "user:exec")
    assert audit_rows(db, "user_removed")[0][:3] == ("os:dave", None, "user:exec")
    assert audit_actions(db, "exec") == []  # the user concerned is the target, never the actor


def test_the_actor_defaults_to_the_os_user_running_the_process(db, monkeypatch):
    monkeypatch.setattr(auth.getpass, "getuser", lambda: "ops")
    auth.add_user(db, "exec", "a long password", "executive")
    assert audit_rows(db, "user_added")[0][0] == "os:ops"

    def no_login():
        raise OSError("no login name")

    monkeypatch.setattr(auth.getpass, "getuser", no_login)
    assert auth.os_actor() == "os:unknown"


def test_unlock_is_keyed_by_the_target_not_by_who_unlocked(db):
    auth.add_user(db, "exec", "a long password", "executive")
    auth.add_user(db, "boss", "a long password", "admin")
    for _ in range(auth.MAX_FAILED_ATTEMPTS):
        auth.authenticate(db, "exec", "guess")
        auth.authenticate(db, "boss", "guess")
    auth.unlock_user(db, "exec", actor="boss")
    assert auth.failed_attempts(db, "exec") == 0
    assert (
        auth.failed_attempts(db, "boss") == auth.MAX_FAILED_ATTEMPTS
    )  # unlocking others is no unlock of oneself


def test_demo_users_are_recorded_with_their_creator_and_must_set_a_password(db):
    created = auth.create_demo_users(db, actor="os:installer")
    assert {r[0] for r in audit_rows(db, "user_added")} == {"os:installer"}
    assert all(auth.load_account(db, u.username).must_change_password for u in created)


# -- length caps --------------------------------------------------------------------------------
def test_overlong_sign_in_is_refused_before_any_hashing_or_record(db, monkeypatch):
    auth.add_user(db, "exec", "a long password", "executive")

    def no_hashing(*_args):
        raise AssertionError("an overlong sign-in reached the user store or Argon2")

    monkeypatch.setattr(auth, "_verify", no_hashing)
    monkeypatch.setattr(auth, "_find", no_hashing)
    megabyte = "x" * 1_000_000
    expected = auth.MSG_SIGN_IN_TOO_LONG.format(username=64, password=1024)
    assert auth.authenticate(db, "exec", megabyte).message == expected
    assert auth.authenticate(db, "e" * (auth.MAX_USERNAME_LENGTH + 1), "a long password").message == expected
    assert audit_actions(db, "exec") == []


def test_a_password_of_exactly_the_cap_is_accepted(db):
    longest = "p" * auth.MAX_PASSWORD_LENGTH
    auth.add_user(db, "exec", longest, "executive")
    assert auth.authenticate(db, "exec", longest).ok


@pytest.mark.parametrize(
    ("username", "password", "message"),
    [
        ("e" * 65, "a long password", auth.MSG_LONG_USERNAME.format(n=64)),
        ("exec", "p" * 1025, auth.MSG_LONG_PASSWORD.format(n=1024)),
    ],
)
def test_add_user_caps_name_and_password_length(db, username, password, message):
    with pytest.raises(auth.UserError) as refused:
        auth.add_user(db, username, password, "executive")
    assert str(refused.value) == message
    assert auth.count_users(db) == 0


# -- accounts re-read, first-sign-in password, password change ----------------------------------
def test_load_account_sees_role_changes_removal_and_the_first_sign_in_flag(db):
    auth.add_user(db, "exec", "a long password", "executive", must_change_password=True)
    assert auth.load_account(db, " Exec ") == auth.Account("exec", "executive", must_change_password=True)
    auth.add_user(db, "exec", "a long password", "admin", replace=True)
    assert auth.load_account(db, "exec") == auth.Account("exec", "admin", must_change_password=False)
    auth.remove_user(db, "exec")
    assert auth.load_account(db, "exec") is None


def test_change_password_replaces_the_hash_clears_the_flag_and_is_audited(db):
    auth.add_user(db, "exec", "printed password", "executive", must_change_password=True)
    auth.change_password(db, "exec", "printed password", "my own password")
    assert not auth.authenticate(db, "exec", "printed password").ok
    assert auth.authenticate(db, "exec", "my own password").ok
    assert auth.load_account(db, "exec").must_change_password is False
    changed = audit_rows(db, "password_changed")
    assert changed == [("exec", "executive", "user:exec", '{"was_required": true}')]
    assert "password_changed" in auth.recent_activity(db, "exec").get_column("action").to_list()
    stored = db.query("select password_hash from users").item()
    assert stored.startswith("$argon2id$") and "my own password" not in stored


@pytest.mark.parametrize(
    ("current", "new", "message"),
    [
        ("wrong password", "my own password", auth.MSG_WRONG_CURRENT_PASSWORD),
        ("printed password", "short", auth.MSG_SHORT_PASSWORD.format(n=10)),
        ("printed password", "p" * 1025, auth.MSG_LONG_PASSWORD.format(n=1024)),
        ("printed password", "printed password", auth.MSG_SAME_PASSWORD),
        ("x" * 1_000_000, "my own password", auth.MSG_WRONG_CURRENT_PASSWORD),
    ],
)
def test_change_password_refusals_keep_the_old_password(db, current, new, message):
    auth.add_user(db, "exec", "printed password", "executive", must_change_password=True)
    with pytest.raises(auth.UserError) as refused:
        auth.change_password(db, "exec", current, new)
    assert str(refused.value) == message
    assert auth.authenticate(db, "exec", "printed password").ok
    assert auth.load_account(db, "exec").must_change_password is True


def test_wrong_current_passwords_count_towards_the_lock_out(db):
    auth.add_user(db, "exec", "a long password", "executive")
    for _ in range(auth.MAX_FAILED_ATTEMPTS):
        with pytest.raises(auth.UserError, match="current password is not right"):
            auth.change_password(db, "exec", "guess", "my own password")
    assert audit_actions(db, "exec")[-1] == "password_change_failed"
    with pytest.raises(auth.UserError) as locked:
        auth.change_password(db, "exec", "a long password", "my own password")
    assert str(locked.value) == auth.MSG_SIGN_IN_LOCKED.format(minutes=15)
    assert not auth.authenticate(db, "exec", "a long password").ok


def test_change_password_of_a_removed_user_is_refused(db):
    with pytest.raises(auth.UserError, match="no user 'ghost'"):
        auth.change_password(db, "ghost", "a long password", "my own password")


# -- session timeouts ---------------------------------------------------------------------------
T0 = datetime(2025, 3, 1, 9, 0)


@pytest.mark.parametrize(
    ("signed_in", "last_activity", "now", "expected"),
    [
        (T0, T0, T0 + timedelta(minutes=29, seconds=59), None),
        (T0, T0, T0 + timedelta(minutes=30), "idle_timeout"),
        (T0, T0 + timedelta(hours=11, minutes=50), T0 + timedelta(hours=11, minutes=59), None),
        (T0, T0 + timedelta(hours=11, minutes=50), T0 + timedelta(hours=12), "absolute_timeout"),
        (T0, T0, T0 + timedelta(hours=13), "absolute_timeout"),  # both: the absolute limit is named
    ],
)
def test_session_expiry_idle_and_absolute(signed_in, last_activity, now, expected):
    assert auth.session_expiry(signed_in, last_activity, now=now) == expected


def test_session_end_messages_name_the_limits():
    assert auth.SESSION_END_MESSAGES["idle_timeout"].startswith(
        "Your session ended after 30 minutes without activity."
    )
    assert "12 hours" in auth.SESSION_END_MESSAGES["absolute_timeout"]
