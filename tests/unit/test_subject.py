"""Data-subject requests (analytics.privacy.subject): access export, erasure, "no byte left", compaction."""

from __future__ import annotations

import io
import json
import re
import stat
import threading
import zipfile
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest

from analytics.cli.main import main
from analytics.cli.subject import MSG_NEEDS_YES
from analytics.privacy import subject
from analytics.store.contracts import (
    ALL_TABLES,
    CLV_PREDICTIONS,
    MODEL_PREDICTIONS,
    MODEL_SHAP,
    SEGMENT_MAP_POINTS,
    SEGMENT_MEMBERS,
    SEGMENTS,
)
from analytics.store.database import Database, DatabaseError, open_database

REPO_ROOT = Path(__file__).resolve().parents[2]
NOW = datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def _file_bytes(path: Path) -> bytes:
    wal = path.with_name(path.name + ".wal")
    return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


def _held(data: bytes, text: str) -> bool:
    """Whether ``text`` is in ``data``; a number only as a whole number (not inside a longer one)."""
    if text.isdigit():
        return re.search(rb"(?<![0-9])" + text.encode() + rb"(?![0-9])", data) is not None
    return text.encode() in data


def _visible_customers(path: Path, db: Database, limit: int = 6) -> list[subject.SubjectIdentity]:
    """Customers whose e-mail is stored as plain bytes (DuckDB compresses most strings)."""
    # Every e-mail-like run of bytes (it may run into its neighbours), then which e-mails are in them.
    seen = "\n".join(m.decode(errors="replace") for m in re.findall(rb"[\w.+-]+@[\w.-]+", _file_bytes(path)))
    rows = db.query("SELECT customer_id, email FROM customers ORDER BY customer_id")
    ids = [i for i, email in rows.iter_rows() if email in seen][:limit]
    return [subject.subject_identity(db, i) for i in ids]


def _plant(db: Database, victim: int, other: int) -> None:
    """A saved segment, model outputs and free text that mention the victim (and the control)."""
    both = [victim, other]
    db.append_rows(
        {
            SEGMENTS.name: pl.DataFrame(
                {
                    "segment_id": ["seg-subject-test"],
                    "name": ["subject test"],
                    "version": [1],
                    "description": [f"asked for by customer {victim} on the phone"],
                    "source": ["upload"],
                    "parameters": ["{}"],
                    "created_by": ["tests"],
                    "created_at": [NOW],
                    "data_as_of": [date(2026, 1, 1)],
                    "customers": [2],
                },
                schema=SEGMENTS.schema,
            ),
            SEGMENT_MEMBERS.name: pl.DataFrame(
                {"segment_id": ["seg-subject-test"] * 2, "customer_id": both}, schema=SEGMENT_MEMBERS.schema
            ),
        }
    )
    db.store_model_output(
        append={
            MODEL_PREDICTIONS.name: pl.DataFrame(
                {
                    "model_id": ["churn-v1-test"] * 2,
                    "customer_id": both,
                    "score": [0.2, 0.3],
                    "scored_at": [NOW] * 2,
                    "features_as_of": [date(2026, 1, 1)] * 2,
                },
                schema=MODEL_PREDICTIONS.schema,
            ),
            MODEL_SHAP.name: pl.DataFrame(
                {
                    "model_id": ["churn-v1-test"] * 2,
                    "kind": ["tree"] * 2,
                    "customer_id": both,
                    "feature": ["tenure_months"] * 2,
                    "value": [3.0, 4.0],
                    "shap": [0.1, -0.1],
                },
                schema=MODEL_SHAP.schema,
            ),
            SEGMENT_MAP_POINTS.name: pl.DataFrame(
                {"map_id": ["map-test"] * 2, "customer_id": both, "x": [0.0, 1.0], "y": [1.0, 0.0]},
                schema=SEGMENT_MAP_POINTS.schema,
            ),
            CLV_PREDICTIONS.name: pl.DataFrame(
                {"fit_id": ["fit-test"] * 2, "customer_id": both, "clv": [100.0, 200.0]}
            ).with_columns(
                pl.lit(None, dtype=dtype).alias(name)
                for name, dtype in CLV_PREDICTIONS.schema.items()
                if name not in ("fit_id", "customer_id", "clv")
            ),
        },
        replace={},
    )


def test_every_table_with_a_customer_id_is_found_from_the_contracts(sample_db):
    found = subject.customer_tables(sample_db)
    expected = [name for name, spec in ALL_TABLES.items() if "customer_id" in spec.schema]
    assert found[: len(expected)] == expected
    for name in ("customers", "model_shap", "clv_predictions", "segment_map_points", "segment_members"):
        assert name in found


def test_access_exports_every_table_as_json_and_csv_with_a_readme_and_is_audited(writable_bank):
    db = open_database(writable_bank)
    try:
        victim = db.query(
            "SELECT min(customer_id) AS c FROM support_interactions WHERE customer_id IN "
            "(SELECT customer_id FROM surveys) AND customer_id IN (SELECT customer_id FROM offers) "
            "AND customer_id IN (SELECT customer_id FROM assignments)"
        ).item()
        _plant(db, victim, victim + 1)
        blob = subject.subject_access(db, victim, requested_by="dpo", role="compliance_reviewer")
        pseudonym = subject.subject_identity(db, victim).pseudonym
        audit = db.query("SELECT * FROM audit_log WHERE action = 'subject_access'")
        with pytest.raises(PermissionError, match="compliance reviewer"):
            subject.subject_access(db, victim, requested_by="ann", role="marketing_analyst")
        with pytest.raises(subject.SubjectNotFoundError):
            subject.subject_access(db, 1, requested_by="dpo", role="admin")
    finally:
        db.close()
    archive = zipfile.ZipFile(io.BytesIO(blob))
    names = set(archive.namelist())
    for table in (
        "customers",
        "transactions",
        "customer_features",
        "segment_members",
        "model_predictions",
        "model_shap",
        "segment_map_points",
        "clv_predictions",
        "offers",
        "assignments",
        "surveys",
        "support_interactions",
        "consent_events",
    ):
        assert {f"{table}.json", f"{table}.csv"} <= names, table
        assert f"{table}.json / {table}.csv" in archive.read("README.txt").decode()
    customer = json.loads(archive.read("customers.json"))
    assert customer[0]["customer_id"] == victim
    members = json.loads(archive.read("segment_members.json"))
    assert members[0]["name"] == "subject test"
    summary = json.loads(archive.read("subject.json"))
    assert summary["pseudonym"] == pseudonym
    assert audit.height == 1
    assert audit.item(0, "target") == pseudonym
    assert str(victim) not in audit.item(0, "details")


def test_erasure_leaves_no_byte_of_the_customer_in_the_database_file(writable_bank):
    db = open_database(writable_bank)
    db.execute("CHECKPOINT")
    visible = _visible_customers(writable_bank, db)
    assert len(visible) >= 3, "the scan must be able to see customers' strings at all"
    victim, others = visible[0], visible[1:]
    _plant(db, victim.customer_id, others[0].customer_id)
    # The victim's e-mail also appears in another customer's comment: redacted there too.
    db.execute(
        "UPDATE surveys SET comment = ? "
        "WHERE survey_id = (SELECT min(survey_id) FROM surveys WHERE customer_id = ?)",
        [f"my neighbour {victim.name} ({victim.email}) recommended you", others[1].customer_id],
    )
    db.write_audit(username="ann", role="admin", action="view_personal_data", target=victim.pseudonym)
    customers_before = db.query("SELECT count(*) FROM customers").item()
    db.execute("CHECKPOINT")
    before = _file_bytes(writable_bank)
    assert _held(before, victim.email)
    report = subject.erase_subject(db, victim.customer_id, requested_by="dpo", role="admin")
    db.close()

    after = _file_bytes(writable_bank)
    for text in victim.strings:
        assert not _held(after, text), f"{text!r} is still in the database file"
    assert any(_held(after, o.email) for o in others), "another customer's e-mail must still be found"
    assert report.rows_deleted["customers"] == 1
    # The consent history goes with the customer (every customer has at least one event per purpose).
    assert report.rows_deleted["consent_events"] >= 2
    assert report.rows_deleted["model_shap"] == 1 and report.rows_deleted["clv_predictions"] == 1
    assert report.segments_changed == ("seg-subject-test",)
    assert report.text_redacted["surveys.comment"] == 1 and report.text_redacted["segments.description"] == 1
    assert report.bytes_after > 0 and report.legacy_audit_rows == 0
    assert stat.S_IMODE(writable_bank.stat().st_mode) == 0o600

    db = open_database(writable_bank)
    try:
        assert db.verify_audit().ok
        assert db.query("SELECT count(*) FROM customers").item() == customers_before - 1
        assert db.query("SELECT customers FROM segments WHERE segment_id = 'seg-subject-test'").item() == 1
        for name in subject.customer_tables(db):
            held = db.query(f'SELECT count(*) FROM "{name}" WHERE customer_id = ?', [victim.customer_id])  # noqa: S608
            assert held.item() == 0, name
        tombstone = db.query("SELECT * FROM audit_log WHERE action = 'subject_erased'")
        assert tombstone.item(0, "target") == victim.pseudonym
        # The audit log keeps what it held (pseudonyms only) and the tombstone has no personal data.
        assert db.query("SELECT count(*) FROM audit_log WHERE target = ?", [victim.pseudonym]).item() == 2
        # An erased customer has nothing left to export or erase.
        with pytest.raises(subject.SubjectNotFoundError):
            subject.erase_subject(db, victim.customer_id, requested_by="dpo", compact=False)
    finally:
        db.close()


def test_the_command_line_refuses_without_yes_off_a_terminal_then_erases_and_exports(
    writable_bank, tmp_path, capsys
):
    db = open_database(writable_bank)
    victim = db.query("SELECT max(customer_id) AS c FROM customers").item()
    pseudonym = subject.subject_identity(db, victim).pseudonym
    db.close()
    out = tmp_path / "subject.zip"
    assert (
        main(["subject", "access", "--db", str(writable_bank), "--customer", str(victim), "--out", str(out)])
        == 0
    )
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert "README.txt" in zipfile.ZipFile(out).namelist()
    base = ["subject", "erase", "--db", str(writable_bank), "--customer", str(victim)]
    assert main(base) == 1  # pytest's standard input is not a terminal
    assert MSG_NEEDS_YES in capsys.readouterr().err
    assert main([*base, "--yes", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["pseudonym"] == pseudonym and payload["rows_deleted"]["customers"] == 1
    assert str(victim) not in json.dumps(payload["rows_deleted"])
    db = open_database(writable_bank, read_only=True)
    try:
        actions = db.query("SELECT action, target FROM audit_log ORDER BY event_id").rows()
    finally:
        db.close()
    assert actions == [("subject_access", pseudonym), ("subject_erased", pseudonym)]


def test_compact_keeps_the_database_object_working_in_every_thread(writable_bank):
    db = Database(writable_bank)
    try:
        db.write_audit(username="t", role=None, action="x")
        seen: dict[str, int] = {}

        def read(key: str) -> None:
            seen[key] = db.table("customers").count().execute()

        worker = threading.Thread(target=read, args=("before",))
        worker.start()
        worker.join()
        db.execute("DELETE FROM offers")
        result = db.compact()
        assert result.bytes_after < result.bytes_before
        worker = threading.Thread(target=read, args=("after",))
        worker.start()
        worker.join()
        assert seen["before"] == seen["after"] == db.table("customers").count().execute()
        db.write_audit(username="t", role=None, action="y")
        events = db.query("SELECT event_id FROM audit_log ORDER BY event_id").get_column("event_id")
        assert events.to_list() == [1, 2]  # the sequence survived the rewrite
        assert db.verify_audit().ok
        assert stat.S_IMODE(writable_bank.stat().st_mode) == 0o600
        assert not list(writable_bank.parent.glob(".*compact*"))
    finally:
        db.close()
    with pytest.raises(DatabaseError, match="read-write"):
        Database(":memory:").compact()


def test_scan_files_finds_a_customer_in_files_tailor_wrote(tmp_path):
    folder = tmp_path / "bank.models"
    folder.mkdir()
    (folder / "churn.joblib").write_bytes(b"\x80\x04 ann@example.org \x00")
    (folder / "clean.joblib").write_bytes(b"\x80\x04 nothing here")
    assert subject.scan_files([folder, tmp_path / "missing"], ["ann@example.org"]) == [
        folder / "churn.joblib"
    ]


def test_no_audit_call_site_records_a_raw_customer_number():
    # Audit rows carry pseudonyms only: the log is never rewritten, so an erasure must not need to.
    pattern = re.compile(r"str\(customer_id\)\s+if\s+raw")
    offenders = [
        str(path.relative_to(REPO_ROOT))
        for folder in ("analytics", "app", "pages")
        for path in (REPO_ROOT / folder).rglob("*.py")
        if pattern.search(path.read_text())
    ]
    assert offenders == []
