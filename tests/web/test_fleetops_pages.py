"""The availability page and a station's charger profile in a real headless
Chromium against a real Volta: the uptime table over a chosen day, a
maintenance window added by the admin (after a confirmation) changing it,
and the profile the station matched shown on its page."""

from __future__ import annotations

import asyncio
import re

import sqlalchemy as sa
from playwright.async_api import expect

from tests.fleetops.test_availability import _history
from tests.web.conftest import VIEWER, add_users, sign_in
from tests.web.test_browser import shot, signed_in_page, sqlite_only
from volta.store.models import Station


@sqlite_only
async def test_availability_page_and_a_maintenance_window(volta, browser):
    await add_users(volta)
    await _history(volta, "AV-PAGE")
    async with signed_in_page(browser, volta) as page:
        await page.get_by_role("link", name="Availability").click()
        await expect(page).to_have_url(re.compile(r"/availability$"))
        await page.goto("/availability?start=2026-01-01&end=2026-01-01")
        row = page.locator('#availability-table tr[data-station="AV-PAGE"][data-evse="1"]')
        await expect(row).to_contain_text("87.500 %")
        await expect(row).to_contain_text("3 h 00 min")
        href = await page.locator("#availability-csv").get_attribute("href")
        assert href is not None and "from=2026-01-01" in href
        form = page.locator("#window-form")
        await form.locator('input[name="starts_at"]').fill("2026-01-01T04:00")
        await form.locator('input[name="ends_at"]').fill("2026-01-01T06:00")
        await form.get_by_label("Station").fill("AV-PAGE")
        await form.get_by_label("reason").fill("contactor replaced")
        page.once("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
        await form.get_by_role("button", name="Add").click()
        await expect(page.locator("#maintenance-windows")).to_contain_text("contactor replaced")
        await expect(row).to_contain_text("91.667 %")
        await shot(page, "availability", volta)


@sqlite_only
async def test_station_page_shows_its_charger_profile(volta, browser):
    await add_users(volta)
    await _history(volta, "AV-ALFEN")
    async with volta.db.write() as conn:
        await conn.execute(
            sa.update(Station)
            .where(Station.id == "AV-ALFEN")
            .values(vendor="Alfen BV", charger_profile="alfen-metervalue-context")
        )
    async with signed_in_page(browser, volta) as page:
        await page.goto("/stations/AV-ALFEN?tab=smart-charging")
        section = page.locator("#charger-profile")
        await expect(section).to_contain_text("alfen-metervalue-context")
        await expect(section).to_contain_text("lbbrhzn/ocpp/issues/361")
        await expect(section).to_contain_text("meterValue/*/sampledValue/*/context")


async def test_a_viewer_cannot_add_a_maintenance_window(volta, web):
    assert (await sign_in(web, *VIEWER)).status_code == 303
    page = await web.get("/availability")
    assert page.status_code == 200
    token = re.search(r'"X-CSRF-Token": "([^"]+)"', page.text)
    assert token is not None
    response = await web.post(
        "/availability/maintenance-windows",
        data={"starts_at": "2026-01-01T04:00", "ends_at": "2026-01-01T06:00"},
        headers={"X-CSRF-Token": token.group(1)},
    )
    assert response.status_code == 403
