"""The monitoring pages in a real headless Chromium against a real Volta and a
simulated 2.0.1 station: an admin applies a monitor set to the fleet (with a
confirmation), the station's page shows its monitors, and the events it
notifies are listed newest first with their severity names and filters."""

from __future__ import annotations

import asyncio
import re

from playwright.async_api import expect

from tests.helpers import wait_until
from tests.test_simulator import quiet, running
from tests.web.conftest import VIEWER, add_users
from tests.web.test_browser import shot, signed_in_page, sqlite_only
from volta.blocks.monitoring import events


@sqlite_only
async def test_monitoring_page_sets_and_station_monitors(volta, api, browser):
    await add_users(volta)
    async with running(volta, quiet(volta, "2.0.1")) as [station]:
        sid = station.id
        async with signed_in_page(browser, volta) as page:
            await page.get_by_role("link", name="Monitoring").click()
            await expect(page).to_have_url(re.compile(r"/monitoring$"))
            row = page.locator("#set-connector-faults")
            await row.get_by_label("stations for Connector faults").fill(sid)
            page.once("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
            await row.get_by_role("button", name="Apply to fleet").click()
            await expect(row.locator(".monitor-set-result")).to_contain_text("applied")
            await expect(row.locator(".monitor-set-result")).to_contain_text("1 of 1 accepted")

            # A monitor that fires at once: the temperature is below 100 °C.
            cold = {"component": "TemperatureSensor", "variable": "Temperature",
                    "type": "LowerThreshold", "value": 100, "severity": 1}  # fmt: skip
            r = await api.post(f"/api/v1/stations/{sid}/monitors", json={"monitors": [cold]})
            assert r.json()[0]["status"] == "Accepted"

            async def notified() -> bool:
                return bool(await events.list_events(volta.db, station_id=sid))

            assert await wait_until(notified, 15)
            await page.goto("/monitoring")
            listed = page.locator("#monitoring-events tbody tr")
            await expect(listed.first).to_contain_text("1 Hardware Failure")
            await expect(listed.first).to_contain_text("TemperatureSensor")
            await expect(listed.first).to_have_class(re.compile(r"\bcritical\b"))
            await shot(page, "monitoring", volta)
            await page.get_by_label("component").fill("Connector")
            await page.get_by_role("button", name="Filter").click()
            await expect(page.locator("#monitoring-events")).to_have_count(0)
            await page.get_by_label("component").fill("")
            await page.get_by_label("severity").select_option("0")
            await page.get_by_role("button", name="Filter").click()
            await expect(page.locator("main")).to_contain_text("No monitoring event matches")

            await page.goto(f"/stations/{sid}?tab=configuration")
            monitors = page.locator("#station-monitors tbody tr")
            await expect(monitors).to_have_count(2)
            await expect(page.locator("#station-monitors")).to_contain_text("connector-faults")
            await expect(page.locator("#station-monitors")).to_contain_text("LowerThreshold")
            cold_row = monitors.filter(has_text="TemperatureSensor")
            page.once("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
            await cold_row.get_by_role("button", name="Clear").click()
            await expect(page.locator("#monitors-panel")).to_contain_text(": Accepted")
            await expect(monitors).to_have_count(1)

        # A viewer sees the sets and events but cannot apply or clear.
        async with signed_in_page(browser, volta, VIEWER) as page:
            await page.goto("/monitoring")
            await expect(page.locator("#monitor-sets")).to_contain_text("Over temperature")
            await expect(page.get_by_role("button", name="Apply to fleet")).to_have_count(0)
            await page.goto(f"/stations/{sid}?tab=configuration")
            await expect(page.locator("#station-monitors")).to_be_visible()
            await expect(page.get_by_role("button", name="Clear")).to_have_count(0)
