"""The console's station list, station page and fleet page (issue 17, part A)
in a real Chromium: search, pages, filters, accepting a Pending station, the
shared counters (web/counters.py) equal on the three pages while a real
simulated 2.0.1 station charges, the station page's tabs by keyboard, the
confirmation before the whole station goes Inoperative, a viewer in Italian;
axe-core on the list and on every tab. Over HTTP: the live fragment of a page
of 50 stations stays under 50 KB, and bad query parameters are 4xx.

60+ stations are seeded straight into the table (no OCPP handshake: the flow
is not what is tested); one simulated station charges for real.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
import sqlalchemy as sa
from playwright.async_api import Page, expect

from tests.helpers import add_token, wait_until
from tests.test_simulator import quiet, running
from tests.web.conftest import VIEWER, add_users, csrf_of, sign_in
from tests.web.console import assert_accessible, console_page
from tests.web.test_browser import shot
from volta.app import Volta
from volta.blocks.remote_control import sessions
from volta.store.models import Connector, Station, utcnow

sqlite_only = pytest.mark.parametrize("database", ["sqlite"], indirect=True)
SEEDED = 64
LONG_VENDOR = "Wallbox" + "X" * 43  # 50 characters, no space: must wrap
COUNTERS = ("online", "sessions", "charging", "faulted")


async def seed(volta: Volta, n: int = SEEDED, connectors: int = 1) -> None:
    """Stations SEED-000.. with vendor, model and serial; SEED-007 Pending;
    SEED-003's connector 1 Faulted; SEED-005 with a long unbroken vendor."""
    now = utcnow()
    stations = [
        {
            "id": f"SEED-{i:03d}",
            "registration_status": "Pending" if i == 7 else "Accepted",
            "validation": "strict",
            "protocol": "ocpp1.6",
            "vendor": LONG_VENDOR if i == 5 else f"Vendor-{i:03d}",
            "model": f"Model {i % 4}",
            "serial_number": f"SN{i:05d}",
            "created_at": now,
        }
        for i in range(n)
    ]
    plugs = [
        {
            "station_id": f"SEED-{i:03d}",
            "evse_id": e,
            "connector_id": 1,
            "status": "Faulted" if (i, e) == (3, 1) else "Available",
            "error_code": "GroundFailure" if (i, e) == (3, 1) else "NoError",
            "status_at": now,
            "updated_at": now,
        }
        for i in range(n)
        for e in range(1, connectors + 1)
    ]
    async with volta.db.write() as conn:
        await conn.execute(sa.insert(Station), stations)
        await conn.execute(sa.insert(Connector), plugs)


async def counters_on(page: Page) -> dict[str, str]:
    return {k: await page.get_by_test_id(f"{k}-count").inner_text() for k in COUNTERS}


async def filter_by(page: Page, **values: str) -> None:
    form = page.locator("#station-filters")
    for name, value in values.items():
        if name == "q":
            await form.get_by_role("searchbox").fill(value)
        else:
            await form.locator(f'select[name="{name}"]').select_option(value)
    await form.get_by_role("button", name="Filter").click()


@sqlite_only
async def test_station_list_counters_and_tabs(volta: Volta, browser: Any) -> None:
    await add_users(volta)
    await seed(volta)
    await add_token(volta, "DRIVER-A")
    sc = quiet(volta, "2.0.1", connectors=2, session_seconds=(60.0, 60.0), meter_interval=1.0)
    async with running(volta, sc) as [sim], console_page(browser, volta) as page:
        started = await sessions.start_session(
            volta.services, sessions.StartRequest(station_id=sim.id, id_token="DRIVER-A", evse_id=1)
        )
        assert started["command"]["status"] == "accepted"
        rows = page.locator("#station-table tbody tr[data-station]")
        await expect(rows).to_have_count(50)  # page 1 of 65, ordered by id
        assert await rows.first.get_attribute("data-station") == "SEED-000"

        # The shared counters while the simulated station charges (2.0.1:
        # its connector is Occupied, its session's chargingState Charging).
        await expect(page.get_by_test_id("charging-count")).to_have_text("1")
        listed = await counters_on(page)
        assert listed == {"online": "1", "sessions": "1", "charging": "1", "faulted": "1"}
        assert "chargingState" in (
            await page.locator('[data-counter="charging"]').get_attribute("title") or ""
        )
        await page.goto("/fleet")
        assert await counters_on(page) == listed

        # Search (vendor), then a second page.
        await page.goto("/")
        await filter_by(page, q="vendor-012")
        await expect(rows).to_have_count(1)
        await expect(rows.first).to_have_attribute("data-station", "SEED-012")
        await filter_by(page, q="")
        await page.get_by_role("link", name="Next").click()
        await expect(page).to_have_url(re.compile(r"page=2"))
        await expect(rows).to_have_count(SEEDED + 1 - 50)
        await expect(rows.last).to_have_attribute("data-station", sim.id)
        # Same rows after a poll: the order never changes under the cursor.
        first = await rows.first.get_attribute("data-station")
        await page.wait_for_timeout(2300)
        assert await rows.first.get_attribute("data-station") == first

        # Filters: online; a Faulted connector; the simulated station's chip
        # says Charging (the OCPP status Occupied in its title).
        await page.goto("/?online=yes")
        await expect(rows).to_have_count(1)
        chip = rows.first.locator('.chip[data-connector="1"]')
        await expect(chip).to_contain_text("Charging")
        await expect(chip).to_have_attribute("title", re.compile("Occupied"))
        await page.goto("/")
        await filter_by(page, status="Faulted")
        await expect(rows).to_have_count(1)
        await expect(rows.first).to_have_attribute("data-station", "SEED-003")

        # Accept a Pending station from its row, after a confirmation.
        await page.goto("/?registration=Pending")
        await expect(rows).to_have_count(1)
        page.once("dialog", lambda d: asyncio.ensure_future(d.accept()))
        await rows.first.get_by_role("button", name="Accept").click()
        await expect(page.locator("#station-notice")).to_contain_text("Accepted SEED-007")
        await expect(rows).to_have_count(0)  # the live fragment: no longer Pending
        await page.goto("/?q=SEED-00")
        await assert_accessible(page, "station list")
        await shot(page, "stations", volta)

        # The station page: its counters equal the fleet's (the only charging
        # station); tabs are links, reached and followed by the keyboard.
        await page.goto(f"/stations/{sim.id}")
        assert await counters_on_station(page) == {"sessions": "1", "charging": "1", "faulted": "0"}
        await expect(page.locator('.connector[data-connector="1"] .status')).to_have_text(
            "Charging"
        )
        tabs = page.locator("nav.tabs a")
        await expect(tabs.first).to_have_attribute("aria-current", "page")
        await shot(page, "station", volta)
        await assert_accessible(page, "station overview")
        await tabs.first.focus()
        await page.keyboard.press("Tab")
        await expect(tabs.nth(1)).to_be_focused()
        await page.keyboard.press("Enter")
        await expect(page).to_have_url(re.compile(r"\?tab=sessions$"))
        await expect(page.locator("#sessions tr[data-session]")).to_contain_text("DRIVER-A")
        for name in await tabs.evaluate_all("els => els.map(e => e.id.slice(4))"):
            if name in ("overview",):
                continue
            await page.goto(f"/stations/{sim.id}?tab={name}")
            await expect(page.locator(f"#tab-{name}")).to_have_attribute("aria-current", "page")
            await assert_accessible(page, f"tab {name}")

        # Change availability: no default connector; Operative by default;
        # the whole station Inoperative asks first (dismissed: nothing sent).
        await page.goto(f"/stations/{sim.id}?tab=commands")
        form = page.locator("#availability-form")
        assert await form.get_by_label("availability").input_value() == "Operative"
        assert await form.get_by_label("connector or EVSE").input_value() == ""
        await form.get_by_label("connector or EVSE").select_option("0")
        await form.get_by_label("availability").select_option("Inoperative")
        asked: list[str] = []
        pending: list[Any] = []

        def dismiss(dialog: Any) -> None:
            asked.append(dialog.message)
            pending.append(asyncio.ensure_future(dialog.dismiss()))

        page.once("dialog", dismiss)
        await form.get_by_role("button", name="Change availability").click()
        assert await wait_until(lambda: asked, 5)
        assert "whole station" in asked[0]
        await page.wait_for_timeout(300)
        await expect(page.get_by_test_id("command-result")).to_have_count(0)
        # One connector needs no confirmation.
        await form.get_by_label("connector or EVSE").select_option("2")
        await form.get_by_label("availability").select_option("Operative")
        await form.get_by_role("button", name="Change availability").click()
        await expect(page.get_by_test_id("command-result")).to_contain_text("ChangeAvailability")


async def counters_on_station(page: Page) -> dict[str, str]:
    return {
        k: await page.get_by_test_id(f"{k}-count").inner_text()
        for k in ("sessions", "charging", "faulted")
    }


@sqlite_only
async def test_viewer_in_italian_sees_no_admin_buttons(volta: Volta, browser: Any) -> None:
    await add_users(volta)
    await seed(volta, n=4)
    async with console_page(browser, volta, VIEWER, "it") as page:
        rows = page.locator("#station-table tbody tr[data-station]")
        await expect(rows).to_have_count(4)
        await expect(page.get_by_test_id("faulted-count")).to_have_text("1")
        await expect(page.locator('[data-counter="faulted"]')).to_contain_text("connettori guasti")
        await expect(page.get_by_role("button", name="Accetta")).to_have_count(0)
        await expect(page.get_by_text("Registra una stazione")).to_have_count(0)
        await assert_accessible(page, "station list (it, viewer)")
        await page.goto("/stations/SEED-003")
        tabs = page.locator("nav.tabs a")
        await expect(tabs.first).to_have_text("Panoramica")
        await expect(page.locator("#tab-commands")).to_have_count(0)
        await expect(page.locator("#tab-manage")).to_have_count(0)
        await expect(page.locator('.connector[data-connector="1"]')).to_contain_text("Guasto")
        await assert_accessible(page, "station page (it, viewer)")
        # The server refuses the viewer's POSTs (with a valid CSRF token).
        csrf = csrf_of(await page.content())
        for path in ("accept", "commands", "remove"):
            r = await page.request.post(
                f"/stations/SEED-003/{path}",
                headers={"X-CSRF-Token": csrf},
                form={"kind": "reset", "type": "Soft"},
            )
            assert r.status == 403, path
        forbidden = await page.request.get("/stations/SEED-003?tab=manage")
        assert forbidden.status == 404


@sqlite_only
async def test_live_fragment_is_small_and_bad_queries_are_4xx(volta: Volta, web: Any) -> None:
    await seed(volta, n=60, connectors=2)
    assert (await sign_in(web, "ada", "ada-admin-pass")).status_code == 303
    live = await web.get("/ui/stations", headers={"HX-Request": "true"})
    assert live.status_code == 200
    assert live.text.count("<tr data-station=") == 50
    assert len(live.content) < 50_000, len(live.content)
    second = await web.get("/ui/stations?page=2&q=SEED")
    assert second.text.count("<tr data-station=") == 10
    for query in (
        "online=maybe",
        "status=Broken",
        "registration=Nope",
        "protocol=ocpp9",
        "q=" + "x" * 101,
        "q=%00",
    ):
        for path in ("/", "/ui/stations"):
            r = await web.get(f"{path}?{query}")
            assert 400 <= r.status_code < 500, (path, query, r.status_code)
    for query in ("page=abc", "page=-3", "page=99999999", "q=%25_%5C"):
        r = await web.get(f"/?{query}")
        assert r.status_code == 200, (query, r.status_code)
    assert (await web.get("/stations/SEED-001?tab=nope")).status_code == 404
    page = await web.get("/stations/SEED-007")
    headers = {"X-CSRF-Token": csrf_of(page.text)}
    r = await web.post("/stations/SEED-007/accept", headers=headers)
    assert r.status_code == 200 and "Accepted SEED-007" in r.text
    # Availability names its connector: no silent default of the whole station.
    r = await web.post(
        "/stations/SEED-001/commands",
        headers=headers,
        data={"kind": "availability", "state": "Inoperative"},
    )
    assert "connector is required" in r.text
