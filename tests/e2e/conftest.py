"""Browser-test fixtures: one Streamlit server and one headless Debian Chromium per session.

The server serves a private copy of the sample bank on a free loopback port;
the browser is the system's /usr/bin/chromium driven by Playwright (never a
downloaded browser). Screenshots go to test-artifacts/ next to the test output.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import expect

from analytics.access import auth
from analytics.store.database import Database
from tests.conftest import copy_bank

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]
E2E_USER = "e2e_executive"
E2E_PASSWORD = "e2e-password-123"
E2E_ANALYST = "e2e_analyst"
E2E_REVIEWER = "e2e_reviewer"
E2E_ADMIN = "e2e_admin"
# Playwright's assertions wait 5 s by default. On a fresh two-core CI image, with the
# other xdist worker's server fitting a model, a page switch has taken longer than that
# (CI failure on the KPIs page, stop 10), so every assertion waits up to 30 s; a
# passing assertion still returns as soon as its condition holds.
EXPECT_TIMEOUT_MS = 30_000
expect.set_options(timeout=EXPECT_TIMEOUT_MS)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_healthy(url: str, process: subprocess.Popen, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited early with code {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"streamlit did not become healthy at {url} within {timeout:.0f} s")


@pytest.fixture(scope="session")
def app_url(model_bank_path: Path, tmp_path_factory) -> str:
    """Start ``streamlit run app/main.py`` once for the session; yield its URL.

    It serves a copy of the sample bank with the churn and credit-card models registered,
    scored and explained (what ``make run`` leaves behind).
    """
    folder = tmp_path_factory.mktemp("e2e")
    bank = folder / "bank.duckdb"
    copy_bank(model_bank_path, bank)
    db = Database(bank)
    auth.add_user(db, E2E_USER, E2E_PASSWORD, "executive")
    auth.add_user(db, E2E_ANALYST, E2E_PASSWORD, "marketing_analyst")
    auth.add_user(db, E2E_REVIEWER, E2E_PASSWORD, "compliance_reviewer")
    auth.add_user(db, E2E_ADMIN, E2E_PASSWORD, "admin")
    db.close()
    port = _free_port()
    env = os.environ | {"TAILOR_DB": str(bank), "OMP_NUM_THREADS": "1"}
    log = (folder / "streamlit.log").open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "app/main.py",
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--server.headless",
            "true",
        ],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, process)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@pytest.fixture(scope="session")
def browser():
    """Headless Debian Chromium through Playwright."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (`make browser` does it as root)")
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield instance
        instance.close()


@pytest.fixture()
def page(browser):
    """A fresh browser page (own context, so no shared session) that fails on error elements."""
    context = browser.new_context(viewport={"width": 1440, "height": 2400})
    tab = context.new_page()
    tab.set_default_timeout(60_000)
    yield tab
    assert tab.locator("[data-testid='stException']").count() == 0, "an exception was shown to the user"
    context.close()


def screenshot(page, name: str) -> Path:
    """Save a full-page screenshot under test-artifacts/ and return its path."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
