"""Secrets outside the data: the key file, keys from the environment, the move of a stored key.

Also the store's hardening that goes with it: private file modes and DuckDB with external
access off and its configuration locked.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import stat
from datetime import datetime
from pathlib import Path

import duckdb
import polars as pl
import pytest

from analytics.access import auth, privacy
from analytics.store import keys
from analytics.store.database import Database, DatabaseError, open_database
from tests.banks import empty_tables

OLD_KEY = "9f" * 32  # what an earlier release stored: secrets.token_hex(32)


@pytest.fixture()
def key_file(tmp_path, monkeypatch) -> Path:
    """No key from the environment; the key file beside the database (the default)."""
    for name in keys.KEY_ENV.values():
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv(keys.KEY_FILE_ENV, raising=False)
    return tmp_path / "bank.keys"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _new_bank(path: Path) -> None:
    db = Database(path)
    db.load_dataset(empty_tables())
    db.close()


def test_a_key_file_is_made_once_beside_the_database_with_mode_0600(key_file, tmp_path):
    path = tmp_path / "bank.duckdb"
    _new_bank(path)
    db = open_database(path)
    first = db.keys
    db.close()
    assert _mode(key_file) == 0o600
    stored = json.loads(key_file.read_text())
    assert set(stored) == set(keys.KEY_NAMES)
    assert len({stored[name] for name in keys.KEY_NAMES}) == 3  # three different keys
    assert all(len(stored[name].encode()) >= keys.MIN_KEY_BYTES for name in keys.KEY_NAMES)
    again = open_database(path)
    assert (again.keys.pseudonym, again.keys.audit, again.keys.model) == (
        first.pseudonym,
        first.audit,
        first.model,
    )
    assert "pseudonym_key" not in again.meta()  # never in the database
    again.close()
    assert not any(stored[name] in repr(first) for name in keys.KEY_NAMES)  # never printed


def test_the_key_file_path_is_configurable(key_file, tmp_path, monkeypatch):
    elsewhere = tmp_path / "vault" / "tailor.keys"
    monkeypatch.setenv(keys.KEY_FILE_ENV, str(elsewhere))
    db = Database(tmp_path / "bank.duckdb")
    assert db.keys.audit == json.loads(elsewhere.read_text())["audit_key"].encode()
    assert not key_file.exists() and _mode(elsewhere) == 0o600
    db.close()


def test_keys_from_the_environment_win_and_short_ones_are_refused(key_file, tmp_path, monkeypatch):
    monkeypatch.setenv("TAILOR_PSEUDONYM_KEY", "p" * 32)
    monkeypatch.setenv("TAILOR_AUDIT_KEY", "a" * 40)
    monkeypatch.setenv("TAILOR_MODEL_KEY", "m" * 64)
    db = Database(tmp_path / "bank.duckdb")
    assert (db.keys.pseudonym, db.keys.audit, db.keys.model) == (b"p" * 32, b"a" * 40, b"m" * 64)
    assert not key_file.exists()  # nothing needed from a file
    db.close()
    monkeypatch.setenv("TAILOR_AUDIT_KEY", "a" * 31)
    db = Database(tmp_path / "bank.duckdb")
    with pytest.raises(
        DatabaseError, match=r"audit_key from \$TAILOR_AUDIT_KEY is 31 bytes long; at least 32"
    ):
        db.keys  # noqa: B018 - resolving the keys is what is tested
    db.close()


def test_a_key_file_others_can_read_is_refused(key_file, tmp_path):
    db = Database(tmp_path / "bank.duckdb")
    db.keys  # noqa: B018 - creates the file
    db.close()
    key_file.chmod(0o644)
    with pytest.raises(DatabaseError, match=r"can be read by other users \(mode 644\).*chmod 600"):
        Database(tmp_path / "bank.duckdb").keys  # noqa: B018 - resolving the keys is what is tested


def test_a_short_key_in_the_file_is_refused(key_file, tmp_path):
    key_file.write_text(json.dumps({"pseudonym_key": "x" * 10, "audit_key": "y" * 64, "model_key": "z" * 64}))
    key_file.chmod(0o600)
    with pytest.raises(DatabaseError, match=r"pseudonym_key from .*bank.keys is 10 bytes long"):
        Database(tmp_path / "bank.duckdb").keys  # noqa: B018 - resolving the keys is what is tested


def _legacy_bank(path: Path) -> None:
    """A database as an earlier release left it: the pseudonym key stored in it, an unsealed audit log."""
    _new_bank(path)
    con = duckdb.connect(str(path))
    con.execute("INSERT INTO dataset_meta VALUES ('pseudonym_key', ?)", [OLD_KEY])
    con.execute("ALTER TABLE users DROP COLUMN must_change_password")  # added by issue 14 too
    con.execute("DROP TABLE audit_log")
    con.execute(
        "CREATE TABLE audit_log (event_id BIGINT DEFAULT nextval('audit_log_seq'), ts TIMESTAMP,"
        " username VARCHAR, role VARCHAR, action VARCHAR, target VARCHAR, details VARCHAR)"
    )
    for minute in range(3):
        con.execute(
            "INSERT INTO audit_log (ts, username, role, action, target, details) VALUES (?, ?, ?, ?, ?, ?)",
            [datetime(2026, 1, 1, 9, minute), "ann", "admin", "sign_in", "sign_in", "{}"],
        )
    con.close()


def test_a_database_from_before_keeps_its_pseudonyms_and_loses_its_stored_key(key_file, tmp_path, caplog):
    path = tmp_path / "bank.duckdb"
    _legacy_bank(path)
    ids = pl.Series("customer_id", [100001, 100002, 119999])
    # The pseudonyms as the earlier release computed them: HMAC-SHA256 under the stored key's text.
    before = [
        "C-" + hmac.new(OLD_KEY.encode(), str(i).encode(), hashlib.sha256).hexdigest()[:12] for i in ids
    ]
    with caplog.at_level("WARNING", logger="tailor.store"):
        db = open_database(path)
    assert privacy.pseudonymize_ids(ids, privacy.pseudonym_key(db)).to_list() == before
    assert "pseudonym_key" not in db.meta()
    assert json.loads(key_file.read_text())["pseudonym_key"] == OLD_KEY
    notices = " ".join(db.notices)
    assert "Moved the pseudonym key from the database" in notices and "pseudonyms are unchanged" in notices
    assert "added column audit_log.chain_hmac" in notices and "sealed 3 audit rows" in notices
    assert "added column users.must_change_password" in notices
    assert "Moved the pseudonym key" in caplog.text  # the operator sees it in the server log
    verified = db.verify_audit()
    assert verified.ok and verified.rows == 4
    started = db.query("SELECT details FROM audit_log WHERE action = 'audit_chain_started'").item()
    assert json.loads(started) == {"sealed_rows": 3}
    auth.add_user(db, "ann", "a-long-password", "admin", actor="os:test")  # users work after the upgrade
    assert auth.authenticate(db, "ann", "a-long-password").ok
    db.close()
    reopened = open_database(path)  # a second open changes nothing and says nothing
    assert reopened.notices == [] and reopened.verify_audit().rows == 6
    reopened.close()


def test_a_stored_key_that_differs_from_the_key_file_stops_the_open(key_file, tmp_path):
    path = tmp_path / "bank.duckdb"
    _legacy_bank(path)
    key_file.write_text(json.dumps({name: "k" * 64 for name in keys.KEY_NAMES}))
    key_file.chmod(0o600)
    with pytest.raises(DatabaseError, match="would change every customer pseudonym"):
        open_database(path)
    con = duckdb.connect(str(path), read_only=True)
    assert con.execute("SELECT value FROM dataset_meta WHERE key = 'pseudonym_key'").fetchone() == (OLD_KEY,)
    con.close()


def test_database_files_are_private(key_file, tmp_path):
    path = tmp_path / "bank.duckdb"
    _new_bank(path)
    path.chmod(0o644)
    db = open_database(path)
    db.write_audit(username="ann", role="admin", action="sign_in")
    assert _mode(path) == 0o600
    db.close()


@pytest.mark.parametrize(
    ("statement", "refusal"),
    [
        ("SELECT * FROM read_csv('/etc/passwd')", "file system operations are disabled"),
        ("COPY customers TO '{tmp}/out.csv'", "file system operations are disabled"),
        ("ATTACH '{tmp}/other.duckdb' AS other", "file system operations are disabled"),
        ("INSTALL httpfs", "Permission Error"),
        ("SET enable_external_access = true", "the configuration has been locked"),
        ("SET threads = 64", "the configuration has been locked"),
    ],
)
def test_sql_cannot_reach_files_or_unlock_the_configuration(tmp_path, statement, refusal):
    db = Database(tmp_path / "bank.duckdb")
    db.ensure_schema()
    with pytest.raises(duckdb.Error, match=refusal):
        db.execute(statement.format(tmp=tmp_path))
    assert not (tmp_path / "out.csv").exists() and not (tmp_path / "other.duckdb").exists()
    db.close()


def test_reads_and_writes_still_work_under_the_hardened_configuration(tmp_path):
    db = Database(tmp_path / "bank.duckdb")
    tables = empty_tables()
    db.load_dataset(tables, meta={"as_of": "2025-01-31"})
    assert db.table("customers").count().execute() == 0
    assert db.query("SELECT current_setting('lock_configuration') AS locked").item() is True
    db.close()
