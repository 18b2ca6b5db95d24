"""The device model page in a real headless Chromium against a real Volta
and simulated stations: the 2.0.1 model reported on request, searched, a
ReadWrite variable set with the station's answer shown; the 1.6 keys."""

from __future__ import annotations

import re

from playwright.async_api import expect

from tests.helpers import register, wait_until
from tests.test_simulator import quiet, running
from tests.web.conftest import VIEWER, add_users, csrf_of, sign_in
from tests.web.test_browser import shot, signed_in_page, sqlite_only
from volta.blocks.device_model import service


@sqlite_only
async def test_device_model_page_of_a_201_station(volta, browser):
    await add_users(volta)
    async with running(volta, quiet(volta, "2.0.1")) as [station]:
        async with signed_in_page(browser, volta) as page:
            await page.goto(f"/stations/{station.id}?tab=configuration")
            await page.locator("#device-model-link").click()
            await expect(page).to_have_url(re.compile(rf"/stations/{station.id}/device-model$"))
            await expect(page.locator("#dm-rows")).to_contain_text("No device model reported yet")
            await page.get_by_role("button", name="Ask for a full report").click()
            await expect(page.locator("#report-result")).to_contain_text("asked")

            async def complete() -> bool:
                reports = await service.list_reports(volta.db, station.id)
                return bool(reports) and reports[0]["status"] == "complete"

            assert await wait_until(complete, 15)
            await page.reload()
            table = page.locator("#device-model-table")
            await expect(table).to_contain_text("ItemsPerMessage")
            await expect(page.locator("#reports")).to_contain_text("complete")
            await page.get_by_label("search").fill("heartbeat")
            rows = table.locator("tbody tr")
            await expect(rows).to_have_count(1)
            row = rows.first
            await row.get_by_label("value of HeartbeatInterval").fill("90")
            await row.get_by_role("button", name="Set").click()
            answer = page.locator('tr[data-key="OCPPCommCtrlr/HeartbeatInterval#Actual"] .answer')
            await expect(answer).to_contain_text("Accepted")
            await expect(answer).to_contain_text("by dashboard:ada")
            assert station.heartbeat_interval == 90
            await page.get_by_label("search").fill("")
            await expect(rows.nth(20)).to_be_visible()
            await shot(page, "device-model", volta)
            await page.get_by_label("EVSE").fill("1")
            await expect(rows).to_have_count(2)
            await expect(rows.first).to_contain_text("EVSE #1")
        # A viewer sees the values but gets no forms.
        async with signed_in_page(browser, volta, VIEWER) as page:
            await page.goto(f"/stations/{station.id}/device-model")
            await expect(page.locator("#device-model-table")).to_contain_text("HeartbeatInterval")
            await expect(page.get_by_role("button", name="Set")).to_have_count(0)


@sqlite_only
async def test_configuration_keys_of_a_16_station(volta, browser):
    await add_users(volta)
    async with (
        running(volta, quiet(volta, "1.6")) as [station],
        signed_in_page(browser, volta) as page,
    ):
        await page.goto(f"/stations/{station.id}/device-model")
        await page.get_by_role("button", name="Get configuration").click()
        table = page.locator("#configuration-table")
        await expect(table).to_contain_text("GetConfigurationMaxKeys")
        row = page.locator('tr[data-key="HeartbeatInterval"]')
        await row.get_by_label("value of HeartbeatInterval").fill("45")
        await row.get_by_role("button", name="Change").click()
        await expect(page.locator('tr[data-key="HeartbeatInterval"] .answer')).to_contain_text(
            "Accepted"
        )
        assert station.heartbeat_interval == 45


async def test_odd_query_values_are_ignored_not_500(volta, web):
    """The page's filters come from the address bar: nonsense is ignored;
    a viewer may not set; an unknown station is 404."""
    await register(volta, "ODD-1")
    await sign_in(web, *VIEWER)
    for query in ("evse=²", "offset=-1", "page=-1", "page=x", "page=99999999"):
        r = await web.get(f"/stations/ODD-1/device-model/rows?{query}")
        assert r.status_code == 200, query
    # Too long a search or filter is refused (paging.py), never a 500.
    for query in ("evse=" + "9" * 5000, "q=" + "x" * 500):
        r = await web.get(f"/stations/ODD-1/device-model/rows?{query}")
        assert r.status_code == 422, query
    assert (await web.get("/stations/ODD-1/device-model?evse=%C2%B2")).status_code == 200
    assert (await web.get("/stations/NOPE/device-model")).status_code == 404
    page = await web.get("/stations/ODD-1/device-model")
    r = await web.post(
        "/stations/ODD-1/device-model/set",
        data={"key": "A/B#Actual", "value": "1", "csrf": csrf_of(page.text)},
    )
    assert r.status_code == 403
