"""Issue 12: dashboard sign-in is limited per source address, never per
account, and a flood from one address leaves a real user's sign-in from
another address fast. Loopback holds 127.0.0.0/8, so each client binds a
source address of its own. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from tests.web.conftest import ADMIN, VIEWER, add_users, base_url, sign_in
from volta.app import Volta
from volta.security import source_key as source_of


@asynccontextmanager
async def client_from(volta: Volta, address: str) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.AsyncHTTPTransport(local_address=address)
    async with httpx.AsyncClient(
        base_url=base_url(volta), transport=transport, timeout=60
    ) as client:
        yield client


async def test_wrong_passwords_from_one_address_do_not_lock_the_account(volta, caplog):
    caplog.set_level(logging.WARNING, logger="volta.web.views")
    await add_users(volta)
    async with client_from(volta, "127.0.0.2") as stranger, client_from(volta, "127.0.0.3") as ada:
        limit = volta.services.settings.sign_in_failures
        for _ in range(limit):
            assert (await sign_in(stranger, ADMIN[0], "guess-guess")).status_code == 401
        # The stranger's address is refused now, even with the right password...
        refused = await sign_in(stranger, *ADMIN)
        assert refused.status_code == 429 and "Too many failed sign-ins" in refused.text
        # ...but the admin, from elsewhere, is not locked out.
        assert (await sign_in(ada, *ADMIN)).status_code == 303
    failed = [r.getMessage() for r in caplog.records if "sign-in failed" in r.getMessage()]
    assert len(failed) == limit
    assert all(m.endswith("from 127.0.0.2") for m in failed), failed
    [refusal] = [r.getMessage() for r in caplog.records if "sign-in refused" in r.getMessage()]
    assert "from 127.0.0.2" in refusal


async def test_a_real_user_signs_in_fast_while_another_address_floods(volta):
    await add_users(volta)
    async with client_from(volta, "127.0.0.4") as viewer:
        started = time.monotonic()
        assert (await sign_in(viewer, *VIEWER)).status_code == 303
        alone = time.monotonic() - started
    async with client_from(volta, "127.0.0.5") as flood, client_from(volta, "127.0.0.6") as ada:
        page = await flood.get("/login")
        csrf = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]

        async def bogus() -> int:
            form = {"username": ADMIN[0], "password": "wrong-wrong", "csrf": csrf}
            return (await flood.post("/login", data=form)).status_code

        flooding = [asyncio.create_task(bogus()) for _ in range(80)]
        await asyncio.sleep(0.3)  # the flood is in flight
        started = time.monotonic()
        assert (await sign_in(ada, *ADMIN)).status_code == 303
        flooded = time.monotonic() - started
        codes = await asyncio.gather(*flooding)
    # One bogus sign-in at a time from the flooding address; the rest are
    # refused before any hashing.
    assert codes.count(429) >= 70, codes
    assert set(codes) <= {401, 429}
    # At most `sign_in_failures` hashes were spent on the flood (before: 80,
    # two at a time, queued ahead of the real user: 5.7 s).
    assert codes.count(401) <= volta.services.settings.sign_in_failures
    # Within a second; on a loaded test machine, within a few unflooded
    # sign-ins (the flood can hold at most one hash ahead of it).
    assert flooded < max(1.0, 5 * alone), (flooded, alone)


def test_sources_are_addresses_and_ipv6_prefixes():
    assert source_of("203.0.113.7") == "203.0.113.7"
    assert source_of("2001:db8::1") == source_of("2001:db8::ffff:1") == "2001:db8::/64"
    assert source_of("::ffff:203.0.113.7") == "203.0.113.7"
    assert source_of(None) == "unknown"
