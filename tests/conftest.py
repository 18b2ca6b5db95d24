"""Shared fixtures: a real Volta (gateway + API) on a real database.

Every test that uses `volta` or `database_url` runs on SQLite and on
PostgreSQL. PostgreSQL is taken from VOLTA_TEST_POSTGRES_URL (default
postgresql://postgres@127.0.0.1:5432/test); when it cannot be reached those
runs are skipped, unless VOLTA_REQUIRE_POSTGRES=1 (CI), which fails them.
Each PostgreSQL test gets a schema of its own, dropped afterwards.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator

import asyncpg
import httpx
import pytest

from tests import schema_cache
from volta.app import Volta
from volta.config import Settings

# A fresh database gets the migrated schema replayed, not rebuilt by the
# migrations op by op (see tests/schema_cache.py; `real_migrations` marker).
schema_cache.install()

PG_URL = os.environ.get("VOLTA_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REQUIRE_PG = os.environ.get("VOLTA_REQUIRE_POSTGRES") == "1"
API_TOKEN = "test-api-token"
TEST_SECRET_KEY = "test-secret-key-of-at-least-32-characters"

_pg_state: dict[str, bool] = {}


@pytest.fixture(autouse=True)
def _migrations_for_real(request: pytest.FixtureRequest) -> Iterator[None]:
    """Tests marked `real_migrations` build their schemas with the migrations
    themselves (autouse: set up before the databases and Voltas they use)."""
    if request.node.get_closest_marker("real_migrations") is None:
        yield
        return
    with schema_cache.real_migrations():
        yield


async def _pg_available() -> bool:
    if "ok" not in _pg_state:
        try:
            conn = await asyncpg.connect(PG_URL, timeout=3)
            await conn.close()
            _pg_state["ok"] = True
        except Exception:
            _pg_state["ok"] = False
    return _pg_state["ok"]


class DatabaseTarget:
    def __init__(self, url: str, schema: str | None) -> None:
        self.url = url
        self.schema = schema

    @property
    def kind(self) -> str:
        return "sqlite" if self.url.startswith("sqlite") else "postgresql"


@pytest.fixture(params=["sqlite", "postgresql"])
async def database(request: pytest.FixtureRequest, tmp_path) -> AsyncIterator[DatabaseTarget]:
    if request.param == "sqlite":
        # Recorded here, before the test runs anything on this event loop,
        # rather than inside the first Volta's start (once per process).
        schema_cache.recorded("sqlite", "")
        yield DatabaseTarget(f"sqlite:///{tmp_path}/volta.db", None)
        return
    async with postgres_schema() as target:
        schema_cache.recorded("postgresql", target.url)
        yield target


@contextlib.asynccontextmanager
async def postgres_schema() -> AsyncIterator[DatabaseTarget]:
    """A PostgreSQL schema of its own, dropped afterwards (skipped, or failed
    under VOLTA_REQUIRE_POSTGRES=1, when PostgreSQL cannot be reached)."""
    if not await _pg_available():
        if REQUIRE_PG:
            pytest.fail(f"PostgreSQL required but unreachable at {PG_URL}")
        pytest.skip("PostgreSQL not reachable")
    schema = "t_" + uuid.uuid4().hex[:12]
    conn = await asyncpg.connect(PG_URL)
    await conn.execute(f'CREATE SCHEMA "{schema}"')
    await conn.close()
    try:
        yield DatabaseTarget(PG_URL, schema)
    finally:
        conn = await asyncpg.connect(PG_URL)
        await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await conn.close()


_FILES_DIR = tempfile.mkdtemp(prefix="volta-test-files-")
atexit.register(shutil.rmtree, _FILES_DIR, ignore_errors=True)


def make_settings(database: DatabaseTarget, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "host": "127.0.0.1",
        "ocpp_port": 0,
        "api_port": 0,
        "database_url": database.url,
        "api_token": API_TOKEN,
        "call_timeout": 5.0,
        "ping_interval": 20.0,
        "ping_timeout": 20.0,
        "log_format": "text",
        # The file service's store: a temporary directory, never the working
        # directory a PostgreSQL run would otherwise choose.
        "files_dir": _FILES_DIR,
    }
    if database.kind == "postgresql":
        # The sealing key of webhook secrets (SQLite runs keep theirs in a key
        # file beside the database, in the test's temporary directory).
        values["secret_key"] = TEST_SECRET_KEY
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def volta_settings() -> dict[str, object]:
    """Override in a test module to change the server's settings."""
    return {}


@pytest.fixture
def transport() -> str:
    """The gateway's WebSocket stack. Modules that test the transport override
    this with params=["websockets", "picows"] (TRANSPORTS below)."""
    return Settings.transport


TRANSPORTS = ["websockets", "picows"]


@pytest.fixture
async def volta(database: DatabaseTarget, volta_settings, transport: str) -> AsyncIterator[Volta]:
    settings = make_settings(database, **{"transport": transport, **volta_settings})
    app = Volta(settings, db_schema=database.schema)
    await app.start()
    try:
        yield app
    finally:
        await app.stop()


def api_client(volta: Volta, timeout: float = 15) -> httpx.AsyncClient:
    """An HTTP client of `volta`'s API with the test token."""
    return httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{volta.api_port}",
        headers={"Authorization": f"Bearer {API_TOKEN}"},
        timeout=timeout,
    )


@pytest.fixture
async def api(volta: Volta) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(volta) as client:
        yield client


@pytest.fixture
def certificate(tmp_path) -> tuple[str, str]:
    """A self-signed server certificate for 127.0.0.1 (TLS, security profile 2)."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return str(cert), str(key)
