"""What the gateway decides before the WebSocket upgrade, for either transport.

The request is the HTTP GET of RFC 6455 §4.1 as websockets parses it (both
servers use websockets' HTTP/1.1 parser, so they read a request alike). The
answer is an `Admission` (upgrade, with the station and the subprotocol) or a
`Refusal` (an HTTP status sent instead of 101):

- the station id is the last path segment, percent-decoded; anything before it
  is a prefix (OCPP-J 1.6 §3.1.1, 2.0.1 §3.1.1 leave the path to the CSMS);
- an unknown station gets 404, unless auto-registration is on;
- a station with a password must present HTTP Basic credentials with its id as
  username (security profile 1, OCPP 2.0.1 Part 2 §A00.FR.2xx): 401;
- the subprotocol is the first of the client's list that Volta speaks
  (OCPP-J 2.0.1 §3.1.2); offering only unknown ones gets 400, offering none
  falls back to `default_protocol` (some 1.6 firmwares send none).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import logging
import urllib.parse
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from websockets.datastructures import Headers

from volta.blocks.provisioning import service as provisioning
from volta.ocpp.versions import SUPPORTED, Version
from volta.security import verify_password
from volta.services import Services

log = logging.getLogger(__name__)

MAX_STATION_ID_LENGTH = 48  # 2.0.1 identity: string[48]
MAX_FRAME_BYTES = 1024 * 1024  # larger messages are closed with 1009


@dataclass(frozen=True, slots=True)
class Admission:
    station: dict[str, Any]
    # None: the client offered no subprotocol; the 101 names none either.
    subprotocol: Version | None


@dataclass(frozen=True, slots=True)
class Refusal:
    status: HTTPStatus
    text: str
    headers: dict[str, str] = field(default_factory=dict)


def station_id_from_path(path: str) -> str | None:
    """The last path segment, percent-decoded; anything before it is a prefix."""
    path = path.split("?", 1)[0].rstrip("/")
    segment = urllib.parse.unquote(path.rsplit("/", 1)[-1])
    if not segment or len(segment) > MAX_STATION_ID_LENGTH or any(c in segment for c in "/\x00"):
        return None
    return segment


def basic_credentials(headers: Headers) -> tuple[str, str] | None:
    value = headers.get("Authorization")
    if not value or value[:6].lower() != "basic ":
        return None
    try:
        decoded = base64.b64decode(value[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


def choose_subprotocol(header_values: list[str]) -> Version | None:
    offered = [p.strip() for value in header_values for p in value.split(",") if p.strip()]
    for name in offered:  # the client's order is its preference
        for version in SUPPORTED:
            if name == version.value:
                return version
    return None


class Admitter:
    """The pre-upgrade checks, with the cache of verified passwords."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.settings = services.settings
        self._verified: dict[str, tuple[str, bytes]] = {}

    async def admit(self, path: str, headers: Headers) -> Admission | Refusal:
        station_id = station_id_from_path(path)
        if station_id is None:
            return Refusal(HTTPStatus.NOT_FOUND, "no station id in the path")
        db = self.services.db
        station = await provisioning.find_station(db, station_id)
        if station is None:
            if not self.settings.auto_register:
                log.info("refused unknown station %s", station_id)
                return Refusal(HTTPStatus.NOT_FOUND, "unknown station")
            await provisioning.register_station(db, station_id, self.settings.auto_register_status)
            station = await provisioning.find_station(db, station_id)
            if station is None:  # pragma: no cover
                return Refusal(HTTPStatus.SERVICE_UNAVAILABLE, "try again")
            log.info("registered station %s on first connection", station_id)
        if station["password_hash"]:
            credentials = basic_credentials(headers)
            ok = False
            if credentials is not None and credentials[0] == station_id:
                ok = await self._check_password(
                    station_id, credentials[1], station["password_hash"]
                )
            if not ok:
                log.info("refused station %s: wrong or missing credentials", station_id)
                return Refusal(
                    HTTPStatus.UNAUTHORIZED,
                    "authentication required",
                    {"WWW-Authenticate": 'Basic realm="Volta", charset="UTF-8"'},
                )
        offered = headers.get_all("Sec-WebSocket-Protocol")
        version = choose_subprotocol(offered)
        if offered and version is None:
            return Refusal(
                HTTPStatus.BAD_REQUEST, "no supported OCPP subprotocol (ocpp1.6, ocpp2.0.1)"
            )
        return Admission(station, version)

    async def _check_password(self, station_id: str, password: str, stored: str) -> bool:
        """PBKDF2 costs milliseconds by design; a station that reconnects (after a
        network blip, or all of them after a restart of the load balancer) is
        checked against a digest of its last verified password instead, while
        its stored hash is unchanged."""
        digest = hashlib.sha256(password.encode()).digest()
        if self._verified.get(station_id) == (stored, digest):
            return True
        ok = await asyncio.to_thread(verify_password, password, stored)
        if ok:
            self._verified[station_id] = (stored, digest)
        return ok
