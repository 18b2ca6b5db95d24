"""The firmware pages in a real headless Chromium against a real Volta and
real simulated stations: an admin starts a campaign from /firmware (with a
confirmation), follows it on its page to the end; a station's firmware
section updates one station and shows its history."""

from __future__ import annotations

import asyncio
import re

from playwright.async_api import expect

from tests.firmware.conftest import fleet_scenario, running, store_image
from tests.web.conftest import VIEWER, add_users
from tests.web.test_browser import shot, signed_in_page, sqlite_only


def accept_dialogs(page) -> None:
    page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))


@sqlite_only
async def test_an_admin_runs_a_campaign_from_the_firmware_page(volta, browser):
    await add_users(volta)
    await store_image(volta, "wallbox-fw-8.0.2.bin")
    sc = fleet_scenario(volta, stations=3, protocol="mixed", id_prefix="WEB-")
    async with running(volta, sc), signed_in_page(browser, volta) as page:
        await page.get_by_role("link", name="Firmware").click()
        await expect(page).to_have_url(re.compile(r"/firmware$"))
        await expect(page.locator("#campaign-table")).to_contain_text("No campaigns yet")
        form = page.locator("#new-campaign")
        await form.get_by_label("Name").fill("8.0.2 for the simulators")
        await form.get_by_label("Stored firmware").select_option(label="wallbox-fw-8.0.2.bin")
        await form.get_by_label("Model").fill("Simulator")
        await form.get_by_label("At most at once").fill("2")
        accept_dialogs(page)
        await form.get_by_role("button", name="Start campaign").click()
        await expect(page).to_have_url(re.compile(r"/firmware/campaigns/1$"))
        rows = page.locator("#campaign-stations tbody tr")
        await expect(rows).to_have_count(3)
        await expect(page.locator("#campaign-state")).to_contain_text("finished", timeout=30_000)
        await expect(page.locator('#campaign-stations tr[data-state="installed"]')).to_have_count(3)
        await expect(rows.nth(0)).to_contain_text("canary")
        await page.goto("/firmware")
        await expect(page.locator('tr[data-campaign="1"]')).to_contain_text("3/3 installed")
        await shot(page, "firmware", volta)
        # A bad campaign is refused with why, and nothing is made.
        await form.get_by_label("Name").fill("nobody")
        await form.get_by_label("Stored firmware").select_option(label="wallbox-fw-8.0.2.bin")
        await form.get_by_label("Vendor").fill("Nobody")
        await form.get_by_role("button", name="Start campaign").click()
        await expect(page.locator("#campaign-problem")).to_contain_text("no station matches")
        await expect(page.locator("#campaign-table tbody tr")).to_have_count(1)
    async with signed_in_page(browser, volta, VIEWER) as page:
        await page.goto("/firmware")
        await expect(page.locator('tr[data-campaign="1"]')).to_be_visible()
        await expect(page.locator("#new-campaign")).to_have_count(0)


@sqlite_only
async def test_a_station_page_updates_its_firmware_and_shows_the_history(volta, browser):
    await add_users(volta)
    await store_image(volta, "wallbox-fw-9.1.0.bin")
    sc = fleet_scenario(volta, stations=1, protocol="1.6", id_prefix="WEBST-")
    async with running(volta, sc) as (st,), signed_in_page(browser, volta) as page:
        await page.goto(f"/stations/{st.id}?tab=firmware")
        section = page.locator("#firmware")
        await expect(section.locator("#firmware-panel")).to_contain_text("No firmware updates")
        await section.get_by_label("Stored firmware").select_option(label="wallbox-fw-9.1.0.bin")
        accept_dialogs(page)
        await section.get_by_role("button", name="Update firmware").click()
        row = section.locator("#firmware-updates tbody tr").first
        await expect(row).to_have_attribute("data-state", "installed", timeout=20_000)
        await expect(row).to_contain_text("Downloading → Downloaded → Installing → Installed")
        await expect(row).to_contain_text("9.1.0")
        await page.reload()
        await expect(page.locator("#firmware h2")).to_contain_text("version 9.1.0")


@sqlite_only
async def test_firmware_posts_need_admin_and_unknown_things_are_404(volta, web):
    from tests.helpers import register
    from tests.web.conftest import csrf_of, sign_in

    await register(volta, "FWV-1")
    assert (await sign_in(web, *VIEWER)).status_code == 303
    csrf = {"X-CSRF-Token": csrf_of((await web.get("/firmware")).text)}
    for path in (
        "/firmware/campaigns",
        "/firmware/campaigns/1/pause",
        "/stations/FWV-1/firmware-updates",
    ):
        assert (await web.post(path, headers=csrf)).status_code == 403, path
    assert (
        await web.get("/firmware/campaigns/7", headers={"Accept": "text/html"})
    ).status_code == 404
    assert (await web.get(f"/firmware/campaigns/{2**40}")).status_code == 404
    assert (await web.get("/stations/NOPE/firmware")).status_code == 404
    history = await web.get("/stations/FWV-1/firmware/history")
    assert history.status_code == 200 and "No firmware updates" in history.text
