"""The whole console, walked as a person would: for each role (admin,
viewer) and each language (English, Italian) sign in through the form and
open every page of the side menu (`volta.web.nav.PAGES`) by its link (the
second one with the keyboard: focus, Enter), then check that the page is in
that language (`html[lang]`, and an Italian <h1> that is not the English
one) and that axe-core finds no serious or critical violation. A viewer has
no link to an admin-only page, and the server answers 403 to it.

One browser per role and one context per (role, language)."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Page, expect

from tests.web.conftest import ADMIN, VIEWER, add_users, new_page
from tests.web.console import assert_accessible, console_page
from volta.web import i18n, nav

sqlite_only = pytest.mark.parametrize("database", ["sqlite"], indirect=True)


def italian(text: str) -> str:
    return i18n.translations("it").gettext(text)


async def _open_by_menu(page: Page, target: nav.Page, keyboard: bool) -> None:
    link = page.locator("nav.side").locator(f'a[href="{target.path}"]')
    if keyboard:
        await link.focus()
        await page.keyboard.press("Enter")
    else:
        await link.click()
    await expect(link).to_have_attribute("aria-current", "page")


async def _walk(page: Page, lang: str, is_admin: bool, headings: dict[str, str]) -> list[str]:
    """Every page by its menu link; the <h1> of each (English walk: kept in
    `headings`). Returns the paths walked."""
    walked = []
    for n, target in enumerate(nav.PAGES):
        if target.admin_only and not is_admin:
            await expect(page.locator(f'nav.side a[href="{target.path}"]')).to_have_count(0)
            answer = await page.request.get(target.path, headers={"Accept": "text/html"})
            assert answer.status == 403, target.path
            continue
        await _open_by_menu(page, target, keyboard=n == 1)  # / is open already
        await expect(page.locator("html")).to_have_attribute("lang", lang)
        heading = (await page.locator("main h1").first.inner_text()).strip()
        assert heading, f"{target.path}: no <h1>"
        if lang == "en":
            headings[target.path] = heading
        else:
            english = headings.get(target.path)
            assert heading != english or heading == italian(target.label), (
                f"{target.path}: the <h1> {heading!r} is not in Italian"
            )
            await expect(page.locator("nav.side a[aria-current=page]")).to_have_text(
                italian(target.label)
            )
        await assert_accessible(page, f"{target.path} ({lang})")
        walked.append(target.path)
    return walked


async def _walk_both_languages(browser: Any, volta: Any, who: tuple[str, str]) -> None:
    is_admin = who == ADMIN
    headings: dict[str, str] = {}
    for lang in ("en", "it"):
        async with console_page(browser, volta, who, lang) as page:
            await assert_accessible(page, f"sign-in landing ({lang})")
            walked = await _walk(page, lang, is_admin, headings)
        expected = [p.path for p in nav.PAGES if is_admin or not p.admin_only]
        assert walked == expected


@sqlite_only
async def test_every_page_as_admin_in_english_and_italian(
    volta,
    browser,
):
    await add_users(volta)
    await _walk_both_languages(browser, volta, ADMIN)


@sqlite_only
async def test_every_page_as_viewer_in_english_and_italian(
    volta,
    browser,
):
    await add_users(volta)
    await _walk_both_languages(browser, volta, VIEWER)


@sqlite_only
async def test_the_sign_in_page_is_accessible_in_both_languages(volta, browser):
    for lang, title in (("en", "Sign in"), ("it", "Accedi")):
        context = await browser.new_context(
            base_url=f"http://127.0.0.1:{volta.api_port}",
            locale={"en": "en-GB", "it": "it-IT"}[lang],
        )
        try:
            page = await new_page(context)
            await page.goto("/login")
            await expect(page.locator("html")).to_have_attribute("lang", lang)
            await expect(page.get_by_role("heading", name=title)).to_be_visible()
            await assert_accessible(page, f"sign-in ({lang})")
        finally:
            await context.close()
