"""The station page's display messages and customer information section in a
real headless Chromium against a real Volta, with a 2.0.1 station over a real
WebSocket: send and clear a message, ask for a customer's information and
see the report, erase a driver's data after the confirmation."""

from __future__ import annotations

import asyncio

import pytest
from playwright.async_api import expect

from tests.conformance.conftest import Station
from tests.helpers import add_token, connect, now_iso, register
from tests.web.conftest import VIEWER, add_users, csrf_of, sign_in
from tests.web.test_browser import signed_in_page, sqlite_only

PASSWORD = "display-station-pass"
BOOT = {"reason": "PowerUp", "chargingStation": {"model": "M1", "vendorName": "V"}}


async def report(st: Station, request_id: int, data: str) -> None:
    payload = {
        "data": data,
        "tbc": False,
        "seqNo": 0,
        "generatedAt": now_iso(),
        "requestId": request_id,
    }
    assert await st.call("NotifyCustomerInformation", payload) == {}


@sqlite_only
async def test_display_and_customer_section(volta, browser):
    await add_users(volta)
    await register(volta, "DSP-1", password=PASSWORD)
    await add_token(volta, "DRIVER-0042")
    answers = {
        "SetDisplayMessage": {"status": "Accepted"},
        "ClearDisplayMessage": {"status": "Accepted"},
        "CustomerInformation": {"status": "Accepted"},
    }
    async with connect(volta, "DSP-1", "ocpp2.0.1", PASSWORD) as ws:
        st = Station(ws, answers)
        try:
            assert (await st.call("BootNotification", BOOT))["status"] == "Accepted"
            async with signed_in_page(browser, volta) as page:
                await page.goto("/stations/DSP-1?tab=display")
                section = page.locator("#display")
                await expect(section).to_contain_text("No display messages known")

                form = section.locator("#display-send")
                await form.get_by_label("message text").fill("Welcome to DSP-1")
                await form.get_by_label("priority").select_option("InFront")
                await form.get_by_role("button", name="Send message").click()
                sent = await st.expect("SetDisplayMessage")
                assert sent["message"]["message"]["content"] == "Welcome to DSP-1"
                assert sent["message"]["priority"] == "InFront"
                row = section.locator("#display-messages tbody tr")
                await expect(row).to_contain_text("Welcome to DSP-1")
                await expect(row).to_contain_text("Accepted")

                # Clearing a message asks first (a confirmation dialog).
                page.once("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
                await row.get_by_role("button", name="Clear").click()
                assert await st.expect("ClearDisplayMessage") == {"id": sent["message"]["id"]}
                await expect(section.locator("#display-done")).to_contain_text("Accepted")
                await expect(section.locator("#display-messages")).to_have_count(0)

                ask = section.locator("#customer-request")
                await ask.get_by_label("customer id token").fill("DRIVER-0042")
                page.once("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
                await ask.get_by_role("button", name="Ask for the customer's information").click()
                asked = await st.expect("CustomerInformation")
                assert asked["idToken"]["idToken"] == "DRIVER-0042"
                await expect(section.locator("#customer-requests")).to_contain_text("waiting")
                await report(st, asked["requestId"], "DRIVER-0042: 3 sessions in cache")
                await page.reload()
                await expect(section.locator("#customer-requests")).to_contain_text(
                    "3 sessions in cache"
                )

                erase = section.locator("#erase-driver")
                await erase.get_by_label("id token to erase").fill("DRIVER-0042")
                await erase.get_by_label("stations to clear").select_option("all")
                page.once("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
                await erase.get_by_role("button", name="Erase driver's data").click()
                cleared = await st.expect("CustomerInformation")
                assert (cleared["clear"], cleared["report"]) == (True, True)
                await report(st, cleared["requestId"], "cleared")
                await expect(section.locator("#display-done")).to_contain_text("Erased as anon-")
                # The driver's data is gone from the page: the report and the token.
                assert "DRIVER-0042" not in await section.inner_text()
        finally:
            await st.close()


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
async def test_viewer_sees_the_section_without_buttons_and_cannot_post(volta, web):
    await register(volta, "DSP-2", password=PASSWORD)
    assert (await sign_in(web, *VIEWER)).status_code == 303
    panel = await web.get("/stations/DSP-2/display")
    assert panel.status_code == 200
    assert "No display messages known" in panel.text
    assert "Send message" not in panel.text and "Erase" not in panel.text
    page = await web.get("/stations/DSP-2")
    headers = {"X-CSRF-Token": csrf_of(page.text)}
    for path in ("display/messages", "display/refresh", "display/erase"):
        r = await web.post(f"/stations/DSP-2/{path}", headers=headers, data={"id_token": "x"})
        assert r.status_code == 403, path
    assert (await web.get("/stations/NOPE/display")).status_code == 404
