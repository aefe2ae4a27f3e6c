"""The executive's main flow in a real browser: sign in, read tiles, change the period."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import E2E_PASSWORD, E2E_USER, screenshot

pytestmark = pytest.mark.e2e


def sign_in(page, url: str, username: str, password: str) -> None:
    page.goto(url)
    page.get_by_role("textbox", name="User name").fill(username)
    page.get_by_role("textbox", name="Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def tile_value(page, label: str) -> str:
    tile = page.locator("[data-testid='stMetric']").filter(has_text=label).first
    return tile.locator("[data-testid='stMetricValue']").inner_text().strip()


def test_executive_signs_in_sees_tiles_and_the_date_filter_changes_them(page, app_url):
    sign_in(page, app_url, E2E_USER, E2E_PASSWORD)
    expect(page.get_by_role("heading", name="Executive summary")).to_be_visible()
    tiles = page.locator("[data-testid='stMetric']")
    expect(tiles.nth(7)).to_be_visible()  # the tiles arrive one by one: wait for the eighth
    assert tiles.count() >= 8
    before = {label: tile_value(page, label) for label in ("Monthly active customers", "NPS")}
    assert re.fullmatch(r"[\d,]+", before["Monthly active customers"])
    assert re.fullmatch(r"-?\d+\.\d", before["NPS"])
    expect(page.locator(".js-plotly-plot").first).to_be_visible()
    screenshot(page, "executive_summary_last_3_months")

    page.get_by_test_id("stSidebar").get_by_text("Last 12 months").click()
    expect(
        page.locator("[data-testid='stMetric']")
        .filter(has_text="Monthly active customers")
        .first.locator("[data-testid='stMetricValue']")
    ).not_to_have_text(before["Monthly active customers"])
    after = tile_value(page, "Monthly active customers")
    assert after != before["Monthly active customers"]
    caption = page.locator("[data-testid='stCaptionContainer']").filter(has_text="compared with").first
    expect(caption).to_contain_text("Nov 2025–Oct 2026 compared with Nov 2024–Oct 2025")
    expect(page.locator(".js-plotly-plot").first).to_be_visible()
    screenshot(page, "executive_summary_last_12_months")


def test_wrong_password_is_refused_in_the_browser(page, app_url):
    sign_in(page, app_url, E2E_USER, "not-the-password")
    expect(
        page.get_by_text("Sign-in failed. Check your user name and password and try again.")
    ).to_be_visible()
    assert page.locator("[data-testid='stMetric']").count() == 0
    screenshot(page, "sign_in_refused")
