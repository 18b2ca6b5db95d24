"""The HTTP API's documentation (Swagger UI at /docs, ReDoc at /redoc) served
from local assets under a Content-Security-Policy: in Chromium both render
the API's operations, with no CSP violation, no console error and no request
leaving 127.0.0.1."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.async_api import expect

from tests.web.conftest import SCREENSHOTS, base_url, new_page
from volta.web import api_docs

sqlite_only = pytest.mark.parametrize("database", ["sqlite"], indirect=True)


async def test_docs_pages_and_assets_over_http(volta, web):
    docs = await web.get("/docs")
    assert docs.status_code == 200
    csp = docs.headers["content-security-policy"]
    assert "cdn" not in docs.text and "script-src 'self';" in csp and "unsafe" not in csp
    assert "/docs/assets/swagger-ui-bundle.js" in docs.text
    redoc = await web.get("/redoc")
    assert "/docs/assets/redoc.standalone.js" in redoc.text
    assert "worker-src blob:" in redoc.headers["content-security-policy"]
    asset = await web.get("/docs/assets/swagger-ui.css")
    assert asset.status_code == 200 and asset.headers["content-type"].startswith("text/css")
    assert (await web.get("/docs/assets/..%2Fcore.py")).status_code == 404
    assert (await web.get("/docs/assets/nothing.js")).status_code == 404


@sqlite_only
async def test_swagger_ui_and_redoc_render_in_chromium(volta, browser):
    context = await browser.new_context(
        base_url=base_url(volta), viewport={"width": 1360, "height": 860}
    )
    page = await new_page(context)
    problems: list[str] = []
    hosts: set[str] = set()
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on(
        "console",
        lambda msg: (
            problems.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None
        ),
    )
    page.on(
        "request",
        lambda req: hosts.add(urlsplit(req.url.removeprefix("blob:")).hostname or req.url),
    )
    try:
        await page.goto("/docs")
        await expect(page.get_by_text("/api/v1/stations", exact=True).first).to_be_visible()
        await expect(page.locator(".swagger-ui .title").first).to_contain_text("Volta")
        if volta.db.is_sqlite:
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(SCREENSHOTS / "api-docs.png"))
        assert not problems, problems
        await page.goto("/redoc")
        # ReDoc lays out the whole schema before it shows anything: slow on a busy machine.
        await expect(page.locator("h1").first).to_contain_text("Volta", timeout=30_000)
        await expect(page.get_by_text("/api/v1/stations").first).to_be_attached()
        assert not problems, problems
        assert hosts <= {"127.0.0.1"}, hosts
    finally:
        await context.close()


def test_only_the_docs_pages_relax_the_policy():
    from volta.web.views import CSP

    assert "unsafe-inline" not in CSP and "unsafe-inline" not in api_docs.SWAGGER_CSP
    assert "script-src 'self';" in api_docs.REDOC_CSP and "unsafe-eval" not in api_docs.REDOC_CSP
