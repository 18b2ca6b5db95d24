"""What the console's browser tests share: a page signed in through the form
in English or Italian (the browser's Accept-Language), and an axe-core check
that fails on any serious or critical violation."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from typing import Any

from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Page, expect

from tests.web.conftest import ADMIN, NAVIGATION_MS, base_url, new_page
from volta.app import Volta

LANGS = ("en", "it")
# What the sign-in form and the stations page say in each language.
SIGN_IN = {
    "en": {"user": "User name", "password": "Password", "button": "Sign in", "home": "Stations"},
    "it": {"user": "Nome utente", "password": "Password", "button": "Accedi", "home": "Stazioni"},
}
BROWSER_LOCALE = {"en": "en-GB", "it": "it-IT"}
_axe = Axe()


@contextlib.asynccontextmanager
async def console_page(
    browser: Any, volta: Volta, who: tuple[str, str] = ADMIN, lang: str = "en"
) -> AsyncIterator[Page]:
    """A new browser context in `lang`, signed in through the form; any page
    error, console error or CSP violation fails the test."""
    context = await browser.new_context(
        base_url=base_url(volta),
        viewport={"width": 1360, "height": 860},
        locale=BROWSER_LOCALE[lang],
    )
    page = await new_page(context)
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on(
        "console",
        lambda msg: (
            problems.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None
        ),
    )
    words = SIGN_IN[lang]
    try:
        await page.goto("/")
        await expect(page).to_have_url(re.compile(r"/login"))
        await page.get_by_label(words["user"]).fill(who[0])
        await page.get_by_label(words["password"]).fill(who[1])
        await page.get_by_role("button", name=words["button"]).click()
        await expect(page.get_by_role("heading", name=words["home"], exact=True)).to_be_visible(
            timeout=NAVIGATION_MS
        )
        yield page
        assert not problems, problems
    finally:
        await context.close()


async def assert_accessible(page: Page, what: str = "") -> None:
    """axe-core on the page as it is now: no serious or critical violation."""
    results = await _axe.run(page)
    bad = [v for v in results.response["violations"] if v.get("impact") in ("serious", "critical")]
    report = [
        f"{v['id']} ({v['impact']}): {v['help']} at "
        + ", ".join(str(n["target"]) for n in v["nodes"][:5])
        for v in bad
    ]
    assert not bad, f"{what or page.url}: " + "; ".join(report)
