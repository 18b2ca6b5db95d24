"""The Users page (admins only: add, change a role, reset a password,
remove; never the last admin) and My account (language, time zone, own
password), over HTTP on SQLite and PostgreSQL and in Chromium."""

from __future__ import annotations

import logging
import re

import httpx
import pytest
import sqlalchemy as sa
from playwright.async_api import expect

from tests.web.conftest import ADMIN, VIEWER, add_users, base_url, csrf_of, sign_in
from tests.web.console import assert_accessible, console_page
from tests.web.test_browser import shot
from volta.store.models import User, utcnow
from volta.web import users

sqlite_only = pytest.mark.parametrize("database", ["sqlite"], indirect=True)


@pytest.fixture(autouse=True)
def _quick_hashes(monkeypatch):
    """Passwords made here are hashed with fewer rounds (what is tested is
    the pages, not PBKDF2's cost); the fixtures' users keep real hashes."""
    monkeypatch.setattr(users, "USER_PBKDF2_ITERATIONS", 1000)


async def _signed_in(client: httpx.AsyncClient, who: tuple[str, str]) -> str:
    """Signs in; the session's CSRF token."""
    assert (await sign_in(client, *who)).status_code == 303
    return csrf_of((await client.get("/account")).text)


async def _post(client: httpx.AsyncClient, csrf: str, path: str, **data: str) -> httpx.Response:
    return await client.post(path, data=data, headers={"X-CSRF-Token": csrf, "HX-Request": "true"})


async def _many_users(volta, n: int) -> None:
    now = utcnow()
    async with volta.db.write() as conn:
        await conn.execute(
            sa.insert(User),
            [
                {
                    "username": f"op-{i:03d}",
                    "password_hash": "not-a-hash",
                    "role": "viewer",
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(n)
            ],
        )


async def test_users_list_searches_and_pages(volta, web):
    await _many_users(volta, 60)
    await _signed_in(web, ADMIN)
    first = await web.get("/users")
    assert first.status_code == 200
    names = re.findall(r'data-user="([^"]+)"', first.text)
    assert names[:2] == ["ada", "op-000"] and len(names) == 50  # by name, 50 a page
    assert 'rel="next"' in first.text
    second = await web.get("/users?page=2")
    more = re.findall(r'data-user="([^"]+)"', second.text)
    assert more[0] == "op-049" and more[-1] == "vic" and 'rel="next"' not in second.text
    found = await web.get("/users?q=op-01")
    assert re.findall(r'data-user="([^"]+)"', found.text) == [f"op-01{i}" for i in range(10)]
    literal = await web.get("/users?q=op_")  # _ taken literally, not "any character"
    assert re.findall(r'data-user="([^"]+)"', literal.text) == []
    assert (await web.get("/users?page=x&q=" + "a" * 101)).status_code == 422
    assert (await web.get("/users?page=-3")).status_code == 200


async def test_admin_manages_users_with_the_cli_rules(volta, web, caplog):
    caplog.set_level(logging.INFO)
    csrf = await _signed_in(web, ADMIN)
    refused = await _post(
        web, csrf, "/users", username="eve", role="viewer", password="x" * 8, password2="y" * 8
    )
    assert "The two passwords differ." in refused.text
    assert refused.headers["x-volta-outcome"] == "error"
    short = await _post(web, csrf, "/users", username="eve", password="short", password2="short")
    assert "at least 8 characters" in short.text
    spaced = await _post(web, csrf, "/users", username="e ve", generate="on")
    assert "without spaces" in spaced.text
    added = await _post(web, csrf, "/users", username="eve", role="viewer", generate="on")
    shown = re.search(r'<code class="secret">([^<]+)</code>', added.text)
    assert shown and "Added user eve." in added.text
    password = shown.group(1)
    assert 'data-user="eve"' in added.text
    again = await _post(web, csrf, "/users", username="eve", generate="on")
    assert "User eve already exists." in again.text
    assert password not in (await web.get("/users")).text  # shown once

    async with httpx.AsyncClient(base_url=base_url(volta)) as eve:
        assert (await sign_in(eve, "eve", password)).status_code == 303
        assert (await eve.get("/account")).status_code == 200
        made_admin = await _post(web, csrf, "/users/role", username="eve", role="admin")
        assert "eve is now admin." in made_admin.text
        reset = await _post(
            web, csrf, "/users/password", username="eve", password="n" * 10, password2="n" * 10
        )
        assert "their sessions ended" in reset.text and "secret" not in reset.text
        assert (await eve.get("/account")).status_code == 303  # signed out
        assert (await sign_in(eve, "eve", "n" * 10)).status_code == 303

    removed = await _post(web, csrf, "/users/remove", username="eve")
    assert "Removed user eve." in removed.text and 'data-user="eve"' not in removed.text
    missing = await _post(web, csrf, "/users/remove", username="eve")
    assert "No user eve." in missing.text
    nobody = await _post(web, csrf, "/users/role", username="eve", role="admin")
    assert "No user eve." in nobody.text
    bad_role = await _post(web, csrf, "/users/role", username="vic", role="root")
    assert "Unknown role." in bad_role.text
    logged = caplog.text
    assert "ada added user eve (viewer)" in logged and "ada removed user eve" in logged
    assert password not in logged and "n" * 10 not in logged


async def test_the_last_admin_stays(volta, web):
    csrf = await _signed_in(web, ADMIN)
    demote = await _post(web, csrf, "/users/role", username="ada", role="viewer")
    assert "The last admin cannot be removed or made a viewer." in demote.text
    remove = await _post(web, csrf, "/users/remove", username="ada")
    assert "The last admin cannot be removed" in remove.text
    async with volta.db.read() as conn:
        role = (await conn.execute(sa.select(User.role).where(User.username == "ada"))).scalar()
    assert role == "admin"
    # With a second admin, ada may step down, and is signed out when she removes herself.
    await _post(web, csrf, "/users/role", username="vic", role="admin")
    gone = await _post(web, csrf, "/users/remove", username="ada")
    assert gone.status_code == 204 and gone.headers["hx-redirect"] == "/login"
    assert (await web.get("/account")).status_code == 303


async def test_a_viewer_gets_403_on_users(volta, web):
    csrf = await _signed_in(web, VIEWER)
    page = await web.get("/users", headers={"Accept": "text/html"})
    assert page.status_code == 403
    assert 'href="/users"' not in (await web.get("/account")).text  # not in the menu
    for path in ("/users", "/users/role", "/users/password", "/users/remove"):
        answer = await _post(web, csrf, path, username="vic", role="admin", generate="on")
        assert answer.status_code == 403, path
    async with volta.db.read() as conn:
        role = (await conn.execute(sa.select(User.role).where(User.username == "vic"))).scalar()
    assert role == "viewer"


async def test_my_account_language_time_zone_and_password(volta, web):
    csrf = await _signed_in(web, VIEWER)
    page = await web.get("/account", headers={"Accept-Language": "en"})
    assert "Europe/Rome" in page.text and "As my browser" in page.text
    saved = await web.post(
        "/account", data={"csrf": csrf, "language": "it", "time_zone": "Europe/Rome"}
    )
    assert saved.status_code == 303 and saved.headers["location"] == "/account?saved=settings"
    after = await web.get("/account?saved=settings", headers={"Accept-Language": "en"})
    assert after.headers["content-language"] == "it" and "Il mio account" in after.text
    assert re.search(r'id="time-now">[^<]* CES?T<', after.text)
    bad = await web.post("/account", data={"csrf": csrf, "time_zone": "Mars/Olympus"})
    assert bad.status_code == 422
    assert (await web.post("/account", data={"csrf": csrf, "language": "xx"})).status_code == 422
    assert (await web.post("/account", data={"language": "en"})).status_code == 403  # no CSRF
    back = await web.post("/account", data={"csrf": csrf, "language": "", "time_zone": ""})
    assert back.status_code == 303
    assert "My account" in (await web.get("/account", headers={"Accept-Language": "en"})).text

    wrong = await web.post(
        "/account/password",
        data={"csrf": csrf, "current": "nope", "password": "p" * 9, "password2": "p" * 9},
    )
    assert wrong.status_code == 400 and "current password is not right" in wrong.text
    changed = await web.post(
        "/account/password",
        data={"csrf": csrf, "current": VIEWER[1], "password": "p" * 9, "password2": "p" * 9},
    )
    assert changed.status_code == 303
    assert (await web.get("/account")).status_code == 200  # this browser stays signed in
    assert await users.authenticate(volta.db, VIEWER[0], VIEWER[1]) is None
    assert await users.authenticate(volta.db, VIEWER[0], "p" * 9) is not None


@sqlite_only
async def test_users_page_in_chromium_admin_in_italian(volta, browser):
    await add_users(volta)
    await _many_users(volta, 52)
    async with console_page(browser, volta, ADMIN, "it") as page:
        await page.get_by_role("link", name="Utenti", exact=True).click()
        await expect(page.get_by_role("heading", name="Utenti", exact=True)).to_be_visible()
        rows = page.locator("#users-table tbody tr")
        await expect(rows).to_have_count(50)
        await page.get_by_role("link", name="Successiva").click()
        await expect(rows.first).to_have_attribute("data-user", "op-049")
        await page.get_by_role("searchbox", name="Cerca").fill("op-05")
        await page.get_by_role("button", name="Cerca", exact=True).click()
        await expect(rows).to_have_count(2)
        await page.get_by_role("searchbox", name="Cerca").fill("bea")
        await page.get_by_role("button", name="Cerca", exact=True).click()
        await expect(rows).to_have_text(["Nessun utente corrisponde a “bea”."])

        add = page.locator("#add-user")
        await add.get_by_label("Nome utente").fill("bea")
        await add.get_by_label("Ruolo").select_option("viewer")
        await add.get_by_label("genera una password").check()
        await add.get_by_role("button", name="Aggiungi").click()
        notice = page.locator("#users .notice.ok")
        await expect(notice).to_contain_text("Utente bea aggiunto.")
        password = await notice.locator("code.secret").inner_text()
        row = page.locator('tr[data-user="bea"]')
        await expect(row).to_be_visible()

        await row.get_by_label("Ruolo di bea").select_option("admin")
        await row.get_by_role("button", name="Cambia ruolo").click()
        await expect(notice).to_contain_text("bea ora è amministratore.")
        await expect(row.locator(".role-chip")).to_have_text("amministratore")

        await row.get_by_text("Reimposta password").click()
        await row.get_by_label("genera una password").check()
        page.once("dialog", lambda d: d.accept())
        await row.get_by_role("button", name="Reimposta la password di bea").click()
        await expect(notice).to_contain_text("Nuova password per bea")
        new_password = await notice.locator("code.secret").inner_text()
        assert new_password != password
        await assert_accessible(page, "users (it)")
        await shot(page, "users", volta)

        # bea signs in with the new password, in a browser of her own.
        async with console_page(browser, volta, ("bea", new_password), "en") as bea:
            await expect(bea.get_by_role("link", name="Users", exact=True)).to_be_visible()

        page.once("dialog", lambda d: d.accept())
        await row.get_by_role("button", name="Rimuovi bea").click()
        await expect(notice).to_contain_text("Utente bea rimosso.")
        await expect(row).to_have_count(0)


@sqlite_only
async def test_account_page_in_chromium_viewer_in_english(volta, browser):
    await add_users(volta)
    async with console_page(browser, volta, VIEWER, "en") as page:
        await expect(page.get_by_role("link", name="Users", exact=True)).to_have_count(0)
        answer = await page.request.get("/users", headers={"Accept": "text/html"})
        assert answer.status == 403 and "Not allowed" in await answer.text()
        link = page.get_by_role("link", name="My account", exact=True)
        await link.focus()
        await page.keyboard.press("Enter")
        await expect(page.get_by_role("heading", name="My account")).to_be_visible()
        await assert_accessible(page, "account (en)")
        await page.get_by_label("Time zone").select_option("Europe/Rome")
        await page.get_by_label("Language").select_option("it")
        await page.get_by_role("button", name="Save", exact=True).click()
        await expect(page.get_by_role("heading", name="Il mio account")).to_be_visible()
        await expect(page.locator("html")).to_have_attribute("lang", "it")
        await expect(page.get_by_role("navigation", name="Pagine")).to_contain_text("Sessioni")
        await expect(page.locator("#time-now")).to_have_text(re.compile(r" CES?T$"))
        await shot(page, "account", volta)
