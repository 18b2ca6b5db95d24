"""What one API command costs in SQL statements (a count, not a timing).

An API command stores the command `pending`, sends it, and stores its
outcome: two statements of Volta's own. The station is known to be connected
(the router says so), so it is not looked up; the payload is validated once,
by the session that sends it; and the record returned is the one written, not
read back. Counted on SQLite, where every statement passes through one
synchronous engine.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event

from tests.api.test_commands_api import online_station, send

pytestmark = pytest.mark.parametrize("database", ["sqlite"], indirect=True)


@contextmanager
def statements(volta: Any) -> Iterator[list[str]]:
    """The SQL statements run while the block runs, but for the frame log,
    which is written in batches off the answering path, the webhook
    dispatcher's poll (its own timer), and the transaction
    control (BEGIN, SAVEPOINT, COMMIT) group commit shares among writers."""
    engine = volta.db._sync_engine
    assert engine is not None, "the count is taken on SQLite"
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        words = statement.split(None, 1)
        if words[0].upper() in ("BEGIN", "SAVEPOINT", "RELEASE", "COMMIT", "ROLLBACK"):
            return
        head = statement.split("(", 1)[0]
        if "frames" in head or "webhook_deliveries" in head:
            # The frame log's batches and the webhook dispatcher's poll run
            # on their own clocks and may fall inside the window.
            return
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def test_an_api_command_costs_two_statements(volta, api):
    async with online_station(volta, "CP1", "1.6") as cp:
        with statements(volta) as seen:
            resp = await send(api, "CP1", "Reset", {"type": "Soft"})
        assert resp.status_code == 200
        assert cp.received == [("Reset", {"type": "Soft"})]
    print(*seen, sep="\n")
    assert [s.split()[0:3] for s in seen] == [
        ["INSERT", "INTO", "commands"],
        ["UPDATE", "commands", "SET"],
    ]
