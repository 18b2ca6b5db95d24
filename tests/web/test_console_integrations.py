"""The console's integrations pages (issue 17, part D) in a real Chromium:
webhooks and their deliveries to a real HTTP receiver, the live event log,
and a simulated station's local authorization list (OCPP 1.6 SendLocalList
and GetLocalListVersion; 2.0.1 D01/D02). The admin works in Italian, the
viewer reads in English and is refused every change."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import expect

from tests.events.receiver import running_receiver
from tests.helpers import add_token, register, wait_until
from tests.test_simulator import quiet, running
from tests.web.conftest import VIEWER, add_users, csrf_of, sign_in
from tests.web.console import assert_accessible, console_page
from tests.web.test_browser import shot
from volta.app import Volta
from volta.events import service as events

sqlite_only = pytest.mark.parametrize("database", ["sqlite"], indirect=True)


@pytest.fixture
def volta_settings():
    # The receiver is on loopback: opt in to internal targets, as the webhook
    # tests do. Housekeeping would send an owed local list by itself: here
    # the admin sends it.
    return {
        "webhook_allow_private_targets": True,
        "webhook_retry_base": 0.2,
        "housekeeping_interval": 600.0,
    }


async def seed_events(volta: Volta, n: int) -> None:
    async with volta.db.write() as conn:
        for i in range(n):
            await events.emit(
                conn,
                "fault.reported" if i % 2 else "firmware.status",
                station_id=f"CP-OLD-{i % 3}",
                status="Idle",
            )


@sqlite_only
async def test_admin_adds_a_webhook_sees_a_delivery_and_the_live_event_log(volta, browser):
    await add_users(volta)
    await seed_events(volta, 60)
    sc = quiet(volta, "1.6", stations=1)
    (station_id,) = sc.station_ids()
    async with running_receiver() as rx, console_page(browser, volta, lang="it") as page:
        # Webhooks: the API's refusal is shown, then a loopback receiver is added.
        await page.goto("/webhooks")
        await expect(page.get_by_role("heading", name="Webhook", exact=True)).to_be_visible()
        await expect(page.locator("#webhook-table")).to_contain_text("Ancora nessun webhook")
        form = page.locator("#new-webhook form")
        await form.get_by_label("URL").fill("http://example.com/hook")
        await form.get_by_role("button", name="Aggiungi").click()
        await expect(page.locator("#webhook-created")).to_contain_text("url must use https")
        await form.get_by_label("URL").fill(rx.url)
        await form.get_by_label("Descrizione").fill("ricevitore di prova")
        await form.get_by_role("button", name="Aggiungi").click()
        secret = page.get_by_test_id("webhook-secret")
        await expect(secret).to_have_text(re.compile(r"^whsec_"))
        rx.secret = (await secret.text_content() or "").strip()
        await assert_accessible(page, "webhooks, secret shown")
        # Shown once: the list (and every later page) never holds it.
        await page.goto("/webhooks?q=127.0.0.1")
        row = page.locator("#webhook-table tr[data-webhook]")
        await expect(row).to_have_count(1)
        await expect(row).to_contain_text("tutti gli eventi")
        await expect(row).to_contain_text("attivo")
        assert rx.secret not in await page.content()
        await page.goto("/webhooks?state=disabled")
        await expect(page.locator("#webhook-table tr[data-webhook]")).to_have_count(0)

        # The event log: stored events paged and filtered, then one live.
        await page.goto("/events")
        await expect(page.get_by_role("heading", name="Registro eventi")).to_be_visible()
        rows = page.locator("#event-rows tr[data-event]")
        await expect(rows).to_have_count(50)
        await expect(rows.first).to_have_attribute("data-event", "60")
        await page.get_by_role("link", name="Successiva").click()
        await expect(rows).to_have_count(10)
        await page.goto("/events")
        await page.locator("select[name=type]").select_option("fault.reported")
        await page.locator("input[name=station]").fill("CP-OLD-1")
        await page.get_by_role("button", name="Filtra").click()
        await expect(page).to_have_url(re.compile(r"type=fault.reported"))
        await expect(rows).to_have_count(10)  # odd i with i % 3 == 1 below 60
        await page.goto("/events")
        await expect(rows).to_have_count(50)
        await assert_accessible(page, "event log")
        async with running(volta, sc):  # a station boots: station.online
            online = page.locator("#event-rows tr[data-event]", has_text="station.online")
            await expect(online.first).to_contain_text(station_id)
            # Added on top; what was shown stays in its order below.
            await expect(rows.nth(0)).not_to_have_attribute("data-event", "60")
            assert await page.locator("#event-rows tr[data-event='60']").count() == 1
            await shot(page, "events", volta)

            # The delivery of that event reaches the receiver and its page.
            assert await wait_until(lambda: "station.online" in rx.types(), 10)
            await page.goto("/webhooks")
            await page.get_by_role("link", name=rx.url).click()
            await expect(
                page.get_by_role("heading", name=re.compile(r"Webhook \d+"))
            ).to_be_visible()
            delivered = page.locator("#delivery-table tr[data-delivery]", has_text="station.online")
            await expect(delivered.first.get_by_test_id("delivery-status")).to_have_text(
                "consegnato"
            )
            await expect(delivered.first).to_contain_text("HTTP 204")
            await assert_accessible(page, "webhook deliveries")
            assert rx.bad_signatures == 0

        # Disable, then delete (each confirmed).
        page.once("dialog", lambda d: d.accept())
        await page.get_by_role("button", name="Disattiva").click()
        await expect(page.locator(".pagehead .pill")).to_have_text("disattivato")
        await page.goto("/webhooks")
        await shot(page, "webhooks", volta)
        page.once("dialog", lambda d: d.accept())
        await page.get_by_role("button", name="Elimina").click()
        await expect(page.locator("#webhook-table")).to_contain_text("Ancora nessun webhook")


@sqlite_only
async def test_admin_sends_a_local_list_to_a_simulated_station(volta, browser):
    """1.6 SendLocalList (Full, then Differential) and GetLocalListVersion,
    answered by a simulated station (2.0.1 D01/D02 go through the same page)."""
    await add_users(volta)
    for token in ("TAG-ANNA", "TAG-BRUNO"):
        await add_token(volta, token)
    for n in range(3):
        await register(volta, f"CP-IDLE-{n}")
    sc = quiet(volta, "1.6", stations=1)
    (station_id,) = sc.station_ids()
    async with running(volta, sc), console_page(browser, volta, lang="it") as page:
        await page.goto("/local-lists?q=IDLE")
        await expect(page.locator("#local-list-table tr[data-station]")).to_have_count(3)
        await page.goto("/local-lists")
        await page.get_by_role("link", name=station_id).click()
        await expect(
            page.get_by_role("heading", name=f"Lista locale di {station_id}")
        ).to_be_visible()
        panel = page.locator("#local-list")
        await panel.get_by_label("Id token da aggiungere").fill("TAG-NESSUNO")
        await panel.get_by_role("button", name="Aggiungi").click()
        await expect(panel.get_by_test_id("local-list-result")).to_contain_text("TAG-NESSUNO")
        await panel.get_by_label("Id token da aggiungere").fill("TAG-ANNA")
        await panel.get_by_role("button", name="Aggiungi").click()
        await expect(panel.locator("tr[data-token='TAG-ANNA']")).to_contain_text(
            "non ancora inviato"
        )

        page.once("dialog", lambda d: d.accept())
        await panel.get_by_role("button", name="Invia le modifiche").click()
        result = panel.get_by_test_id("local-list-result")
        await expect(result).to_contain_text("Completo")
        await expect(result).to_contain_text("versione 1")
        await expect(result).to_contain_text("Accettato")
        await expect(panel.get_by_test_id("list-version")).to_have_text("1")
        await expect(panel.locator("tr[data-token='TAG-ANNA']")).to_contain_text("sulla stazione")

        await panel.get_by_label("Id token da aggiungere").fill("TAG-BRUNO")
        await panel.get_by_role("button", name="Aggiungi").click()
        page.once("dialog", lambda d: d.accept())
        await panel.get_by_role("button", name="Invia le modifiche").click()
        await expect(result).to_contain_text("Differenziale")
        await expect(panel.get_by_test_id("list-version")).to_have_text("2")

        await panel.get_by_role("button", name="Chiedi la versione").click()
        await expect(result).to_have_text("La stazione ha la versione 2.")

        page.once("dialog", lambda d: d.accept())
        await (
            panel.locator("tr[data-token='TAG-ANNA']").get_by_role("button", name="Rimuovi").click()
        )
        await expect(panel.locator("tr[data-token='TAG-ANNA']")).to_contain_text("da rimuovere")
        await page.get_by_label("Cerca").fill("BRUNO")
        await page.get_by_role("button", name="Cerca").click()
        await expect(page.locator("#entry-table tr[data-token]")).to_have_count(1)
        await assert_accessible(page, "a station's local list")

        await page.goto(f"/local-lists?q={station_id}")
        row = page.locator(f"tr[data-station='{station_id}']")
        await expect(row.get_by_test_id("list-version")).to_have_text("2")
        await expect(row.locator("td.num").nth(2)).to_have_text("1")  # the removal to send
        await assert_accessible(page, "local lists")
        await page.goto("/local-lists")
        await shot(page, "local-lists", volta)


@sqlite_only
async def test_viewer_reads_the_integration_pages_without_buttons(volta, browser, web):
    await seed_events(volta, 60)
    await add_token(volta, "TAG-VIC")
    await register(volta, "CP-VIEW-1")
    from volta.blocks.local_list import service as lists
    from volta.events import webhooks

    await lists.change_members(volta.db, "CP-VIEW-1", add=["TAG-VIC"], remove=[])
    hook = await webhooks.create(
        volta.db, "http://127.0.0.1:9/hook", ["*"], None, settings=volta.services.settings
    )
    async with console_page(browser, volta, VIEWER, "en") as page:
        for path, heading in (
            ("/webhooks", "Webhooks"),
            (f"/webhooks/{hook['id']}", f"Webhook {hook['id']}"),
            ("/events", "Event log"),
            ("/local-lists", "Local lists"),
            ("/local-lists/CP-VIEW-1", "Local list of CP-VIEW-1"),
        ):
            await page.goto(path)
            await expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
            # No action: only the search and filter forms (GET) are there.
            await expect(page.locator("main [hx-post]")).to_have_count(0)
            await assert_accessible(page, f"{path} as viewer")
        await expect(page.locator("#entry-table")).to_contain_text("TAG-VIC")
        assert hook["secret"] not in await page.content()

    assert (await sign_in(web, *VIEWER)).status_code == 303
    # The live fragment carries at most a batch of rows: well under 50 KB.
    live = await web.get("/events/live", params={"after": 0})
    assert live.status_code == 200
    assert live.text.count("<tr") == 50
    assert len(live.content) < 50_000
    csrf = csrf_of((await web.get("/webhooks")).text)
    for path, data in (
        ("/webhooks", {"url": "https://example.com/x"}),
        (f"/webhooks/{hook['id']}/disable", {}),
        (f"/webhooks/{hook['id']}/delete", {}),
        ("/local-lists/CP-VIEW-1/entries", {"tokens": "TAG-VIC"}),
        ("/local-lists/CP-VIEW-1/send", {"full": "1"}),
        ("/local-lists/CP-VIEW-1/version", {}),
    ):
        resp = await web.post(path, data={**data, "csrf": csrf})
        assert resp.status_code == 403, (path, resp.status_code)
    assert await webhooks.get(volta.db, hook["id"]) is not None
