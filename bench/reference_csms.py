"""A reference OCPP 1.6 central system, written the way most first implementations are.

The PyPI `ocpp` library's ChargePoint with @on handlers, served by `websockets`
on the standard asyncio loop, and the standard library's sqlite3 with a commit
per message for StartTransaction, MeterValues and StopTransaction. Every station
and every id tag is accepted. This is the baseline for bench/run_load.py; it is
not part of Volta.

    .venv/bin/python bench/reference_csms.py --port 9100 --db /tmp/reference.db
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sqlite3
from datetime import UTC, datetime

import websockets
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call_result
from ocpp.v16.datatypes import IdTagInfo
from ocpp.v16.enums import Action, AuthorizationStatus, RegistrationStatus

SCHEMA = """
CREATE TABLE IF NOT EXISTS transactions (
    id INTEGER PRIMARY KEY AUTOINCREMENT, station_id TEXT, connector_id INTEGER,
    id_tag TEXT, meter_start INTEGER, started_at TEXT, meter_stop INTEGER, stopped_at TEXT);
CREATE TABLE IF NOT EXISTS meter_values (
    id INTEGER PRIMARY KEY AUTOINCREMENT, station_id TEXT, connector_id INTEGER,
    transaction_id INTEGER, timestamp TEXT, measurand TEXT, value TEXT, unit TEXT);
"""


def now() -> str:
    return datetime.now(UTC).isoformat()


class CentralSystemChargePoint(ChargePoint):
    def __init__(self, station_id: str, connection: object, db: sqlite3.Connection) -> None:
        super().__init__(station_id, connection)
        self.db = db

    @on(Action.boot_notification)
    def on_boot_notification(self, charge_point_vendor: str, charge_point_model: str, **kwargs):
        return call_result.BootNotification(
            current_time=now(), interval=300, status=RegistrationStatus.accepted
        )

    @on(Action.heartbeat)
    def on_heartbeat(self):
        return call_result.Heartbeat(current_time=now())

    @on(Action.status_notification)
    def on_status_notification(self, connector_id: int, error_code: str, status: str, **kwargs):
        return call_result.StatusNotification()

    @on(Action.authorize)
    def on_authorize(self, id_tag: str):
        return call_result.Authorize(id_tag_info=IdTagInfo(status=AuthorizationStatus.accepted))

    @on(Action.start_transaction)
    def on_start_transaction(
        self, connector_id: int, id_tag: str, meter_start: int, timestamp: str, **kwargs
    ):
        cur = self.db.execute(
            "INSERT INTO transactions (station_id, connector_id, id_tag, meter_start, started_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (self.id, connector_id, id_tag, meter_start, timestamp),
        )
        self.db.commit()
        return call_result.StartTransaction(
            transaction_id=cur.lastrowid,
            id_tag_info=IdTagInfo(status=AuthorizationStatus.accepted),
        )

    @on(Action.meter_values)
    def on_meter_values(self, connector_id: int, meter_value: list, **kwargs):
        rows = [
            (
                self.id,
                connector_id,
                kwargs.get("transaction_id"),
                mv["timestamp"],
                sv.get("measurand", "Energy.Active.Import.Register"),
                sv["value"],
                sv.get("unit", "Wh"),
            )
            for mv in meter_value
            for sv in mv["sampled_value"]
        ]
        self.db.executemany(
            "INSERT INTO meter_values (station_id, connector_id, transaction_id, timestamp,"
            " measurand, value, unit) VALUES (?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        self.db.commit()
        return call_result.MeterValues()

    @on(Action.stop_transaction)
    def on_stop_transaction(self, meter_stop: int, timestamp: str, transaction_id: int, **kwargs):
        self.db.execute(
            "UPDATE transactions SET meter_stop = ?, stopped_at = ? WHERE id = ?",
            (meter_stop, timestamp, transaction_id),
        )
        self.db.commit()
        return call_result.StopTransaction()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--db", default="reference.db", help="SQLite file")
    args = parser.parse_args()

    db = sqlite3.connect(args.db)
    db.executescript(SCHEMA)

    async def on_connect(websocket: websockets.ServerConnection) -> None:
        if websocket.subprotocol != "ocpp1.6":
            await websocket.close()
            return
        charge_point_id = websocket.request.path.strip("/")
        with contextlib.suppress(websockets.ConnectionClosed):
            await CentralSystemChargePoint(charge_point_id, websocket, db).start()

    server = await websockets.serve(on_connect, args.host, args.port, subprotocols=["ocpp1.6"])
    logging.warning("reference CSMS listening on ws://%s:%d/<id>", args.host, args.port)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    await stop.wait()
    server.close()
    await server.wait_closed()
    db.close()


if __name__ == "__main__":
    asyncio.run(main())
