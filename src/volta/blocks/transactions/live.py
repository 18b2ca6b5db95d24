"""What the hot path keeps in memory about each active transaction.

A MeterValues or TransactionEvent used to read its transaction row (and a
TransactionEvent up to three times) before writing. Now the transaction is
read once, when the first message about it arrives after it was opened or
after Volta started, and kept here; each message then costs one INSERT of
its samples and one UPDATE of the row, run on the raw driver in the group
commit (`Database.write_rows`), and the running energy is carried forward
instead of being read back. Only active transactions are kept, and a
station's are dropped when it disconnects, so memory follows the sessions in
progress, not the history.

Other writers of a transaction row (the API, housekeeping) either go through
this block's functions, which keep the entry in step, or call `forget()`.
A writer in another process (the CLI) cannot: the hot UPDATE therefore only
touches a row that is still Active, and every path that ends a transaction
reads the row from the database.
"""

from __future__ import annotations

import collections
import datetime as dt
import weakref
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from volta.blocks.transactions.queries import TX_BY_STATION_TX
from volta.store.db import Database
from volta.store.models import METER_VALUES, TRANSACTION_EVENTS, TRANSACTIONS
from volta.store.raw import RawStatement

# A TransactionEvent repeated by the station (its answer was lost) is told by
# its seqNo. The last few are kept here; an older one is looked up.
RECENT_SEQ_NOS = 64
ENDED_KEPT = 4096

SAMPLE_COLUMNS = (
    "station_id",
    "transaction_id",
    "evse_id",
    "timestamp",
    "measurand",
    "phase",
    "context",
    "location",
    "unit",
    "value",
    "raw_value",
    "raw_unit",
)
INSERT_SAMPLES = RawStatement.insert(METER_VALUES, SAMPLE_COLUMNS)
EVENT_COLUMNS = (
    "transaction_id",
    "seq_no",
    "event_type",
    "trigger_reason",
    "timestamp",
    "offline",
    "received_at",
)
INSERT_EVENT = RawStatement.insert(TRANSACTION_EVENTS, EVENT_COLUMNS)
# The one UPDATE of the hot path. `status = 'Active'`: a session an operator
# closed from another process is not written to.
UPDATE_PROGRESS = RawStatement.update(
    TRANSACTIONS,
    ("energy_wh", "meter_start_wh", "soc_percent", "last_seq_no", "updated_at"),
    ("id",),
    extra="status = 'Active'",
)


@dataclass(slots=True)
class LiveTx:
    """The hot fields of one active transaction row."""

    id: int
    station_id: str
    station_tx: str | None
    evse_id: int | None
    connector_id: int | None
    id_token: str | None
    started_at: dt.datetime | None
    meter_start_wh: float | None
    energy_wh: float | None
    soc_percent: float | None
    charging_state: str | None
    last_seq_no: int | None
    remote_start_id: int | None
    reservation_id: int | None
    limit_energy_wh: float | None
    limit_seconds: int | None
    limit_cost: str | None
    limit_reached: str | None
    active: bool = True
    # 2.1 (E16): the transactionLimit the station reports holding; the kinds
    # in it are the station's to enforce, not Volta's.
    station_limit: dict[str, Any] | None = None
    # ... and the one Volta last sent it.
    limit_sent: dict[str, Any] | None = None
    recent_seq: deque[int] = field(default_factory=lambda: deque(maxlen=RECENT_SEQ_NOS))
    # Per-block state that rides along (the tariffs block's running cost).
    extra: dict[str, Any] = field(default_factory=dict)
    # The newest sample time stored for it, as of when it was read and since:
    # a MeterValues all at or before it may be a repeat (a CALL sent again
    # after its answer was lost, e.g. when a node died) and is checked.
    last_sample_at: dt.datetime | None = None

    @classmethod
    def from_row(cls, row: Any) -> LiveTx:
        return cls(
            id=row.id,
            station_id=row.station_id,
            station_tx=row.station_transaction_id,
            evse_id=row.evse_id,
            connector_id=row.connector_id,
            id_token=row.id_token,
            started_at=row.started_at,
            meter_start_wh=row.meter_start_wh,
            energy_wh=row.energy_wh,
            soc_percent=row.soc_percent,
            charging_state=row.charging_state,
            last_seq_no=row.last_seq_no,
            remote_start_id=row.remote_start_id,
            reservation_id=row.reservation_id,
            limit_energy_wh=row.limit_energy_wh,
            limit_seconds=row.limit_seconds,
            limit_cost=row.limit_cost,
            limit_reached=row.limit_reached,
            active=row.status == "Active",
            station_limit=getattr(row, "station_limit", None),
            limit_sent=getattr(row, "limit_sent", None),
            last_sample_at=getattr(row, "last_sample_at", None),
        )


_LAST_SAMPLE = (
    sa.select(sa.func.max(METER_VALUES.c.timestamp, type_=METER_VALUES.c.timestamp.type))
    .where(METER_VALUES.c.transaction_id == TRANSACTIONS.c.id)
    .scalar_subquery()
    .label("last_sample_at")
)
_BY_ID = sa.select(TRANSACTIONS, _LAST_SAMPLE).where(
    TRANSACTIONS.c.id == sa.bindparam("tx_id"),
    TRANSACTIONS.c.station_id == sa.bindparam("station_id"),
)
# The newest seqNos only: an older repeat is looked up when it comes.
_SEQ_NOS = (
    sa.select(TRANSACTION_EVENTS.c.seq_no)
    .where(TRANSACTION_EVENTS.c.transaction_id == sa.bindparam("tx_id"))
    .order_by(TRANSACTION_EVENTS.c.seq_no.desc())
    .limit(RECENT_SEQ_NOS)
)


class LiveTransactions:
    """The active transactions one Volta is following, by id and by the
    2.0.1 station's own transaction id."""

    def __init__(self) -> None:
        self._by_id: dict[int, LiveTx] = {}
        self._by_station_tx: dict[tuple[str, str], LiveTx] = {}
        # Ended transactions a station still sends values for (a refused
        # 1.6 start it does not stop, late values): remembered, bounded,
        # so that those values need no read either.
        self._ended: collections.OrderedDict[int, LiveTx] = collections.OrderedDict()

    def __len__(self) -> int:
        return len(self._by_id)

    def get(self, tx_id: int) -> LiveTx | None:
        return self._by_id.get(tx_id)

    def get_v201(self, station_id: str, station_tx: str) -> LiveTx | None:
        return self._by_station_tx.get((station_id, station_tx))

    def put(self, tx: LiveTx) -> LiveTx:
        self.forget(tx.id)
        self._by_id[tx.id] = tx
        if tx.station_tx is not None:
            self._by_station_tx[(tx.station_id, tx.station_tx)] = tx
        return tx

    def forget(self, tx_id: int) -> None:
        self._ended.pop(tx_id, None)
        tx = self._by_id.pop(tx_id, None)
        if tx is not None and tx.station_tx is not None:
            self._by_station_tx.pop((tx.station_id, tx.station_tx), None)

    def forget_station(self, station_id: str) -> None:
        for tx in [t for t in self._by_id.values() if t.station_id == station_id]:
            self.forget(tx.id)

    async def load(self, db: Database, station_id: str, tx_id: int) -> LiveTx | None:
        """The transaction, read from the database if it is not here yet;
        None when unknown. An ended one is returned (`active` False) but not kept."""
        tx = self._by_id.get(tx_id) or self._ended.get(tx_id)
        if tx is not None and tx.station_id == station_id:
            return tx
        async with db.read() as conn:
            row = (await conn.execute(_BY_ID, {"tx_id": tx_id, "station_id": station_id})).first()
        return self._keep(row)

    async def load_v201(self, db: Database, station_id: str, station_tx: str) -> LiveTx | None:
        tx = self._by_station_tx.get((station_id, station_tx))
        if tx is not None:
            return tx
        async with db.read() as conn:
            row = (
                await conn.execute(
                    TX_BY_STATION_TX, {"station_id": station_id, "station_tx": station_tx}
                )
            ).first()
            seen: list[int] = []
            if row is not None and row.status == "Active":
                seen = list((await conn.execute(_SEQ_NOS, {"tx_id": row.id})).scalars())
        tx = self._keep(row)
        if tx is not None:
            tx.recent_seq.extend(sorted(seen)[-RECENT_SEQ_NOS:])
        return tx

    def _keep(self, row: Any) -> LiveTx | None:
        """The row as a LiveTx; kept only while it is Active."""
        if row is None:
            return None
        tx = LiveTx.from_row(row)
        if tx.active:
            return self.put(tx)
        self._ended[tx.id] = tx
        if len(self._ended) > ENDED_KEPT:
            self._ended.popitem(last=False)
        return tx


_registries: weakref.WeakKeyDictionary[Database, LiveTransactions] = weakref.WeakKeyDictionary()


def live_of(db: Database) -> LiveTransactions:
    """The live transactions of the Volta that owns `db` (one per database
    object, so two Voltas in one process, as in the tests, never share)."""
    live = _registries.get(db)
    if live is None:
        live = _registries[db] = LiveTransactions()
    return live


def on_station_moved(db: Database, station_id: str) -> None:
    """The station connected to another node: its sessions are followed
    there now; what this node kept of them would be stale if it came back
    (volta.housekeeping.register_cluster_callbacks)."""
    live = _registries.get(db)
    if live is not None:
        live.forget_station(station_id)
