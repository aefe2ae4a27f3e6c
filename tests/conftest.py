"""Shared fixtures: the sample bank, built once per code version and reused.

The bank is generated deterministically, so a file built by the same generator,
schema and rollup code can be reused between runs: it is cached under
``.cache/`` with a key made of the size, the seed and a hash of that code.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from analytics.store.database import Database

REPO_ROOT = Path(__file__).resolve().parent.parent
CACHE_DIR = REPO_ROOT / ".cache"
# One key file for the whole run (every xdist worker, every copy of the cached banks, the CLI
# subprocesses and the served app inherit it): copies of a bank keep its pseudonyms and audit
# seals. Tests of the key file itself point TAILOR_KEY_FILE elsewhere.
CACHE_DIR.mkdir(exist_ok=True)
os.environ.setdefault("TAILOR_KEY_FILE", str(CACHE_DIR / "tests.keys"))
SAMPLE_CUSTOMERS = int(os.environ.get("TAILOR_TEST_CUSTOMERS", "20000"))
SAMPLE_SEED = 42


def build_cached_bank(customers: int = SAMPLE_CUSTOMERS, seed: int = SAMPLE_SEED) -> tuple[Path, Path]:
    """Build (or reuse) the sample bank; return the database and truth paths."""
    from sample_data import build_sample_database, code_fingerprint

    CACHE_DIR.mkdir(exist_ok=True)
    stem = f"bank-{customers}-{seed}-{code_fingerprint()}"
    db_path = CACHE_DIR / f"{stem}.duckdb"
    truth_path = CACHE_DIR / f"{stem}.truth.json"
    # pytest-xdist workers share the cache: one builds, the others wait on the lock.
    with open(CACHE_DIR / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (db_path.exists() and truth_path.exists()):
            for stale in CACHE_DIR.glob(f"bank-{customers}-{seed}-*"):
                stale.unlink()
            build_sample_database(db_path, customers=customers, seed=seed, truth_path=truth_path)
    return db_path, truth_path


def copy_bank(source: Path, target: Path) -> Path:
    """Copy a bank to ``target`` with its models folder beside it (a link: artifacts are read-only).

    Models load only from ``<database stem>.models`` beside the database (the registry's
    path is not trusted), so a copy without its folder would have no loadable model.
    """
    shutil.copyfile(source, target)
    models = source.with_name(f"{source.stem}.models")
    if models.is_dir():
        target.with_name(f"{target.stem}.models").symlink_to(models, target_is_directory=True)
    return target


MODEL_BANK_TARGETS = ("churn", "credit_card")
MODEL_BANK_SHAP_ROWS = 4000


def _model_code_fingerprint() -> str:
    digest = hashlib.sha256()
    for path in sorted((REPO_ROOT / "analytics").rglob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def build_model_bank() -> Path:
    """The sample bank with churn and credit-card models trained, scored and explained (cached).

    The models are trained once per version of the analytics code, under ``.cache/``; the
    artifacts sit in the models folder next to that database, so copies made with
    :func:`copy_bank` load the same artifacts read-only.
    """
    from analytics.models import publishing

    bank, _ = build_cached_bank()
    folder = CACHE_DIR / f"models-{bank.stem}-{_model_code_fingerprint()}"
    target = folder / "bank.duckdb"
    with open(CACHE_DIR / ".models.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder / "done").exists():
            for stale in CACHE_DIR.glob("models-*"):
                shutil.rmtree(stale, ignore_errors=True)
            folder.mkdir(parents=True)
            shutil.copyfile(bank, target)
            db = Database(target)
            try:
                for name in MODEL_BANK_TARGETS:
                    publishing.train_and_publish(
                        db, target=name, trained_by="tests", shap_rows=MODEL_BANK_SHAP_ROWS
                    )
            finally:
                db.close()
            (folder / "done").touch()
    return target


@pytest.fixture(scope="session")
def model_bank_path() -> Path:
    """Path of the cached bank with registered, scored and explained models; copy it before writing."""
    return build_model_bank()


@pytest.fixture(scope="session")
def sample_bank_path() -> Path:
    """Path of the cached sample bank; open it read-only or copy it before writing."""
    return build_cached_bank()[0]


@pytest.fixture(scope="session")
def sample_truth() -> dict:
    """The planted truths of the sample bank (sample_data's truth file)."""
    return json.loads(build_cached_bank()[1].read_text())


@pytest.fixture(scope="session")
def sample_db(sample_bank_path: Path) -> Database:
    """The sample bank opened read-only (shared by every test in the session)."""
    db = Database(sample_bank_path, read_only=True)
    yield db
    db.close()


@pytest.fixture()
def writable_bank(sample_bank_path: Path, tmp_path: Path) -> Path:
    """A private copy of the sample bank that a test may write to."""
    target = tmp_path / "bank.duckdb"
    shutil.copyfile(sample_bank_path, target)
    return target
