"""python -m analytics: help, users, kpis and its refusals."""

from __future__ import annotations

import getpass
import hashlib
import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from analytics.cli import common as cli_common
from analytics.cli import main as cli
from analytics.cli import segments as cli_segments
from analytics.common.types import KpiFilters
from analytics.kpis import cubes
from analytics.kpis import summary as kpis
from analytics.store.database import Database
from tests.unit.test_growthbook_cases import RA_STATISTICS

REPO = Path(__file__).resolve().parents[2]


def run_cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "analytics", *args],
        cwd=REPO,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_help_lists_every_command():
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("sample-data", "users", "kpis"):
        assert command in result.stdout


@pytest.fixture()
def empty_db(tmp_path) -> Path:
    path = tmp_path / "users.duckdb"
    db = Database(path)
    db.ensure_schema()
    db.close()
    return path


def test_users_add_list_remove_round_trip(empty_db, capsys):
    db = str(empty_db)
    added = run_cli(
        "users",
        "add",
        "Ana",
        "--role",
        "marketing_analyst",
        "--password-stdin",
        "--db",
        db,
        "--json",
        stdin="a strong password\n",
    )
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout) == {"username": "ana", "role": "marketing_analyst"}
    listed = json.loads(run_cli("users", "list", "--db", db, "--json").stdout)
    # options may also come before the action
    assert json.loads(run_cli("users", "--db", db, "--json", "list").stdout) == listed
    assert [(u["username"], u["role"], u["locked"]) for u in listed] == [("ana", "marketing_analyst", False)]
    # Never the hash nor the password (the flag must_change_password says nothing about it).
    assert not {"password", "password_hash"} & set(listed[0])
    assert "$argon2" not in json.dumps(listed) and "a strong password" not in json.dumps(listed)
    assert run_cli("users", "remove", "ana", "--db", db).returncode == 0
    assert json.loads(run_cli("users", "list", "--db", db, "--json").stdout) == []


def test_users_refusals_name_the_problem(empty_db):
    db = str(empty_db)
    short = run_cli("users", "add", "ana", "--role", "admin", "--password-stdin", "--db", db, stdin="short\n")
    assert short.returncode == 1 and "too short" in short.stderr
    empty = run_cli("users", "add", "ana", "--role", "admin", "--password-stdin", "--db", db, stdin="\n")
    assert empty.returncode == 1 and "No password given" in empty.stderr
    role = run_cli("users", "add", "ana", "--role", "ceo", "--db", db)
    assert role.returncode == 2 and "invalid choice: 'ceo'" in role.stderr
    missing = run_cli("users", "remove", "ghost", "--db", db)
    assert missing.returncode == 1 and "no user 'ghost'" in missing.stderr


def test_users_demo_prints_passwords_once_and_they_work(empty_db):
    db = str(empty_db)
    first = run_cli("users", "demo", "--db", db, "--json")
    created = json.loads(first.stdout)
    assert sorted(u["role"] for u in created) == sorted(
        ["executive", "marketing_analyst", "compliance_reviewer", "admin"]
    )
    second = run_cli("users", "demo", "--db", db)
    assert "no demo users created" in second.stdout
    from analytics.access import auth

    database = Database(empty_db)
    assert all(auth.authenticate(database, u["username"], u["password"]).ok for u in created)
    database.close()


def test_missing_database_is_a_clear_refusal(tmp_path):
    result = run_cli("kpis", "--db", str(tmp_path / "absent.duckdb"), "--json")
    assert result.returncode == 1
    assert "No database found" in result.stderr and "make data" in result.stderr
    assert "Traceback" not in result.stderr


def test_kpis_json_matches_the_library_for_the_same_filters(sample_bank_path):
    result = run_cli(
        "kpis",
        "--db",
        str(sample_bank_path),
        "--json",
        "--start",
        "2026-05",
        "--end",
        "2026-10",
        "--region",
        "North",
        "--region",
        "Capital",
    )
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    db = Database(sample_bank_path, read_only=True)
    filters = KpiFilters(
        start_month=date(2026, 5, 1),
        end_month=date(2026, 10, 1),
        regions=("North", "Capital"),
    )
    expected = kpis.compute_executive_summary(db.backend(), filters)
    db.close()
    assert payload["filters"]["regions"] == ["North", "Capital"]
    assert payload["customers_matched"] == expected.customers_matched > 0
    by_name = {tile["name"]: tile for tile in payload["tiles"]}
    for tile in expected.tiles:
        got = by_name[tile.name]["value"]
        if tile.value is None:
            assert got is None
        else:
            assert got == pytest.approx(tile.value, rel=1e-12)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--start", "2026-13"], "--start must be a month as YYYY-MM"),
        (["--start", "2026-10", "--end", "2026-01"], "is after --end"),
        (["--start", "1990-01", "--end", "1990-02"], "must lie within the full months of data"),
        (["--start", "2026-08", "--end", "2026-12"], "2024-11 to 2026-10"),
        (["--start", "2024-01", "--end", "2024-12"], "must lie within the full months of data"),
    ],
)
def test_kpis_bad_periods_are_refused(sample_bank_path, args, message):
    result = run_cli("kpis", "--db", str(sample_bank_path), *args)
    assert result.returncode == 1 and message in result.stderr


def test_json_output_never_contains_nan():
    assert cli_common.to_jsonable({"x": float("nan"), "y": [1.0]}) == {"x": None, "y": [1.0]}


@pytest.mark.parametrize("customers", ["5", "2000000"])
def test_sample_data_refuses_sizes_out_of_range(tmp_path, customers):
    target = tmp_path / "bank.duckdb"
    result = run_cli("sample-data", "--customers", customers, "--db", str(target))
    assert result.returncode == 1
    assert "--customers must be between 100 and 1,000,000" in result.stderr
    assert "Traceback" not in result.stderr and not target.exists()


def build_small_bank(tmp_path, *extra: str) -> subprocess.CompletedProcess:
    return run_cli(
        "sample-data",
        "--customers",
        "300",
        "--seed",
        "3",
        "--db",
        str(tmp_path / "bank.duckdb"),
        "--truth",
        str(tmp_path / "truth.json"),
        *extra,
    )


def test_sample_data_builds_a_small_bank_and_skips_an_existing_one(tmp_path):
    target = tmp_path / "bank.duckdb"
    built = build_small_bank(tmp_path, "--json")
    assert built.returncode == 0, built.stderr
    assert json.loads(built.stdout)["customers"] == 300
    assert "done in" in built.stderr
    db = Database(target, read_only=True)
    assert db.query("select count(*) from customers").item() == 300
    db.close()
    again = run_cli("sample-data", "--if-missing", "--db", str(target))
    assert again.returncode == 0 and "nothing to do" in again.stderr


def test_sample_data_refuses_to_replace_users_signoffs_and_audit_rows_without_force(tmp_path):
    from datetime import datetime

    from analytics.access import auth
    from analytics.store.contracts import FAIRNESS_SIGNOFFS

    target = tmp_path / "bank.duckdb"
    assert build_small_bank(tmp_path).returncode == 0
    assert build_small_bank(tmp_path).returncode == 0  # nothing of the app's own yet: replaced freely
    db = Database(target)
    auth.add_user(db, "ana", "a long password", "admin", actor="os:test")
    auth.add_user(db, "bob", "a long password", "executive", actor="os:test")
    # One sign-off with a made-up value in every column of its contract.
    dummy = {pl.String: "x", pl.Int64: 1, pl.Float64: 0.5, pl.Date: date(2025, 1, 1)}
    columns = FAIRNESS_SIGNOFFS.schema
    values = [dummy.get(type(dtype), datetime(2025, 1, 1)) for dtype in columns.values()]
    db.execute(
        f"insert into fairness_signoffs ({', '.join(columns)}) values ({', '.join('?' * len(columns))})",  # noqa: S608 - names from the contract
        values,
    )
    audit_rows = db.query("select count(*) from audit_log").item()
    db.close()
    refused = build_small_bank(tmp_path)
    assert refused.returncode == 1
    assert f"holds 2 users, 1 fairness sign-off and {audit_rows} audit rows" in refused.stderr
    assert "--force" in refused.stderr and "Traceback" not in refused.stderr
    db = Database(target, read_only=True)
    assert db.query("select count(*) from users").item() == 2  # untouched
    db.close()
    kept = run_cli("sample-data", "--if-missing", "--db", str(target))
    assert kept.returncode == 0 and "nothing to do" in kept.stderr
    forced = build_small_bank(tmp_path, "--force")
    assert forced.returncode == 0, forced.stderr
    db = Database(target, read_only=True)
    assert db.query("select count(*) from users").item() == 0
    db.close()


def test_sample_data_refuses_to_replace_what_it_cannot_read(tmp_path):
    target = tmp_path / "bank.duckdb"
    target.write_bytes(b"garbage" * 1000)
    refused = build_small_bank(tmp_path)
    assert refused.returncode == 1 and "could not be read" in refused.stderr and "--force" in refused.stderr
    assert target.read_bytes() == b"garbage" * 1000


def test_user_management_from_the_cli_is_recorded_in_the_os_users_name(empty_db):
    import getpass

    db = str(empty_db)
    run_cli(
        "users", "add", "ana", "--role", "admin", "--password-stdin", "--db", db, stdin="a strong password\n"
    )
    run_cli("users", "unlock", "ana", "--db", db)
    run_cli("users", "remove", "ana", "--db", db)
    run_cli("users", "demo", "--db", db)
    database = Database(empty_db)
    rows = database.query("select username, action, target from audit_log order by event_id").rows()
    flags = database.query("select bool_and(must_change_password) from users").item()
    database.close()
    actor = f"os:{getpass.getuser()}"
    assert rows[:3] == [
        (actor, "user_added", "user:ana"),
        (actor, "unlock", "user:ana"),
        (actor, "user_removed", "user:ana"),
    ]
    assert {(name, action) for name, action, _ in rows[3:]} == {(actor, "user_added")}
    assert flags is True  # demo (printed) passwords must be replaced at first sign-in


def test_users_add_makes_the_user_choose_their_own_password(empty_db):
    db = str(empty_db)
    run_cli(
        "users", "add", "ana", "--role", "admin", "--password-stdin", "--db", db, stdin="a strong password\n"
    )
    listed = json.loads(run_cli("users", "list", "--db", db, "--json").stdout)
    assert listed[0]["must_change_password"] is True


# -- nps, engagement, clv, retention ----------------------------------------------------------
def test_nps_json_is_the_drilldown_of_the_library(sample_bank_path):
    from analytics.kpis import nps, rfm

    result = run_cli("nps", "--db", str(sample_bank_path), "--start", "2026-03", "--end", "2026-03", "--json")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    db = Database(sample_bank_path, read_only=True)
    filters = KpiFilters(date(2026, 3, 1), date(2026, 3, 1))
    segments = rfm.rfm_segments(rfm.compute_rfm(db.backend(), filters))
    drill = nps.compute_nps_drilldown(db.backend(), filters, dimensions=nps.NPS_DIMENSIONS, segments=segments)
    db.close()
    assert payload["current"]["nps"] == pytest.approx(drill.current.nps, abs=1e-12)
    assert payload["change"]["p_value"] == pytest.approx(drill.change.p_value)
    assert set(payload["breakdowns"]) == set(nps.NPS_DIMENSIONS)
    by_segment = {row["group"]: row["answers"] for row in payload["breakdowns"]["segment"]}
    assert by_segment == dict(drill.breakdowns["segment"].select("group", "answers").iter_rows())
    assert len(payload["trend"]) == 12


def test_engagement_json_lists_drivers_and_rfm_groups(sample_bank_path):
    result = run_cli("engagement", "--db", str(sample_bank_path), "--json")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    drivers = payload["analysis"]["drivers"]
    assert sum(row["points"] for row in drivers["components"]) == pytest.approx(drivers["score"])
    assert [row["rfm_group"] for row in payload["rfm_groups"]][0] == "Champions"


def test_clv_on_the_cdnow_file_prints_the_published_parameters(tmp_path):
    import zipfile

    from tests.unit.test_clv import _lifetimes_wheel

    with zipfile.ZipFile(_lifetimes_wheel()) as wheel:
        text = wheel.read("lifetimes/datasets/CDNOW_sample.txt").decode()
    rows = [line.split() for line in text.splitlines() if line.strip()]
    source = tmp_path / "cdnow.csv"
    source.write_text(
        "customer,date,cds,dollars\n"
        + "".join(f"{r[1]},{r[2][:4]}-{r[2][4:6]}-{r[2][6:]},{r[3]},{r[4]}\n" for r in rows)
    )
    args = ["--customer-col", "customer", "--date-col", "date", "--value-col", "dollars"]
    result = run_cli(
        "clv",
        "--input",
        str(source),
        *args,
        "--calibration-end",
        "1997-09-30",
        "--holdout-end",
        "1998-06-30",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    published = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426, "p": 6.25, "q": 3.74, "gamma": 15.44}
    for key, value in published.items():
        assert payload[key] == pytest.approx(value, abs=0.006 if key in ("p", "q", "gamma") else 0.0006), key
    assert payload["log_likelihood"]["bgnbd"] == pytest.approx(-9582.4, abs=0.05)
    output = pl.read_csv(payload["output"])
    assert output.height == payload["customers"] == 2357
    assert {"probability_alive", "expected_transactions", "expected_average_value", "clv"} <= set(
        output.columns
    )
    assert sum(row["actual_total"] for row in payload["calibration_holdout"]) == 1882
    missing = run_cli("clv", "--input", str(source), "--customer-col", "customer")
    assert missing.returncode == 1 and "--date-col, --value-col, --calibration-end" in missing.stderr
    bad = run_cli(
        "clv",
        "--input",
        str(source),
        *args[:2],
        "--date-col",
        "when",
        *args[4:],
        "--calibration-end",
        "1997-09-30",
    )
    assert bad.returncode == 1 and "no column 'when'" in bad.stderr


def test_clv_on_the_bank_is_stored_once(writable_bank):
    first = run_cli("clv", "--db", str(writable_bank), "--json")
    assert first.returncode == 0, first.stderr
    payload = json.loads(first.stdout)
    assert payload["customers"] > 0 and "clv_predictions" in payload["output"]
    again = run_cli("clv", "--db", str(writable_bank), "--if-missing")
    assert again.returncode == 0 and "nothing to do" in again.stderr


def test_retention_json_is_what_the_library_computes(sample_bank_path):
    from analytics.kpis import retention
    from analytics.kpis.survival import compute_survival

    result = run_cli("retention", "--db", str(sample_bank_path), "--by", "region", "--json")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    db = Database(sample_bank_path, read_only=True)
    matrix = retention.compute_cohort_matrix(
        db.backend(), end_month=cubes.default_filters(db.backend()).end_month
    )
    survival = compute_survival(db.backend(), by="region")
    db.close()
    assert len(payload["cohorts"]["cells"]) == matrix.cells.height
    assert payload["cohorts"]["customers_before_history"] == matrix.customers_before_history
    assert len(payload["series"]["series"]) == 12
    assert payload["survival"]["log_rank"]["p_value"] == pytest.approx(survival.log_rank.p_value)
    assert "curves" not in payload["survival"]
    bad = run_cli("retention", "--db", str(sample_bank_path), "--by", "shoe_size")
    assert bad.returncode == 2 and "invalid choice" in bad.stderr


def test_segments_on_the_database_and_on_a_file(writable_bank, tmp_path):
    out = tmp_path / "assignment.csv"
    result = run_cli("segments", "--db", str(writable_bank), "--k", "6", "--output", str(out), "--json")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["k"] == 6 and payload["algorithm"] == "kmeans"
    assignment = pl.read_csv(out)
    assert assignment.height == payload["customers"] == sum(row["customers"] for row in payload["sizes"])
    # An export of the bank's customer rows is audited in the OS user's name, and private to them.
    db = Database(writable_bank, read_only=True)
    audited = db.query("select username, role, target, details from audit_log where action = 'export'")
    db.close()
    assert audited.height == 1
    who, role, target, details = audited.row(0)
    assert (who, role, target) == (f"os:{getpass.getuser()}", None, "cli:segments")
    assert json.loads(details) == {
        "rows": assignment.height,
        "columns": ["customer_id", "segment"],
        "file": str(out),
    }
    assert out.stat().st_mode & 0o077 == 0
    assert payload["excluded_no_consent"] > 0 and 0 < payload["silhouette"] <= 1
    assert all(row["suggested_name"] for row in payload["profiles"])

    table = tmp_path / "customers.csv"
    rng_rows = [(i, 20 + (i % 50), 1000.0 * (i % 7), "x") for i in range(1, 301)]
    table.write_text("client,age,balance,note\n" + "".join(f"{a},{b},{c},{d}\n" for a, b, c, d in rng_rows))
    upload = run_cli(
        "segments",
        "--input",
        str(table),
        "--id-col",
        "client",
        "--algorithm",
        "agglomerative",
        "--k",
        "3",
        "--json",
    )
    assert upload.returncode == 0, upload.stderr
    uploaded = json.loads(upload.stdout)
    assert uploaded["features"] == ["age", "balance"] and uploaded["k"] == 3
    assert "Column 'note' is not numeric" in upload.stderr
    written = pl.read_csv(uploaded["assignment_file"])
    assert written.columns == ["client", "segment"] and written.height == 300
    no_id = run_cli("segments", "--input", str(table), "--k", "3")
    assert no_id.returncode == 1 and "client" in no_id.stderr
    too_many = run_cli("segments", "--input", str(table), "--id-col", "client", "--k", "500")
    assert too_many.returncode == 1 and "k = 500 is larger than the 300 customers" in too_many.stderr


def test_segments_scaling_is_reported_and_can_be_set_per_column(tmp_path):
    from sklearn.datasets import make_blobs

    from analytics.segments import features

    X, _ = make_blobs(n_samples=400, centers=3, n_features=3, random_state=1)
    table = tmp_path / "spend.csv"
    pl.DataFrame(
        {
            "id": np.arange(400),
            "spend": np.exp(X[:, 0]),
            "x1": X[:, 1],
            "x2": X[:, 2],
            "vip": np.arange(400) % 2,
        }
    ).write_csv(table)
    out = str(tmp_path / "out.csv")
    chosen = run_cli(
        "segments",
        "--input",
        str(table),
        "--k",
        "3",
        "--output",
        out,
        "--scaling",
        "x1=yeo_johnson",
        "--json",
    )
    assert chosen.returncode == 0, chosen.stderr
    scaling = {row["column"]: row for row in json.loads(chosen.stdout)["scaling"]}
    assert {c: row["scaling"] for c, row in scaling.items()} == {
        "spend": "log",
        "x1": "yeo_johnson",
        "x2": "standard",
        "vip": "flag",
    }
    assert scaling["spend"]["chosen_by"] == "rule" and scaling["spend"]["reason"].startswith(
        "non-negative, skewness"
    )
    assert scaling["x1"]["chosen_by"] == "user"
    refused = run_cli(
        "segments", "--input", str(table), "--k", "3", "--output", out, "--scaling", "spend=logg"
    )
    message = features.MSG_UNKNOWN_SCALING.format(
        scaling="logg", column="spend", choices=", ".join(features.SCALINGS)
    )
    assert refused.returncode == 1 and message in refused.stderr


def test_segments_scaling_option_is_parsed_and_refused_by_item():
    assert cli_segments.parse_scaling("spend=log, age = standard,") == {"spend": "log", "age": "standard"}
    assert cli_segments.parse_scaling(None) == {}
    for text, message in (
        ("spend", cli_segments.MSG_BAD_SCALING.format(item="spend")),
        ("=log", cli_segments.MSG_BAD_SCALING.format(item="=log")),
        ("spend=log,spend=standard", cli_segments.MSG_SCALING_TWICE.format(column="spend")),
    ):
        with pytest.raises(cli_common.CliError) as err:
            cli_segments.parse_scaling(text)
        assert str(err.value) == message


# -- train, score -------------------------------------------------------------------------------
def test_train_then_score_on_a_copy_of_the_bank(writable_bank):
    trained = run_cli(
        "train", "--target", "churn", "--shap-rows", "300", "--db", str(writable_bank), "--json"
    )
    assert trained.returncode == 0, trained.stderr
    model = json.loads(trained.stdout)
    assert model["target"] == "churn" and model["version"] == 1
    assert model["shap_sample"]["tree"]["rows"] == 300
    assert model["shap_sample"]["tree"]["space"] == "log-odds of the calibrated score"
    assert 0.5 < model["metrics"]["model"]["auc"] <= 1 and 0.5 < model["metrics"]["baseline"]["auc"] <= 1
    assert len(model["top_features"]) == 10
    artifact = Path(model["artifact_path"])
    assert artifact.parent == writable_bank.parent / "bank.models" and artifact.is_file()

    again = run_cli("train", "--target", "churn", "--if-missing", "--db", str(writable_bank), "--json")
    assert again.returncode == 0 and json.loads(again.stdout) == {"skipped": ["churn"]}
    assert "churn: a model of this data is registered already" in again.stderr

    scored = run_cli("score", "--target", "churn", "--shap-rows", "200", "--db", str(writable_bank), "--json")
    assert scored.returncode == 0, scored.stderr
    summary = json.loads(scored.stdout)
    assert summary["model_id"] == model["model_id"]
    db = Database(writable_bank, read_only=True)
    stored = db.query("select score from model_predictions where model_id = ?", [model["model_id"]])
    as_of = db.snapshot_date()
    current = db.query(
        # Scored: the current customers who consented to profiling (docs/privacy.md).
        "select count(*) from customers where joined_at <= ? and (closed_at is null or closed_at > ?)"
        " and consent_profiling",
        [as_of, as_of],
    ).item()
    db.close()
    assert summary["customers"] == stored.height == current
    assert model["scored_customers"] == current
    assert summary["mean_score"] == pytest.approx(stored.get_column("score").mean(), abs=1e-12)
    assert summary["mean_score"] < summary["top_decile_mean"] <= 1

    text = run_cli("score", "--model-id", model["model_id"], "--shap-rows", "100", "--db", str(writable_bank))
    assert text.returncode == 0 and f"scored {current:,} customers" in text.stdout


def test_score_refusals_name_the_problem(writable_bank, capsys):
    assert cli.main(["score", "--target", "savings", "--db", str(writable_bank)]) == 1
    assert "No savings model is registered yet" in capsys.readouterr().err
    assert cli.main(["score", "--model-id", "churn-v9-abc", "--db", str(writable_bank)]) == 1
    assert "No registered model has the id 'churn-v9-abc'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as usage:
        cli.main(["score", "--model-id", "x", "--target", "churn", "--db", str(writable_bank)])
    assert usage.value.code == 2
    with pytest.raises(SystemExit) as usage:
        cli.main(["train", "--target", "churn", "--shap-rows", "0", "--db", str(writable_bank)])
    assert usage.value.code == 2
    assert "--shap-rows: must be a whole number of at least 1, got '0'" in capsys.readouterr().err


def test_model_on_a_csv_prints_auc_features_and_existing_files(tmp_path):
    from tests.unit.test_table_model import planted_table

    source = tmp_path / "customers.csv"
    planted_table(n=1000).write_csv(source)
    out = tmp_path / "out"
    result = run_cli(
        "model", "--input", str(source), "--target", "bought", "--positive-label", "yes",
        "--output-dir", str(out), "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["auc"] > 0.8
    assert payload["top_features"][0]["feature"] == "x1" and payload["top_features"][0]["direction"] == "+"
    assert payload["predictions_file"] == str(out / "customers_predictions.csv")
    assert payload["shap_file"] == str(out / "customers_shap.csv")
    assert pl.read_csv(payload["predictions_file"]).height == 1000
    assert Path(payload["shap_file"]).is_file()
    assert "note: Column 'client_id' looks like an identifier" in result.stderr


def test_model_refusals_name_the_problem(tmp_path, capsys):
    source = tmp_path / "t.csv"
    pl.DataFrame({"x": [1.0, 2.0, 3.0], "y": ["a", "b", "c"]}).write_csv(source)
    # In process: the refusals come before any training, and a subprocess each would cost ~2 s.
    assert cli.main(["model", "--input", str(source), "--target", "z"]) == 1
    err = capsys.readouterr().err
    assert "error: The target column 'z' is not in the table. Its columns are: x, y." in err
    assert cli.main(["model", "--input", str(source), "--target", "y", "--positive-label", "a"]) == 1
    assert "has 3 different values ('a', 'b', 'c')" in capsys.readouterr().err
    assert cli.main(["model", "--input", str(tmp_path / "nope.csv"), "--target", "y"]) == 1
    assert "no such file" in capsys.readouterr().err


# -- abtest, power -----------------------------------------------------------------------------
def test_abtest_on_the_bank_and_on_a_file(sample_bank_path, tmp_path, capsys):
    assert (
        cli.main(["abtest", "--db", str(sample_bank_path), "--experiment", "exp03_app_home_screen", "--json"])
        == 0
    )
    payload = json.loads(capsys.readouterr().out)
    assert payload["srm"]["flagged"] and payload["srm"]["chi_square"] == pytest.approx(27.915, abs=1e-3)
    assert payload["decision"].startswith("Do not trust this read-out")
    rows = pl.DataFrame({"arm": ["a"] * 500 + ["b"] * 500, "y": [0, 1] * 250 + [1, 1, 0, 1] * 125})
    source = tmp_path / "exp.csv"
    rows.write_csv(source)
    args = [
        "abtest",
        "--input",
        str(source),
        "--variant-col",
        "arm",
        "--control",
        "a",
        "--metric",
        "y",
        "--json",
    ]
    assert cli.main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["kind"] == "proportion" and [a["n"] for a in out["arms"]] == [500, 500]
    assert out["arms"][0]["mean"] == 0.5 and out["arms"][1]["mean"] == 0.75
    treatment = out["treatments"]["b"]
    assert treatment["absolute_lift"] == pytest.approx(0.25) and treatment["p_value"] < 1e-10
    assert set(treatment) >= {"relative_ci", "chance_to_beat_control", "expected_loss", "cuped"}
    assert out["srm"]["p_value"] == pytest.approx(1.0)
    assert cli.main([*args[:-1], "--design-split", "50,30,20"]) == 1
    assert "must give one share per arm" in capsys.readouterr().err


def _abtest_summary(tmp_path, capsys, frame: pl.DataFrame, *extra: str) -> dict:
    source = tmp_path / "summary.csv"
    frame.write_csv(source)
    base = ["abtest", "--input", str(source), "--summary", "--variant-col", "variation"]
    assert cli.main([*base, "--control", "zero", "--metric", "m", "--json", *extra]) == 0
    return json.loads(capsys.readouterr().out)


def test_abtest_summary_in_growthbooks_names_reads_cuped_on_the_relative_scale(tmp_path, capsys):
    # GrowthBook's RA_STATISTICS_DF (packages/stats/tests/test_gbstats.py), exported as GrowthBook
    # names its sums: relative lift -0.281707154, p 0.003732549 (CUPED, relative scale).
    frame = RA_STATISTICS  # the case as test_growthbook_cases ports it, in GrowthBook's column names
    out = _abtest_summary(tmp_path, capsys, frame, "--scale", "relative", "--sequential")
    assert out["kind"] == "mean" and out["scale"] == "relative"
    assert [a["n"] for a in out["arms"]] == [3001, 3000]
    treatment = out["treatments"]["one"]
    cuped = treatment["cuped"]
    assert cuped["relative_lift"] == pytest.approx(-0.281707154, abs=5e-10)
    assert cuped["p_value"] == cuped["relative_p_value"] == pytest.approx(0.003732549, abs=5e-10)
    assert cuped["absolute_p_value"] > cuped["relative_p_value"]
    assert cuped["relative_denominator"] == "control's unadjusted mean"
    # Every earlier key is still there; the new ones sit next to them.
    assert set(treatment) >= {
        "test",
        "absolute_lift",
        "absolute_ci",
        "relative_lift",
        "relative_ci",
        "p_value",
        "chance_to_beat_control",
        "expected_loss",
        "credible_interval",
        "cuped",
        "absolute_p_value",
        "relative_p_value",
        "interval_method",
        "sequential",
    }
    assert treatment["interval_method"] == "welch-t"  # a mean
    sequential = cuped["sequential"]
    assert sequential["tuning_n"] == 5000 and sequential["customers"] == 6001
    assert sequential["p_value"] == sequential["relative_p_value"]
    low, high = sequential["relative_ci"]
    assert low < cuped["relative_ci"][0] and high > cuped["relative_ci"][1]  # the price of peeking
    # --no-cuped reads the same file raw; the default scale keeps the absolute p-value.
    raw = _abtest_summary(tmp_path, capsys, frame, "--no-cuped")["treatments"]["one"]
    assert raw["cuped"] is None and raw["sequential"] is None
    assert raw["p_value"] == raw["absolute_p_value"] == treatment["absolute_p_value"]


def test_abtest_summary_of_conversions_with_welch_t_and_of_a_ratio(tmp_path, capsys):
    # GrowthBook's test_two_sided_ttest_binom (packages/stats/tests/frequentist/test_tests.py):
    # 14/28 against 16/30, relative ci (-0.47767, 0.61101), p 0.80707 with t and Welch's df.
    conversions = pl.DataFrame({"variation": ["zero", "one"], "n": [28, 30], "sum": [14, 16]})
    out = _abtest_summary(
        tmp_path, capsys, conversions, "--interval-method", "welch-t", "--scale", "relative"
    )
    treatment = out["treatments"]["one"]
    assert out["kind"] == "proportion" and treatment["interval_method"] == "welch-t"
    assert treatment["relative_ci"] == pytest.approx([-0.47767, 0.61101], abs=5e-6)
    assert treatment["p_value"] == pytest.approx(0.80707, abs=5e-6)
    default = _abtest_summary(tmp_path, capsys, conversions)["treatments"]["one"]
    assert default["interval_method"] == "z" and default["df"] is None
    # A ratio metric by the library's names: spend per session (y spend, d sessions).
    rng = np.random.default_rng(12)
    rows, ratios = [], []
    for arm, per_session in (("zero", 10.0), ("one", 11.0)):
        d = rng.poisson(3, 400).astype(float)
        y = rng.gamma(2.0, per_session / 2, 400) * d
        sums = {"sum": y.sum(), "sum_sq": y @ y, "d_sum": d.sum(), "d_sum_sq": d @ d, "yd_sum": y @ d}
        rows.append({"variation": arm, "n": 400, **sums})
        ratios.append(y.sum() / d.sum())
    out = _abtest_summary(tmp_path, capsys, pl.DataFrame(rows))
    assert out["kind"] == "ratio"
    assert [a["mean"] for a in out["arms"]] == pytest.approx(ratios, rel=1e-12)
    assert out["treatments"]["one"]["test"] == "delta-method z-test (ratio)"


def test_abtest_summary_examples_of_the_docs_read_as_documented(tmp_path, capsys):
    text = (REPO / "docs" / "experiments.md").read_text()
    growthbook, library = [block.split("```")[0] for block in text.split("```csv\n")[1:3]]
    (tmp_path / "ra.csv").write_text(growthbook)
    args = ["abtest", "--input", str(tmp_path / "ra.csv"), "--summary", "--variant-col", "variation"]
    assert cli.main([*args, "--control", "zero", "--metric", "orders", "--scale", "relative", "--json"]) == 0
    cuped = json.loads(capsys.readouterr().out)["treatments"]["one"]["cuped"]
    assert round(cuped["relative_lift"], 6) == -0.281707 and round(cuped["p_value"], 6) == 0.003733
    (tmp_path / "ratio.csv").write_text(library)
    args = ["abtest", "--input", str(tmp_path / "ratio.csv"), "--summary", "--variant-col", "arm"]
    args += ["--control", "control", "--metric", "spend", "--scale", "relative", "--json"]
    assert cli.main(args) == 0
    out = json.loads(capsys.readouterr().out)
    treatment = out["treatments"]["treatment"]
    assert out["kind"] == "ratio" and [round(a["mean"], 3) for a in out["arms"]] == [9.645, 10.733]
    assert [round(v, 4) for v in (treatment["relative_lift"], *treatment["relative_ci"])] == [
        0.1127,
        -0.0074,
        0.2329,
    ]
    assert round(treatment["p_value"], 3) == 0.066


def test_abtest_summary_refusals_name_the_columns(tmp_path, capsys):
    from analytics.experiments import external

    source = tmp_path / "summary.csv"
    base = [*"abtest --summary --variant-col v --control a --metric m".split(), "--input", str(source)]

    def refusal(frame: pl.DataFrame) -> str:
        frame.write_csv(source)
        assert cli.main(base) == 1
        return capsys.readouterr().err

    both = pl.DataFrame({"v": ["a", "b"], "users": [100, 100], "count": [100, 90], "sum": [10, 12]})
    assert external.MSG_SUMMARY_CONFLICT.format(
        first="users", second="count", field="n", row=2, a=100.0, b=90.0
    ) in refusal(both)
    partial = pl.DataFrame({"v": ["a", "b"], "n": [100, 100], "sum": [10, 12], "covariate_sum": [5, 6]})
    assert external.MSG_SUMMARY_PARTIAL.format(
        given="x_sum", missing="xy_sum", group="covariate", fields="x_sum, x_sum_sq, xy_sum"
    ) in refusal(partial)
    no_n = pl.DataFrame({"v": ["a", "b"], "sum": [10, 12]})
    assert "The summary has no column for n (accepted names, in any case: n, users, count)" in refusal(no_n)
    no_squares = pl.DataFrame({"v": ["a", "b"], "N": [100, 100], "SUM": [10.5, 12.0]})
    assert external.MSG_SUMMARY_NOT_BINARY.format(
        arm="a", field="sum_sq", sum_field="SUM", value=10.5, n=100
    ) in refusal(no_squares)


def test_abtest_sequential_on_the_bank_is_the_pages_last_look(sample_bank_path, capsys):
    from analytics.experiments import bank
    from analytics.experiments import readout as experiments

    args = ["abtest", "--db", str(sample_bank_path), "--experiment", "exp01_savings_nudge", "--json"]
    assert cli.main([*args, "--sequential", "--scale", "relative"]) == 0
    payload = json.loads(capsys.readouterr().out)
    primary = payload["metrics"][0]
    assert primary["metric"] == "conversion" and payload["scale"] == "relative"
    treatment = primary["treatments"]["treatment"]
    assert treatment["p_value"] == treatment["relative_p_value"] != treatment["absolute_p_value"]
    # The page's sequential chart, at its last look (the window's end), shows the same interval.
    db = Database(sample_bank_path, read_only=True)
    try:
        backend = db.backend()
        experiment = bank.load_experiment(backend, "exp01_savings_nudge", snapshot=db.snapshot_date())
        looks = bank.look_days(experiment)
        aggregates = bank.aggregate_arms(backend, experiment, looks=looks, look_metrics=["conversion"])
        chart = experiments.sequential_series(aggregates, experiment, metric="conversion", looks=looks)
    finally:
        db.close()
    last = chart.row(-1, named=True)
    assert treatment["sequential"]["absolute_ci"] == pytest.approx([last["low"], last["high"]], rel=1e-9)
    assert treatment["sequential"]["customers"] == last["customers"]


def test_power_prints_the_sample_size_and_the_detectable_effect(capsys):
    assert (
        cli.main(["power", "--baseline", "0.5", "--mde", "0.25", "--absolute", "--power", "0.9", "--json"])
        == 0
    )
    size = json.loads(capsys.readouterr().out)
    assert size["per_arm"] == 77  # R's power.prop.test(p1 = .5, p2 = .75, power = .9): n = 76.7
    assert cli.main(["power", "--baseline", "0.1", "--mde", "0.05", "--daily-traffic", "2000"]) == 0
    text = capsys.readouterr().out
    assert "per arm" in text and "days at 2,000 a day" in text
    assert cli.main(["power", "--baseline", "1.5", "--mde", "0.1"]) == 1
    assert "strictly between 0 and 1" in capsys.readouterr().err


def test_fairness_on_a_file_matches_fairlearn_and_writes_the_report(tmp_path, capsys):
    from fairlearn.metrics import MetricFrame, demographic_parity_ratio, selection_rate

    rng = np.random.default_rng(5)
    n = 3000
    sex = rng.choice(["f", "m"], n)
    region = rng.choice(["north", "south", "west"], n)
    y = rng.binomial(1, 0.3, n)
    score = np.clip(rng.normal(0.35 + 0.2 * y + np.where(sex == "m", 0.08, 0.0), 0.15), 0, 1)
    source = tmp_path / "decisions.csv"
    pl.DataFrame({"y": y, "s": score, "sex": sex, "region": region}).write_csv(source)
    report = tmp_path / "audit.html"
    args = ["fairness", "--input", str(source), "--y-true", "y", "--score", "s", "--threshold", "0.5"]
    assert cli.main([*args, "--group", "sex,region", "--report", str(report), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [a["attribute"] for a in out["attributes"]] == ["sex", "region", "sex · region"]
    decisions = (score >= 0.5).astype(int)
    frame = MetricFrame(metrics=selection_rate, y_true=y, y_pred=decisions, sensitive_features=sex)
    sex_groups = {g["group"]: g for g in out["attributes"][0]["groups"]}
    for group, expected in frame.by_group.items():
        assert sex_groups[group]["selection_rate"] == pytest.approx(expected, abs=1e-9)
    ratio = next(d for d in out["attributes"][0]["disparities"] if d["name"] == "demographic_parity_ratio")
    assert ratio["value"] == pytest.approx(
        demographic_parity_ratio(y, decisions, sensitive_features=sex), abs=1e-9
    )
    assert ratio["interval_method"] == "katz-log" and ratio["low"] < ratio["value"] < ratio["high"]
    content = report.read_bytes()
    assert out["report"]["sha256"] == hashlib.sha256(content).hexdigest() and out["report"]["signed"] is False
    assert b"Not signed" in content and out["data_hash"].encode() in content


def test_fairness_refusals_name_the_problem(tmp_path, capsys):
    source = tmp_path / "d.csv"
    pl.DataFrame({"y": [0, 1, 2, 0], "s": [0.1, 0.9, 0.4, 0.7], "g": ["a", "b", "a", "b"]}).write_csv(source)
    base = ["fairness", "--input", str(source), "--y-true", "y"]
    assert cli.main([*base, "--y-pred", "s", "--group", "g"]) == 1
    assert (
        "Column 's' holds scores, not 0/1 decisions (row 1: 0.1): give a threshold" in capsys.readouterr().err
    )
    assert cli.main([*base, "--score", "s", "--threshold", "0.5", "--group", "x"]) == 1
    assert "Column 'x' is not in the table. Its columns are: y, s, g." in capsys.readouterr().err
    assert cli.main([*base, "--score", "s", "--threshold", "0.5", "--group", "g"]) == 1
    assert "Column 'y' must hold only 0 and 1 (or true/false); row 3 holds 2." in capsys.readouterr().err
    assert cli.main(["fairness"]) == 1
    assert "Say what to audit" in capsys.readouterr().err
    assert cli.main([*base, "--score", "s", "--threshold", "0.5", "--group", "g", "--report", "x.txt"]) == 1
    assert "--report must end in .html or .pdf" in capsys.readouterr().err


def test_fairness_flags_the_planted_credit_decision(sample_bank_path, capsys):
    assert cli.main(["fairness", "--credit-decision", "--db", str(sample_bank_path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["verdict"] == "fail"
    gender = out["attributes"][0]
    assert gender["attribute"] == "gender" and gender["verdict"] == "fail"
    female = [r for r in out["strata"] if r["attribute"] == "gender" and r["group"] == "female"]
    # 0.7 times the men's rate in every band; 600-649's interval reaches 0.80: undecided, not passed.
    assert len(female) == 4 and {r["verdict"] for r in female} <= {"fail", "undecided"}
    assert sum(r["verdict"] == "fail" for r in female) >= 3
    # Every verdict record names its rule, threshold and interval method (issue 12.4).
    for record in (out, gender):
        assert record["rule"] == "four-fifths" and record["rule_threshold"] == 0.8
        assert record["interval_method"] == "katz-log" and record["confidence_level"] == 0.95
        assert record["min_group_size"] == 30
    judged = [r for r in out["strata"] if r["verdict"]]
    assert judged
    assert all((r["rule"], r["rule_threshold"]) == ("four-fifths", 0.8) for r in judged)
    assert all(r["interval_method"].startswith("katz-log") for r in judged)
    assert all(r["rule"] == "" and r["rule_threshold"] is None for r in out["strata"] if not r["verdict"])


def test_fairness_text_names_the_rule_of_an_undecided_verdict(tmp_path, capsys):
    rng = np.random.default_rng(1)
    # Two groups of 40 with equal rates: the Katz interval is wide, so the rule cannot decide.
    group = ["a"] * 40 + ["b"] * 40
    source = tmp_path / "d.csv"
    pl.DataFrame({"y": rng.binomial(1, 0.5, 80), "d": [1, 0] * 40, "g": group}).write_csv(source)
    args = ["fairness", "--input", str(source), "--y-true", "y", "--y-pred", "d", "--group", "g"]
    assert cli.main([*args, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["verdict"] == "undecided"
    assert (out["rule"], out["attributes"][0]["rule"]) == ("four-fifths", "four-fifths")
    assert cli.main(args) == 0
    text = capsys.readouterr().out
    assert "rule: four-fifths (threshold 0.8, 95% katz-log intervals, groups of at least 30)" in text


def test_fairness_audits_a_targeting_list_against_the_contactable_customers(
    sample_bank_path, tmp_path, capsys
):
    db = Database(sample_bank_path, read_only=True)
    snapshot = db.snapshot_date()
    customers = db.query(
        "select customer_id, gender from customers where consent_marketing and joined_at <= ? "
        "and (closed_at is null or closed_at > ?)",
        [snapshot, snapshot],
    )
    db.close()
    # Every man and a third of the women: the list fails on gender.
    men = customers.filter(pl.col("gender") == "male")
    women = customers.filter(pl.col("gender") == "female")
    listing = pl.concat([men, women.head(women.height // 3)]).select("customer_id")
    source = tmp_path / "list.csv"
    listing.write_csv(source)
    args = ["fairness", "--targeting", str(source), "--db", str(sample_bank_path), "--json"]
    assert cli.main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["kind"] == "targeting" and out["customers"] == customers.height
    gender = {g["group"]: g for g in out["attributes"][0]["groups"]}
    assert gender["male"]["selection_rate"] == 1.0
    assert gender["female"]["selection_rate"] == pytest.approx((women.height // 3) / women.height, abs=1e-12)
    assert out["attributes"][0]["verdict"] == "fail"
    wrong = tmp_path / "wrong.csv"
    pl.DataFrame({"id": [1]}).write_csv(wrong)
    assert cli.main(["fairness", "--targeting", str(wrong), "--db", str(sample_bank_path)]) == 1
    assert "needs a customer_id column" in capsys.readouterr().err


def test_the_cli_and_the_store_list_the_model_targets_the_library_trains():
    # Written out twice so that --help needs no sklearn and the store imports no capability.
    from typing import get_args

    from analytics.cli import models as cli_models
    from analytics.models.training_data import Target
    from analytics.store.contracts import MODELS

    assert cli_models.MODEL_TARGETS == get_args(Target)
    rule = next(r for r in MODELS.rules if r.column == "target")
    frame = pl.DataFrame({"target": [*get_args(Target), "mortgage"]})
    assert frame.select(rule.check).to_series().to_list() == [True] * len(get_args(Target)) + [False]
