"""The nodes of the deployment (docs/scale-out.md): each running Volta
process, its lease, how many stations it holds, which one leads."""

from __future__ import annotations

import datetime as dt
import os
import socket

import sqlalchemy as sa
from fastapi import APIRouter
from pydantic import BaseModel, Field

from volta.http import ServicesDep
from volta.store.models import Node, utcnow

router = APIRouter(tags=["nodes"])


class NodeOut(BaseModel):
    id: str
    host: str
    pid: int
    state: str = Field(description="running, or draining (shutting down: closing its stations)")
    leader: bool = Field(description="runs the deployment-wide work (housekeeping, allocator)")
    stations: int = Field(description="stations connected to it, at its last renewal")
    started_at: dt.datetime
    renewed_at: dt.datetime | None = Field(description="its last lease renewal (null: one process)")
    lease_until: dt.datetime | None = Field(
        description="dead if not renewed by then: its stations are recorded offline"
    )


@router.get("/nodes", response_model=list[NodeOut])
async def list_nodes(services: ServicesDep) -> list[NodeOut]:
    """The running nodes, oldest first. One process (no nats_url) lists itself."""
    node = services.node
    if not node.clustered:
        return [
            NodeOut(
                id=node.node_id,
                host=socket.gethostname(),
                pid=os.getpid(),
                state="running",
                leader=True,
                stations=len(services.router.local()),
                started_at=_STARTED,
                renewed_at=None,
                lease_until=None,
            )
        ]
    async with services.db.read() as conn:
        rows = (
            await conn.execute(sa.select(Node.__table__).order_by(Node.started_at, Node.id))
        ).all()
        return [
            NodeOut(
                id=r.id,
                host=r.host,
                pid=r.pid,
                state=r.state,
                leader=r.leader,
                stations=r.stations,
                started_at=r.started_at,
                renewed_at=r.renewed_at,
                lease_until=r.lease_until,
            )
            for r in rows
        ]


_STARTED = utcnow()
