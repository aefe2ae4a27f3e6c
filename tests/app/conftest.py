"""Fixtures for Streamlit AppTest: a private bank per test, users of every role."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from analytics.access import auth
from analytics.common.types import ROLES, User
from analytics.store.contracts import CANONICAL_TABLES
from analytics.store.database import Database
from tests.conftest import copy_bank

REPO = Path(__file__).resolve().parents[2]
MAIN = str(REPO / "app" / "main.py")
PASSWORD = "app-test-password"
TIMEOUT = 60


def new_app(script: str = MAIN, *, user: User | None = None, **state) -> AppTest:
    at = AppTest.from_file(script, default_timeout=TIMEOUT)
    if user is not None:
        at.session_state["user"] = user
    for key, value in state.items():
        at.session_state[key] = value
    return at


@pytest.fixture()
def bank(writable_bank: Path, monkeypatch) -> Path:
    """A private copy of the sample bank with one user per role, served via TAILOR_DB."""
    db = Database(writable_bank)
    for role in ROLES:
        auth.add_user(db, f"test_{role}", PASSWORD, role)
    db.close()
    monkeypatch.setenv("TAILOR_DB", str(writable_bank))
    return writable_bank


@pytest.fixture()
def model_bank(model_bank_path: Path, tmp_path: Path, monkeypatch) -> Path:
    """A private copy of the bank with trained models and one user per role, served via TAILOR_DB."""
    path = tmp_path / "bank.duckdb"
    copy_bank(model_bank_path, path)
    db = Database(path)
    for role in ROLES:
        auth.add_user(db, f"test_{role}", PASSWORD, role)
    db.close()
    monkeypatch.setenv("TAILOR_DB", str(path))
    return path


@pytest.fixture()
def tiny_bank(tmp_path: Path, monkeypatch) -> Path:
    """Two customers in the North only, so that other regions match nobody."""
    path = tmp_path / "tiny.duckdb"
    db = Database(path)
    tables = {spec.name: pl.DataFrame(schema=spec.schema) for spec in CANONICAL_TABLES}
    tables["customers"] = pl.DataFrame(
        {
            "customer_id": [1, 2],
            "first_name": ["Ada", "Bo"],
            "last_name": ["A", "B"],
            "email": ["ada@example.org", "bo@example.org"],
            "phone": ["0612345678", "0687654321"],
            "birth_date": [date(1980, 1, 1), date(1990, 6, 1)],
            "gender": ["female", "male"],
            "region": ["North", "North"],
            "city": ["Groningen", "Groningen"],
            "occupation": ["nurse", "engineer"],
            "annual_income": [40_000.0, 55_000.0],
            "credit_score": [700, 720],
            "preferred_channel": ["web", "mobile_app"],
            "joined_at": [date(2020, 1, 1), date(2020, 1, 1)],
            "closed_at": [None, None],
            "closure_reason": [None, None],
            "consent_marketing": [True, True],
            "consent_profiling": [True, True],
            "consent_updated_at": [None, None],
        },
        schema_overrides={"closed_at": pl.Date, "closure_reason": pl.String, "consent_updated_at": pl.Date},
    )
    tables["surveys"] = pl.DataFrame(
        {
            "survey_id": [1, 2],
            "customer_id": [1, 2],
            "ts": [datetime(2025, 3, 5), datetime(2025, 3, 6)],
            "survey_type": ["nps", "nps"],
            "score": [10, 3],
            "channel": ["email", "email"],
            "touchpoint": ["relationship", "relationship"],
            "comment": [None, None],
        },
        schema_overrides={"comment": pl.String},
    )
    db.load_dataset(tables, meta={"as_of": "2025-03-31", "history_start": "2025-01-01"})
    auth.add_user(db, "tiny_exec", PASSWORD, "executive")
    db.close()
    monkeypatch.setenv("TAILOR_DB", str(path))
    return path
