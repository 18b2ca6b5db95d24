"""The security profile of each station, never lowered by a connection, and
the upgrade the specification describes (2.0.1 A05, 1.6 whitepaper §2.5).

Profiles (2.0.1 Part 2 A00, 1.6 security whitepaper §2): 1 is HTTP Basic
over plain WebSocket, 2 Basic over TLS, 3 TLS with a client certificate
(no Basic). `stations.security_profile` holds the highest profile the station
connected with (null until its first connection): a connection below it is
refused (A05.FR.07: a station is never brought back to a lower profile; Volta
refuses one that tries) and recorded as a security event. Only an operator
lowers it, explicitly (`allow_lower`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from volta.blocks.remote_control import service as remote_control
from volta.ocpp.versions import Version
from volta.services import Services
from volta.store.db import Database
from volta.store.models import STATIONS

PROFILES = (1, 2, 3)
# Volta's own security events (origin "volta").
DOWNGRADE_ATTEMPT = "SecurityProfileDowngradeAttempt"
INVALID_CERTIFICATE = "InvalidChargingStationCertificate"


async def raise_profile(db: Database, station_id: str, profile: int) -> bool:
    """Raise the stored profile to `profile` (never lower it); True when the
    row changed."""
    column = STATIONS.c.security_profile
    async with db.write(station_id) as conn:
        result = await conn.execute(
            sa.update(STATIONS)
            .where(STATIONS.c.id == station_id)
            .where(sa.or_(column.is_(None), column < profile))
            .values(security_profile=profile)
        )
    return bool(result.rowcount)


class LoweringRefused(ValueError):
    """An operator asked for a lower profile without saying so."""


def check_change(current: int | None, wanted: int, allow_lower: bool) -> None:
    if current is not None and wanted < current and not allow_lower:
        raise LoweringRefused(
            f"security profile {wanted} is lower than the station's {current}; "
            "set allow_lower to lower it"
        )


@dataclass(frozen=True, slots=True)
class UpgradeStep:
    action: str
    status: str
    response: dict[str, Any] | None


async def upgrade(
    services: Services,
    station_id: str,
    version: Version,
    profile: int,
    *,
    csms_url: str | None,
    configuration_slot: int,
    fallback_slots: list[int],
    message_timeout: int,
    ocpp_interface: str,
    reset: bool,
) -> list[UpgradeStep]:
    """Tell a connected station to use `profile` from its next connection.

    2.0.1 (A05, TC_A_19): SetNetworkProfile with the new connection data in
    `configuration_slot`, SetVariables OCPPCommCtrlr.NetworkConfigurationPriority
    with that slot first, then Reset (OnIdle). 1.6 (whitepaper §2.5, TC_083):
    ChangeConfiguration SecurityProfile, then Reset Hard. Stops at the first
    command the station does not accept. The stored profile is raised when
    the station reconnects on the higher profile, not here."""
    steps: list[UpgradeStep] = []
    commands: list[tuple[str, dict[str, Any]]]
    if version is Version.V16:
        commands = [("ChangeConfiguration", {"key": "SecurityProfile", "value": str(profile)})]
        if reset:
            commands.append(("Reset", {"type": "Hard"}))
    else:
        priority = ",".join(str(s) for s in [configuration_slot, *fallback_slots])
        commands = [
            (
                "SetNetworkProfile",
                {
                    "configurationSlot": configuration_slot,
                    "connectionData": {
                        "ocppVersion": "OCPP20",
                        "ocppTransport": "JSON",
                        "ocppCsmsUrl": csms_url or "",
                        "messageTimeout": message_timeout,
                        "securityProfile": profile,
                        "ocppInterface": ocpp_interface,
                    },
                },
            ),
            (
                "SetVariables",
                {
                    "setVariableData": [
                        {
                            "component": {"name": "OCPPCommCtrlr"},
                            "variable": {"name": "NetworkConfigurationPriority"},
                            "attributeValue": priority,
                        }
                    ]
                },
            ),
        ]
        if reset:
            commands.append(("Reset", {"type": "OnIdle"}))
    for action, payload in commands:
        record = await remote_control.send_command(services, station_id, action, payload)
        response = record["response"] if isinstance(record["response"], dict) else None
        status = _status(action, record["status"], response)
        steps.append(UpgradeStep(action, status, response))
        if status != "Accepted":
            break
    return steps


def _status(action: str, stored: str, response: dict[str, Any] | None) -> str:
    """The station's answer as one word: its status (SetVariables: that of
    the one variable), or the command's stored state (timeout, error)."""
    if response is None:
        return stored
    if action == "SetVariables":
        results = response.get("setVariableResult") or [{}]
        return str(results[0].get("attributeStatus", stored))
    return str(response.get("status", stored))
