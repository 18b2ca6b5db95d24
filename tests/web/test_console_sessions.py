"""The console's sessions and id tokens (issue 17, part B) in Chromium: 63
sessions seeded in SQL over several stations, tokens and days; filters on the
server (date range in the user's zone, token, state, cost), pages, the CSV
export of the filtered list; Stop (a real simulated station) and Close (a
stale session) behind a confirmation; a one-sample chart spans minutes, not
years; id tokens searched, paged and blocked with a confirmation. The admin
works in Italian, the viewer in English and sees no buttons (and gets 403)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from playwright.async_api import expect

from tests.helpers import add_token, register
from tests.test_simulator import quiet, remote_start, running
from tests.web.conftest import ADMIN, VIEWER, add_users, csrf_of, sign_in
from tests.web.console import assert_accessible, console_page
from tests.web.test_browser import shot
from volta.app import Volta
from volta.blocks.authorization import service as tokens_service
from volta.blocks.tariffs.service import cdr_id
from volta.store.models import Cdr, MeterValue, Transaction, User, utcnow

sqlite_only = pytest.mark.parametrize("database", ["sqlite"], indirect=True)
STATIONS = ("SEED-A", "SEED-B", "SEED-C")
SESSIONS = 63
ROME = "Europe/Rome"
REASONS = ("EVDisconnected", "Local", "Remote")


def _day(n: int) -> dt.date:
    return utcnow().date() - dt.timedelta(days=10 - n)


def _started(i: int) -> dt.datetime:
    """Session i starts on day i % 7 (of the last ten), at 12:00 UTC + i minutes."""
    noon = dt.datetime.combine(_day(i % 7), dt.time(12), dt.UTC)
    return noon + dt.timedelta(minutes=i)


async def seed(volta: Volta) -> dict[int, int]:
    """63 sessions (i -> id): on SEED-A/B/C in turn, tokens TOK-0..3, days
    0..6; sessions 0 and 3 are active (on SEED-A, offline: stale), session 0
    with a single meter value; sessions 6 and 9 have a priced CDR."""
    for station_id in STATIONS:
        await register(volta, station_id)
    ids: dict[int, int] = {}
    async with volta.db.write() as conn:
        for i in range(SESSIONS):
            active = i in (0, 3)
            started = _started(i)
            stopped = None if active else started + dt.timedelta(minutes=30)
            result = await conn.execute(
                sa.insert(Transaction).values(
                    station_id=STATIONS[i % 3],
                    protocol="ocpp1.6",
                    evse_id=1,
                    connector_id=1,
                    id_token=f"TOK-{i % 4}",
                    status="Active" if active else "Ended",
                    charging_state="Charging" if active else "EVConnected",
                    started_at=started,
                    stopped_at=stopped,
                    meter_start_wh=1000.0,
                    meter_stop_wh=None if active else 1000.0 + 500 * i,
                    energy_wh=None if active else 500.0 * i,
                    stop_reason=None if active else REASONS[i % 3],
                    created_at=started,
                    updated_at=stopped or started,
                )
            )
            ids[i] = int(result.inserted_primary_key[0])
        await conn.execute(
            sa.insert(MeterValue).values(
                station_id="SEED-A",
                transaction_id=ids[0],
                evse_id=1,
                timestamp=_started(0) + dt.timedelta(seconds=30),
                measurand="Energy.Active.Import.Register",
                unit="Wh",
                value=1200.0,
                raw_value="1200",
            )
        )
        for i, total in ((6, "12.50"), (9, "3.20")):
            await conn.execute(
                sa.insert(Cdr).values(
                    id=cdr_id(ids[i]),
                    transaction_id=ids[i],
                    station_id=STATIONS[i % 3],
                    evse_id=1,
                    connector_id=1,
                    id_token=f"TOK-{i % 4}",
                    start_at=_started(i),
                    end_at=_started(i) + dt.timedelta(minutes=30),
                    tariff_id=1,
                    currency="EUR",
                    energy_wh=Decimal(500 * i),
                    total_excl_tax=Decimal(total),
                    total_incl_tax=Decimal(total),
                    breakdown={},
                    tariff=None,
                    audit={},
                    created_at=utcnow(),
                )
            )
        # The admin reads and types dates in Rome's time.
        await conn.execute(sa.update(User).where(User.username == ADMIN[0]).values(time_zone=ROME))
    return ids


def _session_ids(rows: list[dict[str, str]]) -> set[int]:
    return {int(r["id"]) for r in rows}


async def _rows(page: Any) -> list[int]:
    return [
        int(x)
        for x in await page.locator("tr[data-session]").evaluate_all(
            "rows => rows.map(r => r.dataset.session)"
        )
    ]


@sqlite_only
async def test_sessions_admin_in_italian(volta, browser, api, tmp_path):
    await add_users(volta)
    ids = await seed(volta)
    await add_token(volta, "SIM-REMOTE-1")
    sc = quiet(volta, "1.6", session_seconds=(60.0, 60.0), meter_interval=0.5)
    async with running(volta, sc) as [station], console_page(browser, volta, ADMIN, "it") as page:
        live = await remote_start(api, station)
        await page.get_by_role("link", name="Sessioni", exact=True).click()
        await expect(page.get_by_role("heading", name="Sessioni", exact=True)).to_be_visible()
        # Newest start first, 50 a page; the next page has the rest.
        first = await _rows(page)
        assert len(first) == 50 and first[0] == live["id"]
        await page.get_by_role("link", name="Successiva").click()
        assert len(await _rows(page)) == SESSIONS + 1 - 50
        await page.goto("/sessions")

        # A day's sessions (its dates in Rome's time): i % 7 == 2.
        day = _day(2).isoformat()
        await page.get_by_label("Dal", exact=True).fill(day)
        await page.get_by_label("Al", exact=True).fill(day)
        await page.get_by_role("button", name="Filtra").click()
        expected = {ids[i] for i in range(SESSIONS) if i % 7 == 2}
        await expect(page.locator("tr[data-session]")).to_have_count(len(expected))
        assert set(await _rows(page)) == expected

        # One token's ended sessions; the export is the same list, all of it.
        await page.goto("/sessions")
        await page.get_by_label("Id token", exact=True).fill("TOK-3")
        await page.locator('select[name="state"]').select_option("ended")
        await page.get_by_role("button", name="Filtra").click()
        expected = {ids[i] for i in range(SESSIONS) if i % 4 == 3 and i not in (0, 3)}
        await expect(page.locator("tr[data-session]")).to_have_count(len(expected))
        await expect(page.get_by_test_id("stop-reason").first).to_have_text(
            re.compile("Veicolo scollegato|Locale|Da remoto")
        )
        async with page.expect_download() as download:
            await page.get_by_test_id("export-csv").click()
        saved = tmp_path / "sessions.csv"
        await (await download.value).save_as(saved)
        exported = list(csv.DictReader(io.StringIO(saved.read_text())))
        assert _session_ids(exported) == expected
        assert {r["id_token"] for r in exported} == {"TOK-3"}
        assert {r["status"] for r in exported} == {"Ended"}
        await assert_accessible(page, "sessions (it)")
        await page.goto("/sessions")
        await shot(page, "sessions", volta)

        # Stop the real station's session: asked first, then the station agrees.
        row = page.locator(f'tr[data-session="{live["id"]}"]')
        page.once("dialog", lambda d: d.accept())
        await row.get_by_role("button", name="Interrompi").click()
        await expect(page.get_by_test_id("command-result")).to_contain_text("RemoteStopTransaction")
        await expect(page.get_by_test_id("answer-status")).to_have_text("Accepted")
        await page.reload()
        await expect(row.get_by_test_id("stop-reason")).to_have_text("Da remoto")

        # A stale session (its station offline) with one sample: the chart
        # spans minutes around it; closing asks first and says how it ended.
        await page.goto(f"/sessions/{ids[0]}")
        await expect(page.get_by_test_id("session-chart").locator("canvas")).to_be_visible()
        span = await page.get_by_test_id("session-chart").evaluate(
            "el => el._plot.scales.x.max - el._plot.scales.x.min"
        )
        assert 60 <= span <= 3600, span
        await assert_accessible(page, "session (it)")
        await shot(page, "session", volta)
        await page.get_by_label("Motivo").fill("stazione sostituita")
        page.once("dialog", lambda d: d.accept())
        await page.get_by_role("button", name="Chiudi la sessione").click()
        await expect(page.locator("#session-result")).to_contain_text(
            f"Sessione {ids[0]} chiusa con 0,20 kWh"
        )
        await page.reload()
        await expect(page.get_by_test_id("session-state")).to_contain_text("Terminata")
        await expect(page.locator("dl.facts")).to_contain_text("stazione sostituita")


@sqlite_only
async def test_tokens_admin_in_italian(volta, browser):
    await add_users(volta)
    for i in range(65):
        await add_token(
            volta,
            f"CARD-{i:03d}",
            group_id=f"FLEET-{i % 3}",
            token_type="eMAID" if i % 5 else "ISO14443",
        )
    async with console_page(browser, volta, ADMIN, "it") as page:
        await page.goto("/tokens")
        await expect(page.locator("tr[data-token]")).to_have_count(50)
        await page.get_by_role("link", name="Successiva").click()
        await expect(page.locator("tr[data-token]")).to_have_count(15)
        await expect(page.locator("tr[data-token]").first).to_have_attribute(
            "data-token", "CARD-050"
        )

        await page.goto("/tokens")
        await page.get_by_label("Cerca").fill("card-01")
        await page.locator('form[role="search"] select[name="type"]').select_option("eMAID")
        await page.get_by_role("button", name="Filtra").click()
        # CARD-010..019 but 010 and 015 (ISO14443).
        await expect(page.locator("tr[data-token]")).to_have_count(8)
        row = page.locator('tr[data-token="CARD-012"]')
        # Block asks first; dismissed, nothing happens.
        page.once("dialog", lambda d: d.dismiss())
        await row.get_by_role("button", name="Blocca").click()
        await expect(row.get_by_test_id("token-status")).to_have_text("Accettato")
        page.once("dialog", lambda d: d.accept())
        await row.get_by_role("button", name="Blocca").click()
        await expect(row.get_by_test_id("token-status")).to_have_text("Bloccato")
        # The redrawn table kept the search and the filter.
        await expect(page.locator("tr[data-token]")).to_have_count(8)
        assert (await tokens_service.get_token(volta.db, "CARD-012") or {})["status"] == "Blocked"

        # An expiry typed in Rome's time, shown with its zone.
        async with volta.db.write() as conn:
            await conn.execute(
                sa.update(User).where(User.username == ADMIN[0]).values(time_zone=ROME)
            )
        await page.goto("/tokens")
        add = page.locator("form", has=page.get_by_role("button", name="Aggiungi"))
        await add.get_by_label("Token").fill("CARD-ROME")
        await add.get_by_label("Scadenza (Europe/Rome)").fill("2030-06-30T12:00")
        await add.get_by_role("button", name="Aggiungi").click()
        await expect(page.locator("p.notice.ok")).to_contain_text("CARD-ROME aggiunto")
        token = await tokens_service.get_token(volta.db, "CARD-ROME") or {}
        assert token["expires_at"] == dt.datetime(2030, 6, 30, 10, 0, tzinfo=dt.UTC)
        await assert_accessible(page, "tokens (it)")
        await shot(page, "tokens", volta)


@sqlite_only
async def test_viewer_in_english_sees_no_buttons(volta, browser, web):
    ids = await seed(volta)
    await add_token(volta, "CARD-VIEW")
    async with console_page(browser, volta, VIEWER, "en") as page:
        await page.goto("/sessions?state=active")
        await expect(page.locator("tr[data-session]")).to_have_count(2)
        await expect(page.get_by_test_id("charging-state").first).to_have_text("Charging")
        await expect(page.get_by_role("button", name="Stop")).to_have_count(0)
        await expect(page.get_by_role("button", name="Close")).to_have_count(0)
        await page.goto("/sessions?cost_min=10")
        await expect(page.locator("tr[data-session]")).to_have_count(1)
        await expect(page.locator(f'tr[data-session="{ids[6]}"]')).to_contain_text("€12.50")
        await assert_accessible(page, "sessions (en)")
        await page.goto(f"/sessions/{ids[0]}")
        await expect(page.get_by_role("heading", name=f"Session {ids[0]}")).to_be_visible()
        await expect(page.get_by_role("button", name="Close the session")).to_have_count(0)
        await assert_accessible(page, "session (en)")
        await page.goto("/tokens")
        await expect(page.locator('tr[data-token="CARD-VIEW"]')).to_be_visible()
        await expect(page.get_by_role("button", name="Block")).to_have_count(0)
        await expect(page.get_by_role("button", name="Remove")).to_have_count(0)
        await assert_accessible(page, "tokens (en)")

    await sign_in(web, *VIEWER)
    csrf = csrf_of((await web.get("/tokens")).text)
    for path, data in (
        (f"/sessions/{ids[0]}/close", {"reason": "x"}),
        (f"/sessions/{ids[0]}/stop", {}),
        ("/tokens/update", {"token": "CARD-VIEW", "status": "Blocked"}),
        ("/tokens/remove", {"token": "CARD-VIEW"}),
        ("/tokens", {"token": "CARD-NEW"}),
    ):
        response = await web.post(path, data={**data, "csrf": csrf})
        assert response.status_code == 403, path
    assert (await tokens_service.get_token(volta.db, "CARD-VIEW") or {})["status"] == "Accepted"


async def test_filters_on_both_databases_and_bad_ones_are_4xx(volta, web):
    await seed(volta)
    await sign_in(web, *ADMIN)
    for query in (
        "from=yesterday",
        "to=2026-13-45",
        "cost_min=abc",
        "cost_max=1e999",
        "cost_min=NaN",
        "q=" + "x" * 101,
        "station_id=%00",
    ):
        for path in ("/sessions", "/sessions.csv"):
            response = await web.get(f"{path}?{query}")
            assert 400 <= response.status_code < 500, (path, query, response.status_code)
    # Ignored: a page that is not a number, a state or a status it does not know.
    for path in ("/sessions?page=x&state=maybe", "/tokens?page=-3&status=Nope&type=Bad"):
        assert (await web.get(path)).status_code == 200, path
    # Cost (the CDR's, with a tariff), a day in Rome's time, the search.
    page = (await web.get("/sessions?cost_min=3&cost_max=5")).text
    assert page.count("data-session=") == 1 and "€3.20" in page
    day = _day(4).isoformat()
    page = (await web.get(f"/sessions?from={day}&to={day}&state=ended")).text
    assert page.count("data-session=") == len([i for i in range(SESSIONS) if i % 7 == 4])
    page = (await web.get("/sessions?q=seed-b&id_token=TOK-2")).text
    assert page.count("data-session=") == len([i for i in range(SESSIONS) if i % 12 == 10])
    exported = (await web.get("/sessions.csv?id_token=TOK-1")).text.splitlines()
    assert exported[0].startswith("id,station_id,")
    assert len(exported) == 1 + len([i for i in range(SESSIONS) if i % 4 == 1])
