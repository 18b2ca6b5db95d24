"""The dashboard in a real headless Chromium against a real Volta with
simulated stations on real WebSockets: sign in, watch the station list change
live, send commands and read the station's answers, see a session's chart.

The pages are checked as a user sees them (text, colours' classes, drawn
charts), every wait is bounded, and any JavaScript error or Content-Security-
Policy violation in the browser fails the test. Screenshots of the main pages
go to docs/screenshots/ (the SQLite run writes them; the README shows two).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.conftest import API_TOKEN
from tests.helpers import add_token, register, wait_until
from tests.test_simulator import quiet, running
from tests.web.conftest import ADMIN, SCREENSHOTS, VIEWER, add_users, base_url
from tests.web.console import console_page
from volta.app import Volta
from volta.blocks.transactions import service as transactions

sqlite_only = pytest.mark.parametrize("database", ["sqlite"], indirect=True)


def signed_in_page(
    browser: Any, volta: Volta, who: tuple[str, str] = ADMIN
) -> contextlib.AbstractAsyncContextManager[Page]:
    """A new browser context signed in through the form, in English; fails on
    page errors (the console's `console_page`)."""
    return console_page(browser, volta, who, "en")


async def shot(page: Page, name: str, volta: Volta) -> None:
    if volta.db.is_sqlite:  # one set of screenshots per run
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


@sqlite_only
async def test_sign_in_and_station_list_updates_live(volta, browser):
    await add_users(volta)
    await register(volta, "CP-OFFLINE-1", password="never-connected-1")
    sc = quiet(volta, "mixed", stations=2, connectors=2)
    first, second = sc.station_ids()
    async with running(volta, sc), signed_in_page(browser, volta) as page:
        # A wrong password was not tried here; test_auth covers it over HTTP.
        row = page.locator(f'tr[data-station="{first}"]')
        await expect(row).to_contain_text("online")
        await expect(row.locator('.chip[data-connector="1"]')).to_contain_text("Available")
        await expect(page.locator('tr[data-station="CP-OFFLINE-1"]')).to_contain_text("offline")
        await expect(page.get_by_test_id("online-count")).to_have_text("2")
        await page.evaluate("window.__sameDocument = true")

        # The station changes state (an operator's API call makes it take its
        # connector 2 out of service; it reports StatusNotification Unavailable).
        async with httpx.AsyncClient(
            base_url=base_url(volta), headers={"Authorization": f"Bearer {API_TOKEN}"}
        ) as api:
            resp = await api.post(
                f"/api/v1/stations/{first}/commands/ChangeAvailability",
                json={"connectorId": 2, "type": "Inoperative"},
            )
            assert resp.json()["status"] == "accepted", resp.text
        chip = row.locator('.chip[data-connector="2"]')
        await expect(chip).to_contain_text("Unavailable")
        await expect(chip).to_have_class(re.compile(r"\boff\b"))
        assert await page.evaluate("window.__sameDocument === true"), "the page was reloaded"
        await expect(page.locator(f'tr[data-station="{second}"]')).to_contain_text("2.0.1")


@sqlite_only
async def test_commands_show_the_station_answer(volta, browser):
    await add_users(volta)
    async with (
        running(volta, quiet(volta, "1.6", connectors=2)) as [station],
        signed_in_page(browser, volta) as page,
    ):
        await page.goto(f"/stations/{station.id}?tab=commands")
        await expect(page.get_by_test_id("station-state")).to_have_text("online")
        commands = page.locator("#commands")

        # Change availability of connector 1 (chosen: there is no default):
        # the answer shows, and its card turns Unavailable as the station
        # reports it.
        form = commands.locator("form", has=page.get_by_role("button", name="Change availability"))
        await form.get_by_label("connector or EVSE").select_option("1")
        await form.get_by_label("availability").select_option("Inoperative")
        await form.get_by_role("button", name="Change availability").click()
        result = page.get_by_test_id("command-result")
        await expect(result).to_contain_text("ChangeAvailability")
        await expect(result).to_contain_text("accepted")
        await expect(page.get_by_test_id("answer-status")).to_have_text("Accepted")
        await expect(page.locator('.connector[data-connector="1"]')).to_contain_text("Unavailable")

        # An answer that says no is shown as such.
        unlock = commands.locator("form", has=page.get_by_role("button", name="Unlock connector"))
        await unlock.get_by_label("connector").fill("9")
        await unlock.get_by_role("button", name="Unlock connector").click()
        await expect(page.get_by_test_id("answer-status")).to_have_text("NotSupported")
        await expect(result).to_contain_text("rejected")

        trigger = commands.locator("form", has=page.get_by_role("button", name="Trigger message"))
        await trigger.get_by_label("message to trigger").select_option("Heartbeat")
        await trigger.get_by_role("button", name="Trigger message").click()
        await expect(result).to_contain_text("TriggerMessage")
        await expect(page.get_by_test_id("answer-status")).to_have_text("Accepted")

        # 1.6 configuration, asked for and shown as a table.
        await page.locator("nav.tabs").get_by_role("link", name="Configuration").click()
        await page.get_by_role("button", name="Get configuration").click()
        await expect(page.locator("#config-result")).to_contain_text("HeartbeatInterval")

        # The frame log shows the exchange, filtered by action and direction,
        # with the payload pretty-printed.
        await page.locator("nav.tabs").get_by_role("link", name="Frame log").click()
        frames = page.locator("#frame-log")
        await page.get_by_label("filter by action").fill("ChangeAvailability")
        await page.get_by_label("filter by direction").select_option("out")
        await expect(frames.locator("tr[data-action]")).to_have_count(1)
        await expect(frames.locator("tr[data-action]").first).to_have_attribute(
            "data-direction", "out"
        )
        await frames.locator("summary").first.click()
        await expect(frames.locator("pre").first).to_contain_text('"type": "Inoperative"')
        await page.get_by_label("filter by action").fill("")
        await page.get_by_label("filter by direction").select_option("")
        await expect(frames.locator('tr[data-action="StatusNotification"]').first).to_be_visible()


@pytest.mark.parametrize("database", ["sqlite", "postgresql"], indirect=True)
async def test_remote_start_and_session_chart(volta, browser):
    await add_users(volta)
    await add_token(volta, "DRIVER-1", group_id="FLEET-1")
    sc = quiet(volta, "2.0.1", session_seconds=(60.0, 60.0), meter_interval=0.3)
    async with running(volta, sc) as [station], signed_in_page(browser, volta) as page:
        await page.goto(f"/stations/{station.id}?tab=commands")
        start = page.locator("form", has=page.get_by_role("button", name="Remote start"))
        await start.get_by_label("id token").fill("DRIVER-1")
        await start.get_by_role("button", name="Remote start").click()
        await expect(page.get_by_test_id("answer-status")).to_have_text("Accepted")
        # The session shows up on the station's Sessions tab by itself.
        await page.locator("nav.tabs").get_by_role("link", name="Sessions").click()
        await expect(page).to_have_url(re.compile(r"tab=sessions"))
        session_row = page.locator("#sessions tr[data-session]").first
        await expect(session_row).to_contain_text("DRIVER-1")
        await expect(session_row).to_contain_text("Charging")
        tx_id = int(await session_row.get_attribute("data-session") or 0)

        async def charged_a_while() -> bool:
            tx = await transactions.get_transaction(volta.db, tx_id) or {"meter_values": []}
            return sum(mv["measurand"].startswith("Energy") for mv in tx["meter_values"]) >= 5

        assert await wait_until(charged_a_while, 15)
        # Stopped from the live session row (after a confirmation): the
        # station agrees and ends it.
        page.once("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
        await session_row.get_by_role("button", name="Stop").click()
        await expect(page.get_by_test_id("command-result")).to_contain_text(
            "RequestStopTransaction"
        )
        await expect(page.get_by_test_id("answer-status")).to_have_text("Accepted")
        await expect(session_row).to_contain_text("Remote")

        await page.goto(f"/sessions/{tx_id}")
        chart = page.get_by_test_id("session-chart")
        await expect(chart.locator("canvas")).to_be_visible()
        await expect(chart).to_contain_text("Energy (kWh)")
        await expect(chart).to_contain_text("Power (kW)")
        await expect(page.get_by_test_id("session-energy")).to_contain_text("kWh")
        assert (await chart.bounding_box() or {}).get("height", 0) > 150
        await expect(page.locator("dl.facts")).to_contain_text("DRIVER-1")
        await expect(page.locator("dl.facts")).to_contain_text("group FLEET-1")
        await expect(page.locator('[data-chart="soc"] canvas')).to_be_visible()
        await expect(page.locator("table").last).to_contain_text("Energy.Active.Import.Register")
        await shot(page, "session", volta)

        await page.goto("/fleet")
        await expect(page.get_by_test_id("sessions-chart").locator("canvas")).to_be_visible()
        await expect(page.locator(".chart.drawn")).to_have_count(3)
        await shot(page, "fleet", volta)


@sqlite_only
async def test_manage_id_tokens(volta, browser):
    await add_users(volta)
    await add_token(volta, "04A1B2C3D4", group_id="FLEET-1")
    async with signed_in_page(browser, volta) as page:
        await page.get_by_role("link", name="Id tokens").click()
        add = page.locator("form", has=page.get_by_role("button", name="Add"))
        await add.get_by_label("Token").fill("04CAFE0001")
        await add.get_by_label("Group").fill("FLEET-2")
        await add.get_by_role("button", name="Add").click()
        row = page.locator('tr[data-token="04CAFE0001"]')
        await expect(row).to_contain_text("FLEET-2")
        await expect(row.get_by_test_id("token-status")).to_have_text("Accepted")

        page.once("dialog", lambda dialog: dialog.accept())  # blocking asks first
        await row.get_by_role("button", name="Block").click()
        await expect(row.get_by_test_id("token-status")).to_have_text("Blocked")
        other = page.locator('tr[data-token="04A1B2C3D4"]')
        await other.get_by_role("button", name="Expire now").click()
        await expect(other.get_by_test_id("token-status")).to_have_text("Expired")
        await add.get_by_label("Token").fill("04BEEF0002")
        await add.get_by_label("Expires (UTC)").fill("2030-06-30T12:00")
        await add.get_by_role("button", name="Add").click()
        await expect(page.locator('tr[data-token="04BEEF0002"]')).to_contain_text(
            "30 Jun 2030, 12:00:00"
        )
        await shot(page, "tokens", volta)

        page.once("dialog", lambda dialog: dialog.accept())
        await row.get_by_role("button", name="Remove").click()
        await expect(row).to_have_count(0)


@sqlite_only
async def test_viewer_sees_no_controls(volta, browser):
    await add_users(volta)
    async with running(volta, quiet(volta, "1.6")) as [station]:
        await add_token(volta, "04A1B2C3D4")
        async with signed_in_page(browser, volta, VIEWER) as page:
            await expect(page.get_by_role("button", name="Register a station")).to_have_count(0)
            await page.goto(f"/stations/{station.id}")
            await expect(page.get_by_test_id("station-state")).to_have_text("online")
            await expect(page.locator("#commands")).to_have_count(0)
            await expect(page.get_by_role("button", name="Remote start")).to_have_count(0)
            await expect(page.get_by_role("button", name="Remove station")).to_have_count(0)
            await page.goto("/tokens")
            await expect(page.locator('tr[data-token="04A1B2C3D4"]')).to_be_visible()
            await expect(page.get_by_role("button", name="Block")).to_have_count(0)
            await expect(page.locator(".role")).to_have_text("viewer")
