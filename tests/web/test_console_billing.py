"""The console's billing pages (issue 17, part C): tariffs and their
assignments, charge detail records (filters, pages, the CSV of the filtered
list, each CDR's OCPI JSON) and reservations against a real simulated
station; an admin in Italian acts, a viewer in English sees no controls and
gets 403 on every POST; axe-core on each page; screenshots."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import sqlalchemy as sa
from playwright.async_api import Page, expect

from tests.helpers import add_token, register
from tests.test_simulator import quiet, running
from tests.web.conftest import ADMIN, VIEWER, add_users, base_url, csrf_of, sign_in
from tests.web.console import assert_accessible, console_page
from tests.web.test_browser import shot
from volta.app import Volta
from volta.blocks.tariffs import cdr, service
from volta.store.models import Cdr, Reservation, Tariff, Transaction, User

sqlite_only = pytest.mark.parametrize("database", ["sqlite"], indirect=True)
START = dt.datetime(2026, 11, 2, 8, 0, tzinfo=dt.UTC)
STATIONS = ("CP-A", "CP-B", "CP-C")


def _accept(page: Page) -> None:
    page.once("dialog", lambda d: d.accept())


async def seed_cdrs(volta: Volta, n: int = 65) -> list[dict[str, Any]]:
    """`n` ended sessions priced by a 0.40 EUR/kWh tariff (22 % tax), their
    CDRs written by the service; three stations, two tokens, one every two
    hours from START, 1 to 30 kWh; the second one's token refused (flagged
    token_refused), the last CDR of CP-C flagged station_cost_differs."""
    for station_id in STATIONS:
        await register(volta, station_id)
    await service.create_tariff(
        volta.db,
        {"name": "Seed", "currency": "EUR", "price_kwh": "0.40", "tax_percent": "22"},
        is_default=True,
    )
    async with volta.db.write() as conn:
        for i in range(n):
            begin = START + dt.timedelta(hours=2 * i)
            await conn.execute(
                sa.insert(Transaction).values(
                    station_id=STATIONS[i % 3],
                    station_transaction_id=str(1000 + i),
                    protocol="ocpp1.6",
                    evse_id=1,
                    connector_id=1,
                    id_token=("TOK-ONE", "TOK-TWO")[i % 2],
                    # The second session's token was refused: its CDR is
                    # flagged token_refused when written.
                    authorization_status="Invalid" if i == 1 else "Accepted",
                    status="Ended",
                    started_at=begin,
                    stopped_at=begin + dt.timedelta(minutes=45),
                    meter_start_wh=0.0,
                    meter_stop_wh=float(1000 * (1 + i % 30)),
                    energy_wh=float(1000 * (1 + i % 30)),
                    created_at=begin,
                )
            )
    async with volta.db.read() as conn:
        ids = (await conn.execute(sa.select(Transaction.id).order_by(Transaction.id))).scalars()
        tx_ids = list(ids)
    for tx_id in tx_ids:
        assert await service.create_cdr(volta.db, tx_id) is not None
    flagged = service.cdr_id(tx_ids[-1] if STATIONS[(n - 1) % 3] == "CP-C" else tx_ids[-2])
    async with volta.db.write() as conn:
        row = (await conn.execute(sa.select(Cdr.audit).where(Cdr.id == flagged))).scalar_one()
        await conn.execute(
            sa.update(Cdr)
            .where(Cdr.id == flagged)
            .values(audit={**row, "flags": ["station_cost_differs"]}, flags="station_cost_differs")
        )
    return await service.list_cdrs(volta.db, limit=1000, newest_first=True)


# -- over HTTP, both databases ---------------------------------------------------------


async def test_cdr_list_filters_search_and_bad_parameters(volta, web):
    """The list's filters and the CSV agree with the service; bad query
    parameters are 422, never 500; the OCPI JSON is the API's."""
    every = await seed_cdrs(volta, n=12)
    await sign_in(web, *VIEWER)
    page = await web.get("/cdrs", params={"station_id": "CP-B", "min_total": "3"})
    assert page.status_code == 200
    expected = [
        c["id"] for c in every if c["station_id"] == "CP-B" and Decimal(c["total_incl_tax"]) >= 3
    ]
    assert expected and re.findall(r'data-cdr="([^"]+)"', page.text) == expected
    csv = await web.get("/cdrs.csv", params={"id_token": "TOK-TWO", "q": "CP-A"})
    rows = cdr.from_csv(csv.text)
    assert [r.id for r in rows] == [
        c["id"] for c in every if c["id_token"] == "TOK-TWO" and c["station_id"] == "CP-A"
    ]
    flagged = await web.get("/cdrs", params={"flag": "station_cost_differs"})
    assert len(re.findall(r'data-cdr="', flagged.text)) == 1
    refused = await web.get("/cdrs", params={"flag": "token_refused"})
    assert re.findall(r'data-cdr="([^"]+)"', refused.text) == [
        c["id"] for c in every if c["flags"] == ["token_refused"]
    ]
    assert len(re.findall(r'data-cdr="', refused.text)) == 1
    for bad in ({"from": "yesterday"}, {"min_total": "lots"}, {"flag": "nope"}, {"q": "x" * 101}):
        assert (await web.get("/cdrs", params=bad)).status_code == 422, bad
    ocpi = await web.get(f"/cdrs/{every[0]['id']}/ocpi.json")
    assert ocpi.json()["id"] == every[0]["id"]
    assert (await web.get("/cdrs/VOLTA-0")).status_code == 404
    assert (await web.get("/reservations", params={"status": "Nope"})).status_code == 422
    async with httpx.AsyncClient(base_url=base_url(volta), timeout=15) as admin:
        await sign_in(admin, *ADMIN)
        csrf = csrf_of((await admin.get("/reservations")).text)
        form = {"csrf": csrf, "station_id": "CP-A", "id_token": "TOK-ONE"}
        for extra, answer in (
            ({"connector_type": "cNope", "expires_at": "2030-01-01T10:00"}, "connector type"),
            ({"expires_at": "soon"}, "date and time"),
            ({"expires_at": "2030-01-01T10:00"}, "Not reserved: station CP-A is not connected"),
        ):
            response = await admin.post("/reservations", data={**form, **extra})
            assert response.status_code == 200 and answer in response.text, response.text
    for path, code in (
        ("/tariffs/abc", 422),
        ("/tariffs/99999999999999999999", 422),
        ("/tariffs/99999", 404),
        ("/cdrs/VOLTA-99999/ocpi.json", 404),
    ):
        assert (await web.get(path)).status_code == code, path


# -- in Chromium ------------------------------------------------------------------------


@sqlite_only
async def test_tariffs_admin_in_italian(volta, browser):
    """An admin creates a tariff (a wrong amount is refused in the page),
    assigns it to a station, sees it, removes the assignment and deletes
    the tariff, each removal confirmed; the list searches and pages."""
    await add_users(volta)
    await register(volta, "CP-T1")
    now = dt.datetime.now(dt.UTC)
    async with volta.db.write() as conn:
        await conn.execute(
            sa.insert(Tariff),
            [
                {
                    "name": f"Bulk {n:02d}",
                    "currency": "EUR",
                    "tax_percent": Decimal(0),
                    "components": {"price_kwh": "0.30"},
                    "periods": [],
                    "timezone": "UTC",
                    "is_default": False,
                    "created_at": now,
                    "updated_at": now,
                }
                for n in range(52)
            ],
        )
    async with console_page(browser, volta, lang="it") as page:
        await page.goto("/tariffs")
        await expect(page.get_by_role("heading", name="Tariffe", exact=True)).to_be_visible()
        await expect(page.locator("#tariff-table tbody tr")).to_have_count(50)
        await page.get_by_role("link", name="Successiva").click()
        await expect(page.locator("#tariff-table tbody tr")).to_have_count(2)
        await page.goto("/tariffs")
        form = page.locator("#new-tariff form")
        await form.get_by_label("Nome").fill("Notte AC")
        await form.get_by_label("Prezzo dell'energia per kWh").fill("abc")
        await form.get_by_role("button", name="Crea tariffa").click()
        await expect(page.locator("#tariff-problem")).to_contain_text("price_kwh")
        await form.get_by_label("Prezzo dell'energia per kWh").fill("0,35")
        await form.get_by_label("IVA (%)").fill("22")
        await form.get_by_role("button", name="Crea tariffa").click()
        await expect(page.get_by_role("heading", name="Notte AC")).to_be_visible()
        await expect(page.locator("#prices")).to_contain_text("0,35 € per kWh")
        await assert_accessible(page, "tariff")
        assign = page.locator("#assignments form")
        await assign.get_by_label("Stazione", exact=True).fill("CP-T1")
        await assign.get_by_role("button", name="Assegna").click()
        row = page.locator("#assignment-table tbody tr[data-assignment]")
        await expect(row).to_contain_text("CP-T1")
        _accept(page)
        await row.get_by_role("button", name="Rimuovi").click()
        await expect(row).to_have_count(0)
        await assign.get_by_label("Stazione", exact=True).fill("CP-T1")
        await assign.get_by_role("button", name="Assegna").click()
        await expect(row).to_contain_text("CP-T1")
        found = await service.list_assignments(volta.db)
        assert [(a["station_id"], a["evse_id"]) for a in found] == [("CP-T1", None)]
        await page.goto("/tariffs?q=notte")
        await expect(page.locator("#tariff-table tbody tr")).to_have_count(1)
        await assert_accessible(page, "tariffs")
        await shot(page, "tariffs", volta)
        await page.get_by_role("link", name="Notte AC").click()
        _accept(page)
        await page.get_by_role("button", name="Elimina tariffa").click()
        await expect(page).to_have_url(re.compile(r"/tariffs$"))
        assert not await service.list_tariffs(volta.db, search="Notte")
        assert not await service.list_assignments(volta.db)


@sqlite_only
async def test_cdrs_admin_in_italian(volta, browser):
    """65 CDRs: pages of 50 newest first, a station and date filter in the
    user's time zone, the CSV of the filtered list, a CDR's page and its
    OCPI JSON."""
    await add_users(volta)
    async with volta.db.write() as conn:
        await conn.execute(
            sa.update(User).where(User.username == ADMIN[0]).values(time_zone="Europe/Rome")
        )
    every = await seed_cdrs(volta)
    async with console_page(browser, volta, lang="it") as page:
        await page.goto("/cdrs")
        rows = page.locator("#cdr-table tbody tr[data-cdr]")
        await expect(rows).to_have_count(50)
        await expect(rows.first).to_have_attribute("data-cdr", every[0]["id"])
        await page.get_by_role("link", name="Successiva").click()
        await expect(rows).to_have_count(15)
        await expect(rows.last).to_have_attribute("data-cdr", every[-1]["id"])
        await page.goto("/cdrs")
        await page.get_by_label("Stazione", exact=True).fill("CP-B")
        # Sessions that ended on 3 November from 10:00, Rome time (UTC+1).
        await page.get_by_label("Terminate dal").fill("2026-11-03T10:00")
        await page.get_by_label("Terminate prima del").fill("2026-11-04T00:00")
        await page.get_by_role("button", name="Filtra").click()
        since = dt.datetime(2026, 11, 3, 9, 0, tzinfo=dt.UTC)
        until = dt.datetime(2026, 11, 3, 23, 0, tzinfo=dt.UTC)
        expected = [
            c["id"] for c in every if c["station_id"] == "CP-B" and since <= c["end"] < until
        ]
        assert expected
        await expect(rows).to_have_count(len(expected))
        assert [await r.get_attribute("data-cdr") for r in await rows.all()] == expected
        await assert_accessible(page, "cdrs")
        await shot(page, "cdrs", volta)
        async with page.expect_download() as download_info:
            await page.get_by_role("link", name="Esporta CSV").click()
        download = await download_info.value
        saved = await download.path()
        exported = cdr.from_csv(await asyncio.to_thread(Path(saved).read_text, encoding="utf-8"))
        assert [r.id for r in exported] == expected
        await page.get_by_role("link", name=expected[0], exact=True).click()
        await expect(page.get_by_role("heading", name=expected[0])).to_be_visible()
        await expect(page.locator("#cdr-cost")).to_contain_text("€")
        await assert_accessible(page, "cdr")
        # Fetched with the page's session (a JSON document opened in a tab
        # makes Chromium ask for /favicon.ico, a 404 the console check fails on).
        href = await page.get_by_role("link", name="JSON OCPI").get_attribute("href")
        assert href == f"/cdrs/{expected[0]}/ocpi.json"
        response = await page.request.get(href)
        assert response.ok and response.headers["content-type"] == "application/json"
        ocpi = orjson.loads(await response.body())
        assert ocpi["id"] == expected[0] and ocpi["currency"] == "EUR"


@sqlite_only
async def test_reservation_on_a_simulated_station_in_italian(volta, browser):
    """An admin reserves the connector of a real 1.6 simulated station
    (ReserveNow, 1.6 §5.13 / 2.0.1 H01): the station answers Accepted; the
    cancel (CancelReservation, H03) is confirmed and accepted too."""
    await add_users(volta)
    await add_token(volta, "RES-CARD-1")
    sc = quiet(volta, "1.6", stations=1, connectors=1)
    (station_id,) = sc.station_ids()
    async with running(volta, sc), console_page(browser, volta, lang="it") as page:
        # 55 reservations of the past: the list has two pages.
        past = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
        async with volta.db.write() as conn:
            await conn.execute(
                sa.insert(Reservation),
                [
                    {
                        "station_id": station_id,
                        "protocol": "ocpp1.6",
                        "evse_id": 1,
                        "id_token": f"OLD-{n}",
                        "expires_at": past,
                        "status": "Expired",
                        "created_at": past,
                        "updated_at": past,
                    }
                    for n in range(55)
                ],
            )
        await page.goto("/reservations")
        form = page.locator("#new-reservation form")
        await form.get_by_label("Stazione").fill(station_id)
        await form.get_by_label("Connettore / EVSE").fill("1")
        await form.get_by_label("Id token").fill("RES-CARD-1")
        _accept(page)
        await form.get_by_role("button", name="Prenota").click()
        result = page.locator("#reservation-result")
        await expect(result).to_contain_text("Prenotazione 56: la stazione ha risposto Accettato")
        row = page.locator('#reservation-table tr[data-reservation="56"]')
        await expect(row.get_by_test_id("reservation-status")).to_have_text("Accettato")
        await assert_accessible(page, "reservations")
        _accept(page)
        await row.get_by_role("button", name="Annulla la prenotazione").click()
        await expect(result).to_contain_text("Annulla la prenotazione 56")
        await expect(row.get_by_test_id("reservation-status")).to_have_text("Annullato")
        rows = page.locator("#reservation-table tbody tr[data-reservation]")
        await expect(rows).to_have_count(50)
        await page.get_by_role("link", name="Successiva").click()
        await expect(rows).to_have_count(6)
        await page.get_by_label("Cerca").fill("res-card")
        await page.get_by_role("button", name="Filtra").click()
        await expect(rows).to_have_count(1)
        await shot(page, "reservations", volta)
        await page.get_by_label("Solo attive").check()
        await page.get_by_role("button", name="Filtra").click()
        await expect(rows).to_have_count(0)


@sqlite_only
async def test_viewer_in_english_sees_no_controls_and_gets_403(volta, browser, web):
    await seed_cdrs(volta, n=3)
    tariff = (await service.list_tariffs(volta.db))[0]
    async with console_page(browser, volta, who=VIEWER, lang="en") as page:
        for path, heading in (
            ("/tariffs", "Tariffs"),
            (f"/tariffs/{tariff['id']}", "Seed"),
            ("/cdrs", "Charge detail records"),
            ("/reservations", "Reservations"),
        ):
            await page.goto(path)
            await expect(page.get_by_role("heading", name=heading).first).to_be_visible()
            await expect(
                page.locator("main button:not([type=submit]), main form[hx-post]")
            ).to_have_count(0)
        # axe on a viewer's page (the admin's, with its forms, are checked above).
        await assert_accessible(page, "a viewer's reservations")
    await sign_in(web, *VIEWER)
    csrf = csrf_of((await web.get("/tariffs")).text)
    for path in (
        "/tariffs",
        f"/tariffs/{tariff['id']}",
        f"/tariffs/{tariff['id']}/delete",
        f"/tariffs/{tariff['id']}/assignments",
        f"/tariffs/{tariff['id']}/assignments/1/remove",
        "/reservations",
        "/reservations/1/cancel",
    ):
        response = await web.post(path, data={"csrf": csrf, "name": "x", "currency": "EUR"})
        assert response.status_code == 403, path
    assert await service.get_tariff(volta.db, tariff["id"]) is not None
