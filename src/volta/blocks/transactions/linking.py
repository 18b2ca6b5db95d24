"""What a starting transaction is tied to: the reservation it consumes, the
remote start that asked for it, and the limits of its token or app start.
A collaborator of the transactions core, called once per start."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from volta.store.db import Conn
from volta.store.models import IdToken, RemoteStart, Reservation, Transaction, utcnow


async def link_start(
    conn: Conn,
    station_id: str,
    transaction_id: int,
    *,
    evse_id: int | None,
    id_token: str | None,
    reservation_id: int | None,
    remote_start_id: int | None,
    remote_start_window: float,
    remote_trigger: bool = False,
) -> None:
    """Tie a starting transaction to what led to it: the reservation it
    consumes (H03; 1.6 §5.13) and the remote start that asked for it (F01,
    F02; 1.6 RemoteStartTransaction has no id, so the newest accepted request
    for this token and connector within `remote_start_window` seconds).

    A 2.0.1 station may start a remote session without an idToken in its
    TransactionEvent (F02.FR.01 only asks for the remoteStartId): the
    transaction then takes the token of the remote start it is linked to, so
    that the session, its CDR and the ConcurrentTx check know the driver.
    With neither token nor remoteStartId (`remote_trigger`: triggerReason
    RemoteStart), the newest waiting remote start for this EVSE is taken."""
    now = utcnow()
    values: dict[str, Any] = {}
    live = Reservation.status.in_(("Accepted", "Requested"))
    token = None
    if id_token is not None:
        token = (
            await conn.execute(
                sa.select(
                    IdToken.group_id,
                    IdToken.limit_energy_wh,
                    IdToken.limit_seconds,
                    IdToken.limit_cost,
                ).where(IdToken.token == id_token)
            )
        ).first()
    if token is not None:
        # Limits attached to the token apply to each of its sessions.
        values.update(limits_of(token))
    if reservation_id is None and id_token is not None:
        group = token.group_id if token is not None else None
        owners = [id_token] + ([group] if group else [])
        reservation_id = (
            await conn.execute(
                sa.select(Reservation.id)
                .where(
                    Reservation.station_id == station_id,
                    live,
                    Reservation.expires_at > now,
                    sa.or_(Reservation.evse_id.is_(None), Reservation.evse_id.in_((0, evse_id))),
                    sa.or_(Reservation.id_token == id_token, Reservation.group_id.in_(owners)),
                )
                .order_by(Reservation.expires_at)
                .limit(1)
            )
        ).scalar_one_or_none()
    if reservation_id is not None:
        used = await conn.execute(
            sa.update(Reservation)
            .where(Reservation.id == reservation_id, Reservation.station_id == station_id, live)
            .values(status="Used", transaction_id=transaction_id, updated_at=now)
        )
        if used.rowcount:
            values["reservation_id"] = reservation_id
    waiting = RemoteStart.status.in_(("Requested", "Accepted"))
    # The newest waiting remote start for this EVSE: the driver's (by token),
    # or, for a remote start reported with no token at all (F02), any.
    by_token = id_token is not None
    if remote_start_id is None and (by_token or remote_trigger):
        remote_start_id = (
            await conn.execute(
                sa.select(RemoteStart.id)
                .where(
                    RemoteStart.station_id == station_id,
                    RemoteStart.id_token == id_token if by_token else sa.true(),
                    waiting,
                    sa.or_(RemoteStart.evse_id.is_(None), RemoteStart.evse_id == evse_id),
                    RemoteStart.created_at > now - dt.timedelta(seconds=remote_start_window),
                )
                .order_by(RemoteStart.id.desc())
                .limit(1)
            )
        ).scalar_one_or_none()
    if remote_start_id is not None:
        linked = (
            await conn.execute(
                sa.update(RemoteStart)
                .where(RemoteStart.id == remote_start_id, RemoteStart.station_id == station_id)
                .values(status="Started", transaction_id=transaction_id, updated_at=now)
                .returning(
                    RemoteStart.limit_energy_wh,
                    RemoteStart.limit_seconds,
                    RemoteStart.limit_cost,
                    RemoteStart.id_token,
                    RemoteStart.id_token_type,
                )
            )
        ).first()
        if linked is not None:
            values["remote_start_id"] = remote_start_id
            if id_token is None:
                # Authorised when the remote start was asked for (sessions.py).
                values.update(
                    id_token=linked.id_token,
                    id_token_type=linked.id_token_type,
                    authorization_status="Accepted",
                )
            # The app's limits for this session win over the token's.
            values.update(limits_of(linked))
    if values:
        await conn.execute(
            sa.update(Transaction).where(Transaction.id == transaction_id).values(**values)
        )


def limits_of(row: Any) -> dict[str, Any]:
    limits = {
        "limit_energy_wh": row.limit_energy_wh,
        "limit_seconds": row.limit_seconds,
        "limit_cost": row.limit_cost,
    }
    return {k: v for k, v in limits.items() if v is not None}
