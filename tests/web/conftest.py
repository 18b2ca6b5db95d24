"""Dashboard fixtures: users, a signed-in HTTP client, and a real headless
Chromium (Debian's /usr/bin/chromium, driven by Playwright)."""

from __future__ import annotations

import functools
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from playwright.async_api import expect

from volta.app import Volta
from volta.security import hash_password
from volta.store.models import User, utcnow
from volta.web import users

CHROMIUM = os.environ.get("VOLTA_TEST_CHROMIUM", "/usr/bin/chromium")
HAVE_CHROMIUM = Path(CHROMIUM).exists()
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
ADMIN = ("ada", "ada-admin-pass")
VIEWER = ("vic", "vic-viewer-pass")
# A loaded CI machine (2 cores, three test workers, Chromium) once took over
# 10 s for a new browser's first page: every browser wait is bounded, but with
# room. A passing test does not wait longer; only a failing one fails later.
WAIT_MS = 20_000
NAVIGATION_MS = 30_000
expect.set_options(timeout=WAIT_MS)


async def new_page(context: Any) -> Any:
    """A page of `context` with the browser tests' bounded waits."""
    page = await context.new_page()
    page.set_default_timeout(WAIT_MS)
    page.set_default_navigation_timeout(NAVIGATION_MS)
    return page


# Read at import: a test that lowers the rounds for the users it makes
# (test_accounts_pages) must not leave its cheap hashes in the cache below,
# where a later test in the same worker found them (test_auth checks 600,000).
_FIXTURE_ITERATIONS = users.USER_PBKDF2_ITERATIONS


@functools.cache
def _hash(password: str) -> str:
    # Real user-strength hashes, computed once per run rather than per test.
    return hash_password(password, iterations=_FIXTURE_ITERATIONS)


async def add_users(volta: Volta) -> None:
    """An admin and a viewer (as `users.add_user` stores them)."""
    now = utcnow()
    async with volta.db.write() as conn:
        for (name, password), role in ((ADMIN, "admin"), (VIEWER, "viewer")):
            await conn.execute(
                sa.insert(User).values(
                    username=name,
                    password_hash=_hash(password),
                    role=role,
                    created_at=now,
                    updated_at=now,
                )
            )


def base_url(volta: Volta) -> str:
    return f"http://127.0.0.1:{volta.api_port}"


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF field in the page"
    return found.group(1)


async def sign_in(client: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    page = await client.get("/login")
    return await client.post(
        "/login",
        data={"username": username, "password": password, "csrf": csrf_of(page.text)},
    )


@pytest.fixture
async def web(volta: Volta) -> AsyncIterator[httpx.AsyncClient]:
    """A browser-like HTTP client (cookies, no redirects followed), users added."""
    await add_users(volta)
    async with httpx.AsyncClient(base_url=base_url(volta), timeout=15) as client:
        yield client


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    if not HAVE_CHROMIUM:
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium")
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        try:
            yield browser
        finally:
            await browser.close()
