"""Issue 12: the API as a stranger fuzzes it. A bounded schemathesis run
against `/openapi.json` of a real Volta on a real socket (valid and invalid
inputs for every operation, a fixed seed, a few examples each), and
hypothesis fuzzers of the edge: no answer is a 5xx, and every error is the
documented JSON shape `{"detail": ...}`. SQLite and PostgreSQL.

The schemathesis run costs its time in generating the cases (CPU), not in
the servers: it generates them once and sends each to a Volta on SQLite and
one on PostgreSQL side by side. With a fixed seed a run per database sent
both the very same cases, in the same order; now they are drawn once."""

from __future__ import annotations

import asyncio
import contextlib
import json
import string
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from tests.conftest import (
    API_TOKEN,
    REQUIRE_PG,
    DatabaseTarget,
    _pg_available,
    make_settings,
    postgres_schema,
)
from volta.app import Volta

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
EXAMPLES = 5  # per operation and mode: the run stays well under a minute
# A live stream never ends; its parameters are fuzzed through GET /events.
SKIP = {("GET", "/api/v1/events/stream")}


@contextlib.contextmanager
def serving(database: DatabaseTarget) -> Iterator[str]:
    """A Volta in a thread of its own (its own event loop), so that the
    synchronous schemathesis client can call it over a real socket."""
    ready = threading.Event()
    stop: dict[str, Any] = {}
    failure: list[BaseException] = []

    def run() -> None:
        async def main() -> None:
            app = Volta(make_settings(database), db_schema=database.schema)
            await app.start()
            stop["loop"] = asyncio.get_running_loop()
            stop["event"] = asyncio.Event()
            stop["url"] = f"http://127.0.0.1:{app.api_port}"
            ready.set()
            try:
                await stop["event"].wait()
            finally:
                await app.stop()

        try:
            asyncio.run(main())
        except BaseException as exc:  # pragma: no cover - reported below
            failure.append(exc)
            ready.set()

    thread = threading.Thread(target=run, name="volta-under-fuzz", daemon=True)
    thread.start()
    assert ready.wait(30), "Volta did not start"
    if failure:
        raise failure[0]
    try:
        yield stop["url"]
    finally:
        stop["loop"].call_soon_threadsafe(stop["event"].set)
        thread.join(30)


@pytest.fixture
def served(database: DatabaseTarget) -> Iterator[str]:
    with serving(database) as url:
        yield url


@pytest.fixture
async def both_databases(tmp_path) -> AsyncIterator[list[DatabaseTarget]]:
    """A SQLite file and a PostgreSQL schema of its own (PostgreSQL skipped as
    the `database` fixture skips it: unreachable and not required)."""
    sqlite = DatabaseTarget(f"sqlite:///{tmp_path}/volta.db", None)
    if not REQUIRE_PG and not await _pg_available():
        yield [sqlite]
        return
    async with postgres_schema() as postgresql:
        yield [sqlite, postgresql]


@pytest.fixture
def served_on_both(both_databases: list[DatabaseTarget]) -> Iterator[dict[str, str]]:
    """{database kind: base URL} of a Volta on each database."""
    with contextlib.ExitStack() as stack:
        yield {db.kind: stack.enter_context(serving(db)) for db in both_databases}


def documented_error(status: int, body: bytes, where: str) -> str | None:
    """What is wrong with an answer, or None."""
    if status >= 500:
        return f"{where}: {status} {body[:300]!r}"
    if status >= 400:
        try:
            detail = httpx.Response(status, content=body).json().get("detail")
        except (ValueError, AttributeError):
            return f"{where}: {status} is not JSON: {body[:200]!r}"
        if not isinstance(detail, str) or not detail:
            return f"{where}: {status} without a string detail: {body[:200]!r}"
    return None


def test_schemathesis_finds_no_5xx_and_only_documented_errors(served_on_both):
    """Each generated case goes to the Volta on SQLite and to the one on
    PostgreSQL (generated once: see the module's docstring)."""
    # FastAPI builds the description on its first request: seconds of CPU,
    # far more than httpx's 5 s default on a loaded machine.
    spec = httpx.get(served_on_both["sqlite"] + "/openapi.json", timeout=120).json()
    for url in served_on_both.values():  # one API, whatever the database
        assert httpx.get(url + "/openapi.json", timeout=120).json() == spec
    schema = schemathesis.openapi.from_dict(spec)
    problems: list[str] = []
    operations = 0
    with requests.Session() as session:
        for result in schema.get_all_operations():
            operation = result.ok()
            if (operation.method.upper(), operation.path) in SKIP:
                continue
            operations += 1
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

                @settings(
                    max_examples=EXAMPLES,
                    derandomize=True,
                    database=None,
                    deadline=None,
                    suppress_health_check=list(HealthCheck),
                )
                @given(case=operation.as_strategy(generation_mode=mode))
                def check(case: Any) -> None:
                    for kind, served in served_on_both.items():
                        answer = case.call(base_url=served, session=session, headers=AUTH)
                        where = (
                            f"{kind}: {case.method} {case.formatted_path} {case.query} "
                            f"{case.body!r:.200}"
                        )
                        problem = documented_error(answer.status_code, answer.content, where)
                        if problem is not None:
                            problems.append(problem)

                with contextlib.suppress(Unsatisfiable):  # nothing to make invalid
                    check()
    assert operations >= 40
    assert problems == [], "\n".join(problems[:20])


# -- hypothesis fuzzers of the edge -----------------------------------------------

TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=40)
PATHS = [
    "/api/v1/stations/{}",
    "/api/v1/id-tokens/{}",
    "/api/v1/transactions/{}",
    "/api/v1/tariffs/{}",
    "/api/v1/webhooks/{}",
    "/api/v1/reservations/{}",
    "/api/v1/cdrs/{}",
]


def test_fuzzed_paths_queries_and_bodies_never_get_a_5xx(served):
    problems: list[str] = []
    with httpx.Client(base_url=served, headers=AUTH, timeout=30) as client:

        @settings(
            max_examples=150,
            derandomize=True,
            database=None,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(
            path=st.sampled_from(PATHS),
            segment=st.one_of(
                TEXT, st.integers().map(str), st.text(string.digits, min_size=19, max_size=60)
            ),
            query=st.dictionaries(
                st.sampled_from(["limit", "offset", "station_id", "active", "after", "format"]),
                st.one_of(TEXT, st.integers().map(str)),
                max_size=3,
            ),
            body=st.recursive(
                st.none() | st.booleans() | st.integers() | st.floats() | TEXT,
                lambda inner: (
                    st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4)
                ),
                max_leaves=10,
            ),
            method=st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE"]),
        )
        def check(path: str, segment: str, query: dict[str, str], body: Any, method: str) -> None:
            url = path.format(quote(segment, safe=""))
            kwargs: dict[str, Any] = {}
            if method in ("POST", "PUT", "PATCH"):
                kwargs["content"] = _json(body)
                kwargs["headers"] = {"Content-Type": "application/json"}
            answer = client.request(method, url, params=query, **kwargs)
            where = f"{method} {url} {query}"
            problem = documented_error(answer.status_code, answer.content, where)
            if problem is not None:
                problems.append(problem)

        check()
    assert problems == [], "\n".join(problems[:20])


def _json(value: Any) -> bytes:
    return json.dumps(value, allow_nan=True).encode()
