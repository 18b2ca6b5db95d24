"""The operations pages of the console (issue 17, part F) in a real Chromium:
every page in Italian as an admin, with an axe-core check and its title in
Italian; the security event log and the files list (65 rows each, seeded in
SQL) searched, paged and filtered on the server, a file deleted after a
confirmation; a viewer in English sees no admin control there and gets 403
on the POST. Plus the server side of paging: stable order, bad parameters
refused (422) or ignored, never a 500."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from typing import Any

import pytest
import sqlalchemy as sa
from playwright.async_api import Page, expect

from tests.helpers import register
from tests.web.conftest import ADMIN, VIEWER, add_users, csrf_of, sign_in
from tests.web.console import assert_accessible, console_page
from tests.web.test_browser import shot
from volta.app import Volta
from volta.store.models import (
    Connector,
    DeviceVariable,
    FirmwareCampaign,
    FirmwareCampaignStation,
    MonitoringEvent,
    SecurityEvent,
    Site,
    Station,
    StoredFile,
    utcnow,
)

sqlite_only = pytest.mark.parametrize("database", ["sqlite"], indirect=True)

ROWS = 65  # more than a page (50) of each list


async def seed(volta: Volta) -> dict[str, Any]:
    """Stations, two sites, a campaign, 65 security events, 65 files, a few
    monitoring events and a 2.0.1 station's device model: straight in SQL."""
    now = utcnow()
    # Recent enough that no retention prunes them during the test.
    t0 = (now - dt.timedelta(hours=2)).replace(microsecond=0)
    for n in range(3):
        await register(volta, f"OPS-{n:02d}")
    async with volta.db.write() as conn:
        grid = (
            await conn.execute(
                sa.insert(Site)
                .values(name="Deposito Nord", max_current_a=63.0, phases=3, voltage_v=230.0,
                        strategy="equal", min_current_a=6.0, created_at=now, updated_at=now)
                .returning(Site.id)
            )
        ).scalar_one()  # fmt: skip
        await conn.execute(
            sa.insert(Site).values(
                name="Garage", parent_id=grid, max_current_a=32.0, phases=3, voltage_v=230.0,
                strategy="priority", min_current_a=6.0, created_at=now, updated_at=now,
            )
        )  # fmt: skip
        await conn.execute(
            sa.update(Station)
            .where(Station.id.in_(["OPS-00", "OPS-01"]))
            .values(site_id=grid, protocol="ocpp2.0.1")
        )
        campaign = (
            await conn.execute(
                sa.insert(FirmwareCampaign)
                .values(name="Rollout 2.4.1", version="2.4.1", target={"model": "Wallbox"},
                        canary=1, max_in_progress=2, attempts=1, failure_threshold=0.2,
                        timezone="UTC", forgiven=0, state="paused", created_by="test",
                        created_at=now, updated_at=now)
                .returning(FirmwareCampaign.id)
            )
        ).scalar_one()  # fmt: skip
        await conn.execute(
            sa.insert(FirmwareCampaignStation),
            [
                {"campaign_id": campaign, "station_id": f"OPS-{n:02d}", "canary": n == 0,
                 "state": ("installed", "pending", "failed")[n], "tries": 1, "updated_at": now}
                for n in range(3)
            ],
        )  # fmt: skip
        await conn.execute(
            sa.insert(SecurityEvent),
            [
                {"station_id": f"OPS-{n % 3:02d}",
                 "type": "TamperDetectionActivated" if n % 13 == 0 else f"InvalidMessages{n:02d}",
                 "critical": n % 13 == 0, "tech_info": f"info {n:02d}",
                 "origin": "station", "timestamp": t0 + dt.timedelta(minutes=n),
                 "received_at": t0 + dt.timedelta(minutes=n)}
                for n in range(ROWS)
            ],
        )  # fmt: skip
        await conn.execute(
            sa.insert(StoredFile),
            [
                {"id": f"file-{n:03d}", "kind": "firmware" if n < 40 else "log",
                 "name": f"fw-1.0.{n:02d}.bin" if n < 40 else f"log-{n:02d}.txt",
                 "sha256": hashlib.sha256(str(n).encode()).hexdigest(), "size": 1000 + n,
                 "station_id": None if n < 40 else f"OPS-{n % 3:02d}",
                 # Ten files share one second: the id keeps their order stable.
                 "created_at": t0 + dt.timedelta(seconds=n // 10)}
                for n in range(ROWS)
            ],
        )  # fmt: skip
        await conn.execute(
            sa.insert(MonitoringEvent),
            [
                {"station_id": "OPS-00", "event_id": n, "timestamp": t0, "trigger": "Alerting",
                 "actual_value": str(40 + n), "event_notification_type": "CustomMonitor",
                 "component": "TemperatureSensor", "variable": "Temperature",
                 "severity": n % 9, "cleared": False, "received_at": t0}
                for n in range(5)
            ],
        )  # fmt: skip
        await conn.execute(
            sa.insert(Connector),
            [
                {"station_id": f"OPS-{n:02d}", "evse_id": 1, "connector_id": 1,
                 "status": "Available", "status_at": t0, "updated_at": t0}
                for n in range(3)
            ],
        )  # fmt: skip
        await conn.execute(
            sa.insert(DeviceVariable),
            [
                {"station_id": "OPS-00", "key": f"OCPPCommCtrlr/{v}#Actual",
                 "component": "OCPPCommCtrlr", "variable": v, "attribute_type": "Actual",
                 "value": "60", "mutability": "ReadWrite", "data_type": "integer",
                 "updated_at": now}
                for v in ("HeartbeatInterval", "MessageTimeout", "NetworkProfileConnectionAttempts")
            ],
        )  # fmt: skip
    return {"site": grid, "campaign": campaign}


async def visit(page: Page, path: str, heading: str, title: str | None = None) -> None:
    """A page in Italian: its heading and its <title> (the menu's word, when
    the heading says more), then axe-core."""
    await page.goto(path)
    await expect(page.get_by_role("heading", level=1)).to_contain_text(heading)
    await expect(page).to_have_title(re.compile("^" + re.escape(title or heading)))
    await assert_accessible(page)


@sqlite_only
async def test_operations_pages_in_italian_for_an_admin(volta, browser):
    """Each operations page in Italian (title, heading, axe-core); the security
    log and the files list searched, paged and filtered; a file deleted after
    a confirmation and gone."""
    await add_users(volta)
    ids = await seed(volta)
    async with console_page(browser, volta, ADMIN, "it") as page:
        await visit(page, "/sites", "Siti")
        await shot(page, "sites", volta)
        await expect(page.locator("#site-table")).to_contain_text("quote uguali")
        await visit(page, f"/sites/{ids['site']}", "Deposito Nord")
        await expect(page.locator("main")).to_contain_text("limite per fase")
        await visit(page, "/firmware", "Campagne firmware", "Firmware")
        await expect(page.locator("#campaign-table")).to_contain_text("in pausa")
        await visit(page, f"/firmware/campaigns/{ids['campaign']}", "Campagna Rollout 2.4.1")
        await expect(page.locator("#campaign-stations tbody tr")).to_have_count(3)
        await expect(page.get_by_role("button", name="Riprendi")).to_be_visible()
        await shot(page, "firmware-campaign", volta)
        await visit(page, "/monitoring", "Eventi di monitoraggio", "Monitoraggio")
        await expect(page.locator("#monitoring-events tbody tr")).to_have_count(5)
        await visit(page, "/availability", "Disponibilità")
        await expect(page.locator("#availability-table")).to_contain_text("OPS-02")
        await visit(page, "/stations/OPS-00/device-model", "Modello del dispositivo di OPS-00")
        await expect(page.locator("#device-model-table tbody tr")).to_have_count(3)

        # The security event log: critical first, then newest; 50 a page.
        await visit(page, "/security", "Eventi di sicurezza", "Sicurezza")
        rows = page.locator("#security-events tbody tr")
        await expect(rows).to_have_count(50)
        await expect(rows.first).to_contain_text("critico")
        await page.get_by_role("link", name="Successiva").click()
        await expect(page).to_have_url(re.compile(r"page=2"))
        await expect(rows).to_have_count(ROWS - 50)
        await page.get_by_role("link", name="Precedente").click()
        await expect(rows).to_have_count(50)
        await page.get_by_role("searchbox").fill("info 5")  # 50..59
        await page.get_by_role("button", name="Filtra").click()
        await expect(rows).to_have_count(10)
        await expect(page.locator(".pager")).to_contain_text("Pagina 1")
        await page.get_by_label("solo critici").check()  # 52 only
        await page.get_by_role("button", name="Filtra").click()
        await expect(rows).to_have_count(1)
        await expect(rows.first).to_have_attribute("data-critical", "yes")
        await page.goto("/security?station_id=OPS-01")
        await expect(rows).to_have_count(22)  # n % 3 == 1

        # Files: newest first, the id last (ten share each second); 50 a page.
        await visit(page, "/files", "File")
        files = page.locator("#files tbody tr")
        await expect(files).to_have_count(50)
        await expect(files.first).to_have_attribute("data-file", "file-060")
        await page.get_by_role("link", name="Successiva").click()
        await expect(files).to_have_count(ROWS - 50)
        await expect(files.last).to_have_attribute("data-file", "file-009")
        await page.get_by_role("searchbox").fill("fw-1.0.07")
        await page.get_by_role("button", name="Filtra").click()
        await expect(files).to_have_count(1)
        await page.get_by_role("searchbox").fill("")
        await page.get_by_label("Genere").select_option("log")
        await page.get_by_role("button", name="Filtra").click()
        await expect(files).to_have_count(ROWS - 40)
        await expect(page).to_have_url(re.compile(r"kind=log"))
        # Delete asks first; accepted, the row goes, and stays gone.
        target = page.locator('tr[data-file="file-063"]')
        messages: list[str] = []

        async def accept(dialog: Any) -> None:
            messages.append(dialog.message)
            await dialog.accept()

        page.once("dialog", accept)
        await target.get_by_role("button", name="Elimina").click()
        await expect(target).to_have_count(0)
        assert messages == ["Eliminare log-63.txt?"]
        await page.reload()
        await expect(files).to_have_count(ROWS - 41)
        await assert_accessible(page)


@sqlite_only
async def test_a_viewer_in_english_sees_no_admin_controls(volta, browser, web):
    """The viewer reads the same lists in English with no button that changes
    anything; the server answers 403 to the POSTs and the DELETE."""
    # The `web` fixture adds the users.
    ids = await seed(volta)
    async with console_page(browser, volta, VIEWER, "en") as page:
        await page.goto("/files?q=fw-1.0.0")
        await expect(page.get_by_role("heading", level=1)).to_have_text("Files")
        await expect(page.locator("#files tbody tr")).to_have_count(10)
        await expect(page.get_by_role("button", name="Delete")).to_have_count(0)
        await expect(page.locator("#upload")).to_have_count(0)
        await page.goto("/security?critical=1")
        await expect(page.locator("#security-events tbody tr")).to_have_count(5)
        await assert_accessible(page)
        await page.goto(f"/firmware/campaigns/{ids['campaign']}")
        await expect(page.get_by_role("heading", level=1)).to_contain_text("Rollout 2.4.1")
        await expect(page.get_by_role("button", name="Resume")).to_have_count(0)
        await page.goto("/monitoring")
        await expect(page.get_by_role("button", name="Apply to fleet")).to_have_count(0)
    await sign_in(web, *VIEWER)
    html = (await web.get("/files")).text
    token = csrf_of(html)
    for method, path in (
        ("DELETE", "/files/file-001"),
        ("POST", f"/firmware/campaigns/{ids['campaign']}/cancel"),
        ("POST", "/monitoring/sets/connector-faults/apply"),
        ("POST", "/availability/maintenance-windows/1/delete"),
    ):
        r = await web.request(method, path, headers={"X-CSRF-Token": token})
        assert r.status_code == 403, (method, path, r.status_code)
    assert (await web.get("/files?q=fw-1.0.01")).text.count('data-file="file-001"') == 1


async def test_lists_page_on_the_server_with_a_stable_order(volta, web):
    """Paging with limit+1 (no count), the same rows in the same order on
    every poll, each list's search in SQL (SQLite and PostgreSQL: any case,
    % and _ taken literally), bad query parameters 422 or ignored, never 500."""
    # The `web` fixture adds the users.
    ids = await seed(volta)
    await sign_in(web, *ADMIN)
    first = (await web.get("/files")).text
    again = (await web.get("/files")).text
    order = re.findall(r'data-file="(file-\d+)"', first)
    assert order == re.findall(r'data-file="(file-\d+)"', again) and len(order) == 50
    second = re.findall(r'data-file="(file-\d+)"', (await web.get("/files?page=2")).text)
    assert len(second) == ROWS - 50 and not set(order) & set(second)
    assert 'rel="next"' in first and 'rel="next"' not in (await web.get("/files?page=2")).text
    events = re.findall(r'data-event="(\d+)"', (await web.get("/security?page=2")).text)
    assert len(events) == ROWS - 50
    searches = {
        "/security?q=INFO 5": ('data-event="', 10),
        "/files?q=LOG-6": ('data-file="', 5),
        "/files?q=%25": ('data-file="', 0),
        "/files?q=fw_1": ('data-file="', 0),
        "/monitoring?q=temperature&severity=3": ("data-severity=", 4),
        "/firmware?q=rollout": ("data-campaign=", 1),
        "/sites?q=deposito": ("data-site=", 1),
        "/availability?q=ops-0": ("data-evse=", 3),
        "/stations/OPS-00/device-model/rows?q=heartbeat": ("data-key=", 1),
    }
    for path, (marker, count) in searches.items():
        r = await web.get(path)
        assert r.status_code == 200 and r.text.count(marker) == count, (path, r.text.count(marker))
    # The campaign's live fragment keeps the page's search.
    live = await web.get(f"/firmware/campaigns/{ids['campaign']}/live?q=OPS-02")
    assert live.status_code == 200 and live.text.count("data-station=") == 1
    for path in (
        "/files?page=abc",
        "/files?page=-3",
        "/files?kind=nonsense",
        "/security?page=999999999",
        "/monitoring?severity=x",
        "/availability?start=yesterday&site_id=x",
        "/sites?page=0",
        f"/firmware/campaigns/{ids['campaign']}?state=nonsense",
    ):
        r = await web.get(path)
        assert r.status_code == 200, (path, r.status_code)
    for path in (
        "/files?q=" + "x" * 101,
        "/security?station_id=%01",
        "/sites?q=" + "y" * 200,
    ):
        r = await web.get(path)
        assert r.status_code == 422, (path, r.status_code)
