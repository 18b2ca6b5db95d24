"""Customer information (2.0.1 N09 get, N10 clear) and a driver's data erased
in the stations and in Volta together.

A request is stored `Requested` before CustomerInformation goes out (its row
id is the requestId) and takes the station's answer; the
NotifyCustomerInformation parts that follow are joined in `data`, bounded.

`erase()` is the GDPR erasure of one id token: CustomerInformation
clear=true to the 2.0.1 stations (those the driver used, or all), then
Volta's own records: the id_tokens row goes (and leaves every local list,
which the stations are sent), the billing records (sessions, CDRs,
reservations, remote starts) get a stable pseudonym instead in one database
transaction, so a session stays billable and a CDR the same record, and the
logs (frames, commands, events) are scrubbed after, in short batches.
docs/device-management.md lists what is erased and what is kept.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa

from volta.blocks.local_list import service as local_lists
from volta.blocks.remote_control.service import send
from volta.events import service as events
from volta.ocpp.versions import MODERN
from volta.services import Services
from volta.store.db import Database
from volta.store.models import (
    Cdr,
    Command,
    CustomerInformationRequest,
    Event,
    Frame,
    IdToken,
    IdTokenErasure,
    LocalListEntry,
    RemoteStart,
    Reservation,
    Station,
    Transaction,
    utcnow,
)

log = logging.getLogger(__name__)

ANSWERS = frozenset({"Accepted", "Rejected", "Invalid"})
# A station's report is kept up to this many characters (each part is at
# most 512); the rest is dropped and `truncated` says so.
MAX_DATA = 64_000
# Stations asked at once by an erasure.
PARALLEL = 16
# Frames: a token at least this long is replaced also inside free text.
MIN_FREE_TEXT = 8
# Frame ids scrubbed per write.
FRAME_RANGE = 20_000
# Rows rewritten per statement batch when a JSON column holds the token.
BATCH = 500


class CustomerRequestRefused(Exception):
    """The request cannot be sent; the message says why (a 409)."""


@dataclass(frozen=True, slots=True)
class Customer:
    """Exactly one names the customer (N09.FR.09, N10.FR.06)."""

    id_token: str | None = None
    id_token_type: str = "ISO14443"
    # CertificateHashDataType: hashAlgorithm, issuerNameHash, issuerKeyHash, serialNumber.
    certificate: dict[str, Any] | None = None
    identifier: str | None = None

    def __post_init__(self) -> None:
        given = [x for x in (self.id_token, self.certificate, self.identifier) if x]
        if len(given) != 1:
            raise ValueError(
                "name the customer by exactly one of id_token, customer_certificate, "
                "customer_identifier"
            )


@dataclass(frozen=True, slots=True)
class CustomerInformation:
    """The version-neutral CustomerInformation (2.0.1 only; v201.py spells it)."""

    request_id: int
    report: bool
    clear: bool
    customer: Customer


async def request(
    services: Services,
    station_id: str,
    customer: Customer,
    *,
    report: bool,
    clear: bool,
    erasure_id: int | None = None,
) -> dict[str, Any]:
    """Store the request, send CustomerInformation and keep the answer."""
    if not (report or clear):
        raise CustomerRequestRefused("ask for a report, a clear or both")
    version = services.router.version_of(station_id)
    if version is None:
        raise CustomerRequestRefused(f"station {station_id} is not connected")
    if not version.modern:
        raise CustomerRequestRefused(
            f"station {station_id} speaks OCPP {version.label}: customer information is 2.0.1"
        )
    db = services.db
    now = utcnow()
    async with db.write(station_id) as conn:
        request_id = int(
            (
                await conn.execute(
                    sa.insert(CustomerInformationRequest)
                    .values(
                        station_id=station_id,
                        report=report,
                        clear=clear,
                        id_token=customer.id_token,
                        id_token_type=customer.id_token_type if customer.id_token else None,
                        customer_certificate=customer.certificate,
                        customer_identifier=customer.identifier,
                        status="Requested",
                        data="",
                        parts=0,
                        complete=False,
                        erasure_id=erasure_id,
                        created_at=now,
                        updated_at=now,
                    )
                    .returning(CustomerInformationRequest.id)
                )
            ).scalar_one()
        )
    command = await send(
        services, station_id, CustomerInformation(request_id, report, clear, customer)
    )
    answer = (command.get("response") or {}).get("status")
    status = answer if answer in ANSWERS else "Failed"
    async with db.write(station_id) as conn:
        await conn.execute(
            sa.update(CustomerInformationRequest)
            .where(CustomerInformationRequest.id == request_id)
            .values(
                status=status,
                command_id=command["id"],
                # Nothing more comes when the station did not accept, or
                # when no report was asked for (N10: clear only).
                complete=status != "Accepted" or not report,
                updated_at=utcnow(),
            )
        )
    found = await get_request(db, request_id)
    assert found is not None
    return {**found, "command": command}


async def notify(db: Database, station_id: str, payload: dict[str, Any]) -> bool:
    """NotifyCustomerInformation: add the part to its request (in seqNo order
    as they come; a part past MAX_DATA is counted, not kept). False when this
    station has no request with that requestId."""
    async with db.write(station_id) as conn:
        row = (
            await conn.execute(
                sa.select(
                    CustomerInformationRequest.data,
                    CustomerInformationRequest.parts,
                    CustomerInformationRequest.erasure_id,
                ).where(
                    CustomerInformationRequest.id == payload["requestId"],
                    CustomerInformationRequest.station_id == station_id,
                )
            )
        ).first()
        if row is None:
            return False
        # An erasure's report is the station's receipt: counted, its text
        # (the driver's data) not kept.
        part = "" if row.erasure_id is not None else payload.get("data", "")
        data = (row.data + part)[:MAX_DATA]
        complete = not payload.get("tbc", False)
        await conn.execute(
            sa.update(CustomerInformationRequest)
            .where(CustomerInformationRequest.id == payload["requestId"])
            .values(data=data, parts=row.parts + 1, complete=complete, updated_at=utcnow())
        )
        if complete:
            await events.emit(
                conn,
                "customer_information.reported",
                station_id=station_id,
                request_id=payload["requestId"],
                parts=row.parts + 1,
            )
    return True


def _out(row: Any) -> dict[str, Any]:
    found = dict(row)
    found["truncated"] = len(found["data"]) >= MAX_DATA
    return found


async def get_request(db: Database, request_id: int) -> dict[str, Any] | None:
    async with db.read() as conn:
        row = (
            (
                await conn.execute(
                    sa.select(CustomerInformationRequest).where(
                        CustomerInformationRequest.id == request_id
                    )
                )
            )
            .mappings()
            .first()
        )
    return _out(row) if row else None


async def list_requests(db: Database, station_id: str, limit: int = 20) -> list[dict[str, Any]]:
    async with db.read() as conn:
        rows = (
            (
                await conn.execute(
                    sa.select(CustomerInformationRequest)
                    .where(CustomerInformationRequest.station_id == station_id)
                    .order_by(CustomerInformationRequest.id.desc())
                    .limit(limit)
                )
            )
            .mappings()
            .all()
        )
    return [_out(r) for r in rows]


# -- erasure --------------------------------------------------------------------------

Scope = Literal["used", "all"]


async def _stations_to_clear(db: Database, token: str, scope: Scope) -> list[str]:
    """The 2.0.1 stations to send CustomerInformation clear=true: those with
    a session of the token (or all 2.0.1 stations), connected or not."""
    stmt = sa.select(Station.id).where(Station.protocol.in_(MODERN))
    if scope == "used":
        used = sa.select(Transaction.station_id).where(
            sa.or_(Transaction.id_token == token, Transaction.stop_id_token == token)
        )
        stmt = stmt.where(Station.id.in_(used))
    async with db.read() as conn:
        return sorted(r.id for r in (await conn.execute(stmt.order_by(Station.id))).all())


def _scrub(value: Any, token: str, pseudonym: str) -> Any:
    """`value` (a JSON document) with every string equal to `token` replaced."""
    if isinstance(value, str):
        return pseudonym if value == token else value
    if isinstance(value, list):
        return [_scrub(v, token, pseudonym) for v in value]
    if isinstance(value, dict):
        return {
            (pseudonym if k == token else k): _scrub(v, token, pseudonym) for k, v in value.items()
        }
    return value


async def _scrub_json(
    db: Database, key: Any, columns: Iterable[Any], token: str, pseudonym: str
) -> int:
    """Rewrite the JSON `columns` of rows that hold `token` as a string, a
    batch of rows per write (the SQLite writer is not held for a whole scan)."""
    changed = 0
    columns = list(columns)
    table = key.table
    needle = f'"{token}"'
    holds = sa.or_(*(sa.cast(c, sa.Text).contains(needle, autoescape=True) for c in columns))
    last: Any = None
    while True:
        stmt = sa.select(key, *columns).where(holds).order_by(key).limit(BATCH)
        if last is not None:
            stmt = stmt.where(key > last)
        # Found with a read (the scan holds no write lock); each row's
        # changed columns only are written (an answer recorded meanwhile stays).
        async with db.read() as conn:
            rows = (await conn.execute(stmt)).all()
        if not rows:
            return changed
        async with db.write() as conn:
            for row in rows:
                values = {
                    c.key: scrubbed
                    for i, c in enumerate(columns)
                    if (scrubbed := _scrub(row[i + 1], token, pseudonym)) != row[i + 1]
                }
                if values:
                    await conn.execute(sa.update(table).where(key == row[0]).values(**values))
        changed += len(rows)
        last = rows[-1][0]


async def _scrub_frames(db: Database, token: str, pseudonym: str) -> int:
    """The frame log, a range of FRAME_RANGE ids per write. A token of
    MIN_FREE_TEXT characters or more is also replaced where a station wrote it
    in free text (a customer report); a shorter one only as a whole JSON
    string, so that numbers and words are not mangled."""
    needle = token if len(token) >= MIN_FREE_TEXT else f'"{token}"'
    stand_in = pseudonym if len(token) >= MIN_FREE_TEXT else f'"{pseudonym}"'
    async with db.read() as conn:
        low, high = (
            await conn.execute(sa.select(sa.func.min(Frame.id), sa.func.max(Frame.id)))
        ).one()
    changed = 0
    if low is None:
        return 0
    for start in range(int(low), int(high) + 1, FRAME_RANGE):
        async with db.write() as conn:
            result = await conn.execute(
                sa.update(Frame)
                .where(
                    Frame.id >= start,
                    Frame.id < start + FRAME_RANGE,
                    Frame.raw.contains(needle, autoescape=True),
                )
                .values(raw=sa.func.replace(Frame.raw, needle, stand_in))
            )
        changed += int(result.rowcount or 0)
    return changed


async def erase(services: Services, token: str, *, scope: Scope = "used") -> dict[str, Any]:
    """Erase a driver's data: CustomerInformation clear=true (and report=true,
    the receipt) to the stations, then Volta's records of the token (see the module's
    text). Returns what was done; the token itself is kept nowhere."""
    db = services.db
    stations = await _stations_to_clear(db, token, scope)
    async with db.read() as conn:
        row = (await conn.execute(sa.select(IdToken.type).where(IdToken.token == token))).first()
    token_type = row.type if row is not None else "ISO14443"
    pseudonym = "anon-" + secrets.token_hex(8)
    now = utcnow()
    async with db.write() as conn:
        erasure_id = int(
            (
                await conn.execute(
                    sa.insert(IdTokenErasure)
                    .values(pseudonym=pseudonym, summary={}, created_at=now)
                    .returning(IdTokenErasure.id)
                )
            ).scalar_one()
        )

    gate = asyncio.Semaphore(PARALLEL)

    async def clear_at(station_id: str) -> dict[str, Any]:
        async with gate:
            try:
                found = await request(
                    services,
                    station_id,
                    Customer(id_token=token, id_token_type=token_type),
                    # The report is the station's receipt of what it cleared
                    # (TC_N_46 asks for both); its text is not kept.
                    report=True,
                    clear=True,
                    erasure_id=erasure_id,
                )
            except CustomerRequestRefused as exc:
                return {"station_id": station_id, "status": "NotSent", "detail": str(exc)}
            return {"station_id": station_id, "status": found["status"], "request_id": found["id"]}

    asked = list(await asyncio.gather(*(clear_at(s) for s in stations)))
    # The receipts come as NotifyCustomerInformation: their frames name the
    # driver, so they are awaited (bounded) before the frames are scrubbed.
    accepted = [a["request_id"] for a in asked if a["status"] == "Accepted"]
    await _receipts(db, accepted, services.settings.call_timeout)
    counts, holding = await _forget(db, token)
    # The local lists that held the token are sent its removal now (D01.FR.17,
    # TC_N_46), before the commands and frames that name it are scrubbed;
    # a station elsewhere or offline gets it later (then it is in that
    # command's record: docs/device-management.md).
    here = services.router.local()
    for station_id in holding:
        if station_id in here:
            await local_lists.sync(services, station_id)
    # The frames of those requests name the token: written before they are scrubbed.
    await services.frames.flush()
    counts.update(await _anonymise(db, token, pseudonym))
    summary = {"stations": asked, "rows": counts}
    async with db.write() as conn:
        await conn.execute(
            sa.update(IdTokenErasure).where(IdTokenErasure.id == erasure_id).values(summary=summary)
        )
        await events.emit(
            conn, "id_token.erased", erasure_id=erasure_id, pseudonym=pseudonym, rows=counts
        )
    if any(station_id not in here for station_id in holding):
        services.spawn(local_lists.sync_everywhere(services), name="local-lists-after-erasure")
    log.info("id token erased as %s (%d stations asked)", pseudonym, len(asked))
    return {"id": erasure_id, "pseudonym": pseudonym, "created_at": now, **summary}


async def _receipts(db: Database, request_ids: list[int], timeout: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while request_ids and loop.time() < deadline:
        async with db.read() as conn:
            open_ = (
                await conn.execute(
                    sa.select(sa.func.count()).where(
                        CustomerInformationRequest.id.in_(request_ids),
                        CustomerInformationRequest.complete.is_(False),
                    )
                )
            ).scalar_one()
        if not open_:
            return
        await asyncio.sleep(0.1)


async def _forget(db: Database, token: str) -> tuple[dict[str, int], list[str]]:
    """Delete the id token; every local list holding it is owed its removal.
    Returns the counts and the stations whose list held it."""
    counts: dict[str, int] = {}
    async with db.write() as conn:
        result = await conn.execute(sa.delete(IdToken).where(IdToken.token == token))
        counts["id_tokens"] = int(result.rowcount or 0)
        holding = (
            (
                await conn.execute(
                    sa.select(LocalListEntry.station_id).where(LocalListEntry.token == token)
                )
            )
            .scalars()
            .all()
        )
        await conn.execute(
            sa.update(LocalListEntry)
            .where(LocalListEntry.token == token)
            .values(pending=True, removed=True, updated_at=utcnow())
        )
        counts["local_list_entries"] = len(holding)
    return counts, sorted(holding)


async def _anonymise(db: Database, token: str, pseudonym: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    async with db.write() as conn:

        async def rename(name: str, column: Any) -> None:
            result = await conn.execute(
                sa.update(column.table).where(column == token).values({column.key: pseudonym})
            )
            counts[name] = counts.get(name, 0) + int(result.rowcount or 0)

        await rename("transactions", Transaction.id_token)
        await rename("transactions", Transaction.stop_id_token)
        await rename("cdrs", Cdr.id_token)
        await rename("reservations", Reservation.id_token)
        await rename("remote_starts", RemoteStart.id_token)
        # What stations reported of the driver goes; the requests stay as a record.
        result = await conn.execute(
            sa.update(CustomerInformationRequest)
            .where(CustomerInformationRequest.id_token == token)
            .values(id_token=pseudonym, data="", updated_at=utcnow())
        )
        counts["customer_information_requests"] = int(result.rowcount or 0)
    counts["frames"] = await _scrub_frames(db, token, pseudonym)
    counts["commands"] = await _scrub_json(
        db, Command.id, (Command.payload, Command.response), token, pseudonym
    )
    counts["events"] = await _scrub_json(db, Event.id, (Event.data,), token, pseudonym)
    return counts


async def get_erasure(db: Database, erasure_id: int) -> dict[str, Any] | None:
    async with db.read() as conn:
        row = (
            (await conn.execute(sa.select(IdTokenErasure).where(IdTokenErasure.id == erasure_id)))
            .mappings()
            .first()
        )
    return dict(row) if row else None
