"""The CLI side of identification: update a token (block, expire,
regroup), which marks it pending in the local lists that hold it; show a
station's list; list reservations. On a SQLite file, in-process
(tests.test_cli.volta)."""

from __future__ import annotations

import asyncio
import datetime as dt

from tests.test_cli import ok, rows, volta
from volta.blocks.local_list import service as local_lists
from volta.blocks.provisioning import service as provisioning
from volta.store import migrate
from volta.store.db import Database
from volta.store.models import Reservation, utcnow


async def _seed(url: str) -> None:
    db = Database(url)
    try:
        await migrate.upgrade(db)
        await provisioning.create_station(db, "CLI-CP")
        await local_lists.set_members(db, "CLI-CP", ["CARD-1"])
        async with db.write() as conn:
            await conn.execute(
                Reservation.__table__.insert().values(
                    station_id="CLI-CP",
                    evse_id=2,
                    id_token="CARD-1",
                    id_token_type="ISO14443",
                    expires_at=utcnow() + dt.timedelta(hours=1),
                    status="Accepted",
                    created_at=utcnow(),
                    updated_at=utcnow(),
                )
            )
    finally:
        await db.close()


def test_token_update_local_list_and_reservations(tmp_path):
    url = f"sqlite:///{tmp_path}/volta.db"
    ok(url, "tokens", "add", "CARD-1", "--language", "fr", "--note", "Alice's card")
    ok(url, "tokens", "add", "FLEET")
    asyncio.run(_seed(url))

    shown = ok(url, "local-list", "CLI-CP")
    assert "version 0" in shown and "full update owed" in shown
    assert "CARD-1" in shown and "pending" in shown

    out = ok(url, "tokens", "update", "CARD-1", "--status", "Blocked", "--group", "FLEET")
    assert "updated id token CARD-1: group_id, status" in out
    listed = rows(ok(url, "tokens", "list"))
    assert listed["CARD-1"][2] == "Blocked"
    assert listed["CARD-1"][4] == "FLEET"
    ok(url, "tokens", "update", "CARD-1", "--no-group", "--expires", "2030-01-01")
    listed = rows(ok(url, "tokens", "list"))
    assert (listed["CARD-1"][3], listed["CARD-1"][4]) == ("2030-01-01T00:00:00+00:00", "-")

    for args, message in [
        (["tokens", "update", "CARD-1"], "nothing to change"),
        (["tokens", "update", "GHOST", "--status", "Blocked"], "id token GHOST not found"),
        (["tokens", "update", "CARD-1", "--expires", "soon"], "is not an ISO 8601"),
        (["local-list", "NOPE"], "station NOPE has no local list"),
        (["tokens", "add", "X", "--language", "not a language"], "language1"),
    ]:
        result = volta(url, *args)
        assert result.returncode == 1, args
        assert message in result.stderr, (args, result.stderr)

    listing = ok(url, "reservations", "--active").splitlines()
    assert listing[0].split()[:4] == ["ID", "STATION", "EVSE", "TOKEN"]
    assert listing[1].split()[1:5] == ["CLI-CP", "2", "CARD-1", "Accepted"]
    assert ok(url, "reservations", "--station", "OTHER").splitlines()[1:] == []
