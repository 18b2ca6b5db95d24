"""The security pages in a real headless Chromium against a real Volta: the
fleet's security events (critical first and highlighted, linked from the
nav), and a station's security section with its events and the admin's
password-rotation button driving a real rotation over a real WebSocket."""

from __future__ import annotations

import asyncio
import re

import pytest
from playwright.async_api import expect

from tests.conformance.conftest import Station
from tests.helpers import connect, register
from tests.web.conftest import VIEWER, add_users
from tests.web.test_browser import shot, signed_in_page, sqlite_only
from volta.blocks.security import log as security_log

PASSWORD = "browser-station-pass"


@sqlite_only
async def test_fleet_security_page_lists_critical_first(volta, browser):
    await add_users(volta)
    await register(volta, "SEC-1", password=PASSWORD)
    await security_log.record(
        volta.services, "SEC-1", "TamperDetectionActivated", tech_info="lid open", origin="station"
    )
    await security_log.record(volta.services, "SEC-1", "InvalidMessages", origin="station")
    await security_log.record(
        volta.services, "SEC-1", "StationSignInFailed", tech_info="wrong password from 10.0.0.9"
    )
    async with signed_in_page(browser, volta) as page:
        await page.get_by_role("link", name="Security").click()
        await expect(page).to_have_url(re.compile(r"/security$"))
        rows = page.locator("#security-events tbody tr")
        await expect(rows).to_have_count(3)
        # The critical one comes first, though it is the oldest, and is highlighted.
        await expect(rows.nth(0)).to_contain_text("TamperDetectionActivated")
        await expect(rows.nth(0)).to_contain_text("critical")
        await expect(rows.nth(0)).to_have_class(re.compile(r"\bcritical\b"))
        await expect(rows.nth(1)).to_contain_text("StationSignInFailed")
        await expect(rows.nth(1)).not_to_have_class(re.compile(r"\bcritical\b"))
        await expect(rows.nth(1)).to_contain_text("volta")
        await shot(page, "security", volta)
        await page.get_by_label("critical only").check()
        await page.get_by_role("button", name="Filter").click()
        await expect(rows).to_have_count(1)


@sqlite_only
async def test_station_security_section_and_rotation(volta, browser):
    await add_users(volta)
    await register(volta, "SEC-2", password=PASSWORD)
    await security_log.record(volta.services, "SEC-2", "ResetOrReboot", origin="station")
    async with connect(volta, "SEC-2", "ocpp1.6", PASSWORD) as ws:
        st = Station(ws, {"ChangeConfiguration": {"status": "Accepted"}})
        boot = {"chargePointVendor": "V", "chargePointModel": "M"}
        assert (await st.call("BootNotification", boot))["status"] == "Accepted"
        try:
            async with signed_in_page(browser, volta) as page:
                await page.goto("/stations/SEC-2?tab=security")
                section = page.locator("#security")
                event = section.locator("#station-security-events tbody tr")
                await expect(event).to_contain_text("ResetOrReboot")
                await expect(event).to_have_class(re.compile(r"\bcritical\b"))
                await expect(section.locator("#rotation-state")).to_contain_text("never")
                page.once("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
                await section.get_by_role("button", name="Rotate password").click()
                request = await st.expect("ChangeConfiguration")
                assert request["key"] == "AuthorizationKey"
                await expect(section.locator("#rotation-state")).to_contain_text("pending")
                # The password is shown nowhere on the page.
                secret = bytes.fromhex(request["value"]).decode()
                assert secret not in await page.content()
        finally:
            await st.close()


@sqlite_only
async def test_viewer_sees_no_rotation_button(volta, browser):
    await add_users(volta)
    await register(volta, "SEC-3", password=PASSWORD)
    async with signed_in_page(browser, volta, VIEWER) as page:
        await page.goto("/stations/SEC-3?tab=security")
        await expect(page.locator("#rotation-state")).to_contain_text("never")
        await expect(page.get_by_role("button", name="Rotate password")).to_have_count(0)


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
async def test_rotation_post_needs_admin(volta, web):
    """The dashboard's POST needs the admin role (403 for a viewer)."""
    from tests.web.conftest import csrf_of, sign_in

    await register(volta, "SEC-4", password=PASSWORD)
    assert (await sign_in(web, *VIEWER)).status_code == 303
    page = await web.get("/stations/SEC-4")
    r = await web.post(
        "/stations/SEC-4/password-rotation", headers={"X-CSRF-Token": csrf_of(page.text)}
    )
    assert r.status_code == 403
