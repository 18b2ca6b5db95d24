"""The dashboard's sites pages and a station's charging profiles: rows put in
the tables directly (sites, stations.site_id, evse_allocations,
charging_profiles, transactions, meter_values), read back as an operator
sees them, over HTTP on SQLite and PostgreSQL and in a real Chromium."""

from __future__ import annotations

import datetime as dt
import html
import json
import re
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from playwright.async_api import expect

from tests.helpers import register
from tests.web.conftest import ADMIN, add_users, sign_in
from tests.web.test_browser import shot, signed_in_page
from volta.app import Volta
from volta.blocks.smart_charging import queries
from volta.store.models import (
    ChargingProfile,
    EvseAllocation,
    MeterValue,
    Site,
    Station,
    Transaction,
    utcnow,
)


def tx_default(pid: int, limit: float, unit: str = "A") -> dict[str, Any]:
    return {
        "id": pid,
        "stackLevel": 1,
        "chargingProfilePurpose": "TxProfile",
        "chargingProfileKind": "Relative",
        "chargingSchedule": [
            {
                "id": 1,
                "chargingRateUnit": unit,
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit}],
            }
        ],
    }


async def build_site(volta: Volta) -> dict[str, Any]:
    """A 63 A grid connection with a 32 A garage below it; two stations in the
    garage, each charging on EVSE 1: 16 A and 10 A allocated, 15.5 A and 9 A
    drawn (the highest phase of each latest sample)."""
    now = utcnow()
    for sid in ("GAR-1", "GAR-2"):
        await register(volta, sid)
    async with volta.db.write() as conn:
        root = (
            await conn.execute(
                sa.insert(Site)
                .values(name="Depot grid", max_current_a=63.0, phases=3, voltage_v=230.0,
                        strategy="equal", min_current_a=6.0, created_at=now, updated_at=now)
                .returning(Site.id)
            )
        ).scalar_one()  # fmt: skip
        garage = (
            await conn.execute(
                sa.insert(Site)
                .values(name="Garage", parent_id=root, max_current_a=32.0, phases=3,
                        voltage_v=230.0, strategy="priority", min_current_a=6.0,
                        non_ev_load_a=[2.0, 1.5, 1.0], created_at=now, updated_at=now)
                .returning(Site.id)
            )
        ).scalar_one()  # fmt: skip
        await conn.execute(
            sa.update(Station).where(Station.id.in_(["GAR-1", "GAR-2"])).values(site_id=garage)
        )
        for n, (sid, alloc, drawn) in enumerate((("GAR-1", 16.0, 15.5), ("GAR-2", 10.0, 9.0))):
            started = now - dt.timedelta(minutes=5)
            tx = (
                await conn.execute(
                    sa.insert(Transaction)
                    .values(station_id=sid, station_transaction_id=f"T{n}", protocol="ocpp2.0.1",
                            evse_id=1, connector_id=1, status="Active", started_at=started,
                            created_at=started, updated_at=now)
                    .returning(Transaction.id)
                )
            ).scalar_one()  # fmt: skip
            await conn.execute(
                sa.insert(EvseAllocation).values(
                    station_id=sid, evse_id=1, site_id=garage, limit_a=alloc, phases=3,
                    priority=0, transaction_id=f"T{n}", profile_id=1_000_000 + n,
                    status="Accepted", updated_at=now,
                )
            )  # fmt: skip
            await conn.execute(
                sa.insert(ChargingProfile).values(
                    station_id=sid, evse_id=1, profile_id=1_000_000 + n, stack_level=1,
                    purpose="TxProfile", transaction_id=f"T{n}",
                    profile=tx_default(1_000_000 + n, alloc), source="allocator",
                    status="Accepted", created_at=now - dt.timedelta(minutes=4),
                    updated_at=now - dt.timedelta(minutes=4),
                )
            )  # fmt: skip
            for ago, value in ((120, 12.0), (30, drawn)):
                at = now - dt.timedelta(seconds=ago)
                for phase, v in (("L1", value), ("L2", value - 0.5), ("L3", value - 1)):
                    await conn.execute(
                        sa.insert(MeterValue).values(
                            station_id=sid, transaction_id=tx, evse_id=1, timestamp=at,
                            measurand="Current.Import", phase=phase, unit="A", value=v,
                            raw_value=str(v),
                        )
                    )  # fmt: skip
        # GAR-1's fallback share (EVSE 0): not an allocation to a charging EVSE.
        await conn.execute(
            sa.insert(EvseAllocation).values(
                station_id="GAR-1", evse_id=0, site_id=garage, limit_a=5.0, phases=3,
                priority=0, status="Accepted", updated_at=now,
            )
        )  # fmt: skip
        # A station-wide profile an operator sent, and an older one replaced.
        await conn.execute(
            sa.insert(ChargingProfile).values(
                station_id="GAR-1", evse_id=0, profile_id=7, stack_level=0,
                purpose="ChargingStationMaxProfile", profile=tx_default(7, 11000, "W"),
                source="api", status="Accepted", created_at=now, updated_at=now,
            )
        )  # fmt: skip
        await conn.execute(
            sa.insert(ChargingProfile).values(
                station_id="GAR-1", evse_id=1, profile_id=3, stack_level=0,
                purpose="TxDefaultProfile", profile=tx_default(3, 20), source="fallback",
                status="Replaced", created_at=now, updated_at=now - dt.timedelta(minutes=9),
            )
        )  # fmt: skip
    return {"root": root, "garage": garage}


async def signed(web: httpx.AsyncClient) -> None:
    """Sign in as the admin (the `web` fixture added the users)."""
    resp = await sign_in(web, *ADMIN)
    assert resp.status_code == 303, resp.text


def chart_of(page: str) -> dict[str, Any]:
    found = re.search(r"data-chart=\"site\"[^>]*data-json='([^']*)'", page)
    assert found, "no site chart in the page"
    return dict(json.loads(html.unescape(found.group(1))))


async def test_sites_list_and_site_page_show_limit_allocated_drawn(volta, web):
    ids = await build_site(volta)
    await signed(web)

    listing = await web.get("/sites")
    assert listing.status_code == 200
    assert "Depot grid" in listing.text and "Garage" in listing.text
    row = re.search(rf'<tr data-site="{ids["garage"]}">(.*?)</tr>', listing.text, re.S)
    assert row, listing.text
    cells = re.sub(r"<[^>]+>", " ", row.group(1))
    assert "32 A" in cells and "26.0 A" in cells and "24.5 A" in cells  # 16+10, 15.5+9

    page = await web.get(f"/sites/{ids['garage']}")
    assert page.status_code == 200
    text = page.text
    assert re.search(r'data-testid="site-limit">32.0 A<', text)
    assert re.search(r'data-testid="site-allocated">26.0 A<', text)
    assert re.search(r'data-testid="site-drawn">24.5 A<', text)
    assert "Depot grid" in text  # its place in the tree
    assert "2.0 / 1.5 / 1.0 A" in text  # the measured non-EV load
    assert "fallback 5.0 A" in text  # GAR-1's share without Volta, apart
    chart = chart_of(text)
    by_kind = {s["kind"]: s["values"] for s in chart["series"]}
    assert set(by_kind) == {"limit", "allocated", "drawn", "evse"}
    assert by_kind["limit"][-1] == 32.0
    assert by_kind["allocated"][-1] == 26.0
    assert by_kind["drawn"][-1] == 24.5
    # Two minutes ago both drew 12 A on their highest phase.
    t_120 = (utcnow() - dt.timedelta(seconds=100)).timestamp()
    i = max(n for n, t in enumerate(chart["x"]) if t <= t_120)
    assert by_kind["drawn"][i] == 24.0
    assert [s["label"] for s in chart["series"] if s["kind"] == "evse"] == ["GAR-1 #1", "GAR-2 #1"]

    # The grid connection sees the garage's EVSEs below it, and the circuit.
    root = await web.get(f"/sites/{ids['root']}")
    assert re.search(r'data-testid="site-allocated">26.0 A<', root.text)
    assert f'href="/sites/{ids["garage"]}"' in root.text

    live = await web.get(f"/sites/{ids['garage']}/live", headers={"HX-Request": "true"})
    assert live.status_code == 200 and 'data-chart="site"' in live.text
    missing = await web.get("/sites/999999", headers={"Accept": "text/html"})
    assert missing.status_code == 404 and "Site 999999 not found" in missing.text


async def test_station_page_lists_profiles_with_source_and_status(volta, web):
    await build_site(volta)
    await signed(web)
    station = await web.get("/stations/GAR-1?tab=smart-charging")
    assert 'hx-get="/stations/GAR-1/profiles"' in station.text
    frag = await web.get("/stations/GAR-1/profiles", headers={"HX-Request": "true"})
    rows = re.findall(r'<tr data-profile="(\d+)"[^>]*>(.*?)</tr>', frag.text, re.S)
    text = {pid: re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body)) for pid, body in rows}
    # Installed first (per EVSE), then what is no longer installed.
    assert [pid for pid, _ in rows] == ["7", "1000000", "3"]
    assert "station" in text["7"] and "11,000 W" in text["7"] and "api" in text["7"]
    assert "TxProfile" in text["1000000"] and "16 A" in text["1000000"]
    assert "allocator" in text["1000000"] and "T0" in text["1000000"]
    assert "Replaced" in text["3"] and "fallback" in text["3"]
    empty = await web.get("/stations/GAR-2/profiles")
    assert "1000001" in empty.text
    await register(volta, "LONELY-1")
    none = await web.get("/stations/LONELY-1/profiles")
    assert "No charging profiles" in none.text


async def test_pages_need_a_signed_in_user(volta, web):
    ids = await build_site(volta)
    for path in ("/sites", f"/sites/{ids['garage']}", "/stations/GAR-1/profiles"):
        resp = await web.get(path)
        assert resp.status_code == 303 and resp.headers["location"].startswith("/login")


async def test_queries_on_an_empty_site(volta):
    now = utcnow()
    async with volta.db.write() as conn:
        empty = (
            await conn.execute(
                sa.insert(Site)
                .values(name="Empty", max_power_w=22_080.0, phases=3, voltage_v=230.0,
                        strategy="equal", min_current_a=6.0, created_at=now, updated_at=now)
                .returning(Site.id)
            )
        ).scalar_one()  # fmt: skip
    view = await queries.site_view(volta.db, empty)
    assert view is not None
    assert view.site.rated_a == pytest.approx(32.0)  # 22.08 kW over 3 x 230 V
    assert (view.evses, view.chart) == ([], {"x": [], "series": []})
    assert await queries.site_view(volta.db, empty + 1) is None


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
async def test_site_page_in_a_browser_draws_the_chart(volta, browser):
    await add_users(volta)
    ids = await build_site(volta)
    async with signed_in_page(browser, volta) as page:
        await page.get_by_role("link", name="Sites").click()
        await expect(page.locator(f'tr[data-site="{ids["garage"]}"]')).to_contain_text("Garage")
        await page.get_by_role("link", name="Garage").click()
        chart = page.get_by_test_id("site-chart")
        await expect(chart.locator("canvas")).to_be_visible()
        for label in ("Limit (A)", "Allocated (A)", "Drawn (A)", "GAR-1 #1"):
            await expect(chart).to_contain_text(label)
        assert (await chart.bounding_box() or {}).get("height", 0) > 150
        await expect(page.locator('tr[data-evse="GAR-2/1"]')).to_contain_text("10.0 A")
        await shot(page, "site", volta)
        # The live fragment replaces the page's content and the chart is drawn again.
        await page.wait_for_timeout(3500)
        await expect(page.get_by_test_id("site-chart").locator("canvas")).to_be_visible()
        await page.goto("/stations/GAR-1?tab=smart-charging")
        await expect(page.locator("#profile-table")).to_contain_text("ChargingStationMaxProfile")
