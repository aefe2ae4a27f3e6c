"""The audit log is append-only and tamper-evident: an HMAC chain, checked by `audit verify`."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import polars as pl
import pytest

from analytics.store import audit_chain
from analytics.store.contracts import AUDIT_LOG
from analytics.store.database import Database
from tests.banks import empty_tables

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture()
def logged(tmp_path) -> Path:
    """A small bank with five audit rows."""
    path = tmp_path / "bank.duckdb"
    db = Database(path)
    db.load_dataset(empty_tables())
    for n in range(5):
        db.write_audit(
            username=f"user{n}", role="admin", action="sign_in", target="sign_in", details={"n": n}
        )
    db.close()
    return path


def _verify_cli(path: Path) -> tuple[int, dict]:
    done = subprocess.run(
        [sys.executable, "-m", "analytics", "audit", "verify", "--json", "--db", str(path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        check=False,
    )
    return done.returncode, json.loads(done.stdout)


def test_each_seal_is_the_rfc2104_hmac_of_the_row_and_the_previous_seal(logged):
    db = Database(logged)
    rows = db.query("SELECT * FROM audit_log ORDER BY event_id").to_dicts()
    previous = audit_chain.GENESIS
    for row in rows:
        # Recomputed here from the documented serialisation, with the standard library's HMAC.
        fields = [previous, row["event_id"], row["ts"].isoformat(), row["username"], row["role"]]
        fields += [row["action"], row["target"], row["details"]]
        payload = json.dumps(fields, ensure_ascii=True, separators=(",", ":")).encode()
        assert row["chain_hmac"] == hmac.new(db.keys.audit, payload, hashlib.sha256).hexdigest()
        previous = row["chain_hmac"]
    db.close()


def test_an_intact_log_verifies_and_reports_its_head(logged):
    code, result = _verify_cli(logged)
    assert code == 0 and result["ok"] and result["rows"] == 5
    assert result["first_broken_event_id"] is None
    db = Database(logged, read_only=True)
    assert (result["head_event_id"], result["head_hmac"]) == db.query(
        "SELECT event_id, chain_hmac FROM audit_log ORDER BY event_id DESC LIMIT 1"
    ).row(0)
    db.close()


def _tamper(source: Path, tmp_path: Path, statement: str, params: list) -> Path:
    # The attack: someone with the database file but not the audit key edits a copy.
    copy = tmp_path / "tampered.duckdb"
    shutil.copyfile(source, copy)
    db = Database(copy)
    db.execute(statement, params)
    db.close()
    return copy


def test_an_edited_row_is_named_by_audit_verify(logged, tmp_path):
    copy = _tamper(logged, tmp_path, "UPDATE audit_log SET username = 'someone_else' WHERE event_id = ?", [3])
    code, result = _verify_cli(copy)
    assert code == 1 and not result["ok"]
    assert result["first_broken_event_id"] == 3
    assert "row event_id 3: its seal does not match" in result["problem"]


def test_a_removed_row_breaks_the_next_one(logged, tmp_path):
    copy = _tamper(logged, tmp_path, "DELETE FROM audit_log WHERE event_id = ?", [2])
    code, result = _verify_cli(copy)
    assert code == 1 and result["first_broken_event_id"] == 3
    assert "event ids jump from 1 to 3" in result["problem"]


def test_a_forged_row_with_a_guessed_seal_and_an_unsealed_row_are_found(logged, tmp_path):
    forged = audit_chain.seal(b"not the key" * 4, "0" * 64, {f: None for f in audit_chain.SEALED_FIELDS})
    copy = _tamper(
        logged,
        tmp_path,
        "INSERT INTO audit_log VALUES (6, TIMESTAMP '2026-01-01', 'x', 'admin', 'export', 't', '{}', ?)",
        [forged],
    )
    assert _verify_cli(copy)[1]["first_broken_event_id"] == 6
    db = Database(copy)
    db.execute("UPDATE audit_log SET chain_hmac = NULL WHERE event_id = 4")
    result = db.verify_audit()
    db.close()
    assert result.first_broken_event_id == 4 and "has no seal" in result.problem


def test_concurrent_writers_never_fork_the_chain(tmp_path):
    db = Database(tmp_path / "bank.duckdb")
    db.ensure_schema()

    def write(worker: int) -> None:
        for n in range(40):
            db.write_audit(username=f"w{worker}", role="admin", action="view_personal_data", details={"n": n})

    threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result = db.verify_audit()
    assert result.ok and result.rows == 160
    db.close()


def test_the_generic_writers_refuse_the_audit_log():
    db = Database(":memory:")
    db.ensure_schema()
    row = pl.DataFrame(schema=AUDIT_LOG.schema)
    with pytest.raises(KeyError, match="written only through Database.write_audit"):
        db.append_rows({AUDIT_LOG.name: row})
    db.close()


# Statements that change or remove rows, naming the audit log directly or through its contract.
_MUTATION = re.compile(
    r"\b(UPDATE|DELETE\s+FROM|TRUNCATE|DROP\s+TABLE)\b[^\n]{0,40}(audit_log|AUDIT_LOG)", re.I
)
# The one exception: the upgrade that seals rows written before the chain existed (only null seals).
_ALLOWED = {("analytics/store/database.py", "_seal_legacy_audit_rows")}


def test_no_code_path_updates_or_deletes_audit_rows():
    found = []
    for folder in ("analytics", "app", "pages", "sample_data"):
        for path in sorted((REPO / folder).rglob("*.py")):
            text = path.read_text()
            for match in _MUTATION.finditer(text):
                function = re.findall(r"^\s*def (\w+)", text[: match.start()], re.M)[-1:]
                where = (str(path.relative_to(REPO)), function[0] if function else "")
                if where not in _ALLOWED:
                    found.append(f"{where[0]}: {match.group(0)}")
    assert found == []


def test_the_mutation_check_bites(tmp_path):
    planted = "db.execute(f'DELETE FROM \"{AUDIT_LOG.name}\" WHERE ts < ?', [cutoff])"
    assert _MUTATION.search(planted)
    assert _MUTATION.search("con.execute('UPDATE audit_log SET details = ?')")
