"""Dashboard sign-in, sessions, roles and CSRF over plain HTTP, on SQLite and
PostgreSQL: what a browser sends, what the server must refuse."""

from __future__ import annotations

import logging

import httpx
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from tests.conftest import API_TOKEN
from tests.helpers import add_token, register
from tests.web.conftest import ADMIN, VIEWER, base_url, csrf_of, sign_in
from volta.blocks.authorization import service as tokens_service
from volta.store.models import Base, User, WebSession
from volta.web import users

# Checks of the HTTP layer only; the database-bound ones run on both.
sqlite_only = pytest.mark.parametrize("database", ["sqlite"], indirect=True)


@sqlite_only
async def test_pages_need_sign_in(volta, web):
    for path in ("/", "/stations/X", "/sessions", "/tokens", "/fleet", "/ui/stations"):
        resp = await web.get(path)
        assert resp.status_code == 303, path
        assert resp.headers["location"].startswith("/login"), path
    assert (await web.get("/tokens")).headers["location"] == "/login?next=/tokens"
    # htmx polling with an expired session: a full-page redirect, not a fragment.
    resp = await web.get("/ui/stations", headers={"HX-Request": "true"})
    assert resp.headers["HX-Redirect"] == "/login?next=/ui/stations"
    assert (await web.post("/tokens", data={"token": "X"})).status_code == 303
    assert (await web.get("/static/vendor/htmx.min.js")).status_code == 200


async def test_sign_in_sets_a_safe_expiring_cookie(volta, web, caplog):
    caplog.set_level(logging.DEBUG)
    wrong = await sign_in(web, ADMIN[0], "not-the-password")
    assert wrong.status_code == 401
    assert "Wrong user name or password" in wrong.text
    assert "volta_session" not in wrong.headers.get("set-cookie", "")
    unknown = await sign_in(web, "nobody", "whatever-pass")
    assert unknown.status_code == 401

    resp = await sign_in(web, *ADMIN)
    assert resp.status_code == 303 and resp.headers["location"] == "/"
    cookie = next(c for c in resp.headers.get_list("set-cookie") if c.startswith("volta_session="))
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert f"Max-Age={12 * 3600}" in cookie
    page = await web.get("/")
    assert page.status_code == 200
    assert ADMIN[0] in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"
    # No secret in the log: neither password nor the session value.
    session_value = web.cookies["volta_session"]
    server_log = "\n".join(
        r.getMessage() for r in caplog.records if r.name.startswith(("volta", "uvicorn"))
    )
    assert "sign-in failed" in server_log and "dashboard sign-in: ada" in server_log
    for secret in (ADMIN[1], "not-the-password", session_value):
        assert secret not in server_log
    # The database keeps the password hashed, and only a hash of the session.
    async with volta.db.read() as conn:
        stored = (await conn.execute(sa.select(User.password_hash))).scalars().all()
        sessions = (await conn.execute(sa.select(WebSession.id))).scalars().all()
    assert all(h.startswith("pbkdf2_sha256$600000$") for h in stored)
    assert session_value not in sessions and len(sessions) == 1


@sqlite_only
async def test_sign_in_form_needs_its_csrf_value_and_next_stays_on_site(volta, web):
    await web.get("/login")
    resp = await web.post("/login", data={"username": ADMIN[0], "password": ADMIN[1]})
    assert resp.status_code == 400
    page = await web.get("/login")
    resp = await web.post(
        "/login",
        data={
            "username": ADMIN[0],
            "password": ADMIN[1],
            "csrf": csrf_of(page.text),
            "next": "//evil.example/",
        },
    )
    assert resp.status_code == 303 and resp.headers["location"] == "/"


async def test_session_expires_and_sign_out_ends_it(volta, web):
    await sign_in(web, *ADMIN)
    assert (await web.get("/")).status_code == 200
    async with volta.db.write() as conn:
        await conn.execute(sa.update(WebSession).values(expires_at=sa.func.current_timestamp()))
    assert (await web.get("/")).status_code == 303

    await sign_in(web, *ADMIN)
    stolen = web.cookies["volta_session"]
    page = await web.get("/")
    resp = await web.post("/logout", data={"csrf": csrf_of(page.text)})
    assert resp.status_code == 303
    # The old cookie value is worthless once signed out.
    async with httpx.AsyncClient(base_url=base_url(volta), cookies={"volta_session": stolen}) as c:
        assert (await c.get("/")).status_code == 303


async def test_password_change_and_removal_end_sessions(volta, web):
    await sign_in(web, *VIEWER)
    assert (await web.get("/")).status_code == 200
    assert await users.set_password(volta.db, VIEWER[0], "a-new-password")
    assert (await web.get("/")).status_code == 303
    assert (await sign_in(web, *VIEWER)).status_code == 401
    assert (await sign_in(web, VIEWER[0], "a-new-password")).status_code == 303
    assert await users.remove_user(volta.db, VIEWER[0])
    assert (await web.get("/")).status_code == 303


@sqlite_only
async def test_state_changes_need_the_csrf_token(volta, web):
    await sign_in(web, *ADMIN)
    page = await web.get("/tokens")
    csrf = csrf_of(page.text)
    resp = await web.post("/tokens", data={"token": "CARD-1"})
    assert resp.status_code == 403
    resp = await web.post("/tokens", data={"token": "CARD-1", "csrf": "forged"})
    assert resp.status_code == 403
    assert await tokens_service.get_token(volta.db, "CARD-1") is None
    resp = await web.post("/tokens", data={"token": "CARD-1"}, headers={"X-CSRF-Token": csrf})
    assert resp.status_code == 200 and "Added CARD-1" in resp.text
    assert await tokens_service.get_token(volta.db, "CARD-1") is not None


async def test_viewer_may_look_but_not_change(volta, web):
    await register(volta, "CP-1")
    await add_token(volta, "CARD-1")
    await sign_in(web, *VIEWER)
    page = await web.get("/stations/CP-1")
    assert page.status_code == 200
    assert "Remote start" not in page.text and "Remove station" not in page.text
    headers = {"X-CSRF-Token": csrf_of(page.text)}
    refused = [
        ("/stations", {"id": "CP-2"}),
        ("/stations/CP-1/commands", {"kind": "reset", "type": "Soft"}),
        ("/stations/CP-1/settings", {"registration_status": "Rejected"}),
        ("/stations/CP-1/remove", {}),
        ("/tokens", {"token": "CARD-2"}),
        ("/tokens/update", {"token": "CARD-1", "status": "Blocked"}),
        ("/tokens/remove", {"token": "CARD-1"}),
    ]
    for path, data in refused:
        resp = await web.post(path, data=data, headers=headers)
        assert resp.status_code == 403, path
    assert (await tokens_service.get_token(volta.db, "CARD-1") or {})["status"] == "Accepted"
    tokens_page = await web.get("/tokens")
    assert "CARD-1" in tokens_page.text and ">Block<" not in tokens_page.text


@sqlite_only
async def test_admin_forms_reuse_the_api_rules(volta, web):
    await sign_in(web, *ADMIN)
    headers = {"X-CSRF-Token": csrf_of((await web.get("/")).text)}
    resp = await web.post("/stations", data={"id": "bad/id"}, headers=headers)
    assert (
        "&#39;/&#39; is not allowed" in resp.text
    )  # the one station-id rule (volta.ocpp.identity)
    resp = await web.post(
        "/stations",
        data={"id": "CP-9", "generate": "on", "registration_status": "Pending"},
        headers=headers,
    )
    assert "Registered" in resp.text and "shown only now" in resp.text
    resp = await web.post("/stations/CP-9/settings", data={"password": "short"}, headers=headers)
    assert "at least 8" in resp.text
    resp = await web.post(
        "/stations/CP-9/commands", data={"kind": "unlock", "connector": "x"}, headers=headers
    )
    assert "whole number" in resp.text
    # An offline station: the command is recorded as such, nothing is sent.
    resp = await web.post(
        "/stations/CP-9/commands", data={"kind": "reset", "type": "Soft"}, headers=headers
    )
    assert "offline" in resp.text
    resp = await web.post("/stations/CP-9/remove", headers=headers)
    assert resp.status_code == 204 and resp.headers["HX-Redirect"] == "/"


@sqlite_only
async def test_api_token_still_works_and_a_cookie_is_no_api_token(volta, web):
    await sign_in(web, *ADMIN)
    assert (await web.get("/api/v1/stations")).status_code == 401
    resp = await web.get("/api/v1/stations", headers={"Authorization": f"Bearer {API_TOKEN}"})
    assert resp.status_code == 200
    schema = (await web.get("/openapi.json")).json()
    assert not [p for p in schema["paths"] if not p.startswith(("/api/", "/healthz", "/metrics"))]


async def test_users_service_rules(volta):
    for name, password, role in (
        ("", "long-enough", "admin"),
        ("x", "short", "admin"),
        ("x", "long-enough", "root"),
        ("a b", "long-enough", "viewer"),
    ):
        try:
            await users.add_user(volta.db, name, password, role)
        except users.UserError:
            continue
        raise AssertionError(f"accepted {name!r} {role!r}")
    await users.add_user(volta.db, "ops", "long-enough", "viewer")
    assert [u["username"] for u in await users.list_users(volta.db)] == ["ops"]
    assert await users.authenticate(volta.db, "ops", "long-enough") is not None
    assert not await users.remove_user(volta.db, "nobody")


@pytest.mark.real_migrations
async def test_models_and_migrations_agree(volta):
    def diff(sync_conn: sa.Connection) -> list[object]:
        return list(compare_metadata(MigrationContext.configure(sync_conn), Base.metadata))

    assert await volta.db.run_sync(diff) == []


@sqlite_only
async def test_unknown_pages_are_pages_and_the_api_keeps_json(volta, web):
    await sign_in(web, *ADMIN)
    page = await web.get("/stations/NOPE", headers={"Accept": "text/html"})
    assert page.status_code == 404
    assert "station NOPE not found" in page.text and "<html" in page.text
    api = await web.get(
        "/api/v1/stations/NOPE",
        headers={"Accept": "text/html", "Authorization": f"Bearer {API_TOKEN}"},
    )
    assert api.status_code == 404 and api.json() == {"detail": "station NOPE not found"}
