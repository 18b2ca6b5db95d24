"""The files page and a station's "request logs" in a real headless Chromium
against a real Volta: an admin uploads a firmware image through the form,
downloads and deletes it; asks a simulated 2.0.1 station (real WebSocket,
real HTTP upload) for its logs and sees the request end Uploaded, its file
downloadable and listed on the files page."""

from __future__ import annotations

import asyncio
import hashlib
import re

from playwright.async_api import expect

from tests.test_simulator import quiet, running
from tests.web.conftest import VIEWER, add_users
from tests.web.test_browser import shot, signed_in_page, sqlite_only

IMAGE = b"firmware image for the browser test\n" * 200


@sqlite_only
async def test_files_page_uploads_downloads_and_deletes_firmware(volta, browser, tmp_path):
    await add_users(volta)
    image = tmp_path / "fw-3.0.bin"
    image.write_bytes(IMAGE)
    async with signed_in_page(browser, volta) as page:
        await page.get_by_role("link", name="Files").click()
        await expect(page).to_have_url(re.compile(r"/files$"))
        await expect(page.locator("#files")).to_have_count(0)
        await page.locator('input[type="file"]').set_input_files(str(image))
        await page.get_by_role("button", name="Upload").click()
        row = page.locator("#files tbody tr")
        await expect(row).to_have_count(1)
        await expect(row).to_contain_text("fw-3.0.bin")
        await expect(row).to_contain_text(hashlib.sha256(IMAGE).hexdigest()[:12])
        href = await row.get_by_role("link", name="fw-3.0.bin").get_attribute("href")
        assert href is not None
        got = await page.request.get(href)
        assert got.ok and await got.body() == IMAGE
        await shot(page, "files", volta)
        # Signed firmware needs both parts: the form says why, nothing is kept.
        await page.locator('input[type="file"]').set_input_files(str(image))
        await page.locator("summary").click()
        await page.get_by_label("Signature (base64)").fill("AAAA")
        await page.get_by_role("button", name="Upload").click()
        await expect(page.locator("#upload-problem")).to_contain_text("both")
        await page.goto("/files")
        page.once("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
        await row.get_by_role("button", name="Delete").click()
        await expect(page.locator("#files tbody tr")).to_have_count(0)
    # A viewer sees the list but no upload form.
    async with signed_in_page(browser, volta, VIEWER) as page:
        await page.goto("/files")
        await expect(page.locator("#upload")).to_have_count(0)


@sqlite_only
async def test_a_station_page_requests_logs_and_they_arrive(volta, browser):
    await add_users(volta)
    sc = quiet(volta, "2.0.1")
    [station_id] = sc.station_ids()
    async with running(volta, sc), signed_in_page(browser, volta) as page:
        await page.goto(f"/stations/{station_id}?tab=firmware")
        logs = page.locator("#logs")
        await logs.get_by_label("log type").select_option("SecurityLog")
        await logs.get_by_role("button", name="Request logs").click()
        row = logs.locator("#station-log-requests tbody tr")
        await expect(row).to_have_count(1)
        await expect(row.locator(".status")).to_have_text("Uploaded")
        link = row.get_by_role("link", name="download")
        href = await link.get_attribute("href")
        assert href is not None
        content = await (await page.request.get(href)).text()
        assert station_id in content and "SecurityLog" in content
        await page.get_by_role("link", name="Files").click()
        listed = page.locator("#log-requests tbody tr")
        await expect(listed).to_contain_text("SecurityLog")
        await expect(listed.locator(".status")).to_have_text("Uploaded")
