"""What the gateway decides before the WebSocket upgrade, for either transport.

The request is the HTTP GET of RFC 6455 §4.1 as websockets parses it (both
servers use websockets' HTTP/1.1 parser, so they read a request alike). The
answer is an `Admission` (upgrade, with the station and the subprotocol) or a
`Refusal` (an HTTP status sent instead of 101):

- the station id is the last path segment, percent-decoded once; anything
  before it is a prefix (OCPP-J 1.6 §3.1.1, 2.0.1 §3.1.1 leave the path to the
  CSMS); it must keep the one id rule (`volta.ocpp.identity`);
- a station with a password must present HTTP Basic credentials with its id as
  username (security profile 1, OCPP 2.0.1 Part 2 §A00.FR.2xx): 401;
- an unknown station, and an id that breaks the rule, get the very same 401
  as a wrong password (same body, and a password check of the same cost when
  credentials came), so the answer does not tell which ids exist, unless
  auto-registration is on: then an unknown station is registered, within
  its rate limits and cap (429 / 503 beyond them);
- failed sign-ins are counted per source address and per station id
  (`volta.gateway.throttle`); past the limit, attempts get 429 with
  Retry-After, without a password check, and a `security.auth_failures`
  event tells of it;
- the connection's security profile (`volta.gateway.tls.TlsFacts`: plain 1,
  TLS 2, TLS with a verified client certificate 3) must not be below the
  station's stored one (`blocks/security/profiles.py`), else the same 401 and
  a security event; a client certificate must be issued to the station (its
  subject CN is the station id, 2.0.1 A00.FR.409 / 1.6 whitepaper §2.4), and
  with one no Basic password is asked for (profile 3); the stored profile is
  raised to the connection's on admission;
- the subprotocol is the first of the client's list that Volta speaks
  (OCPP-J 2.0.1 §3.1.2); offering only unknown ones gets 400, offering none
  falls back to `default_protocol` (some 1.6 firmwares send none).

Every refusal is logged with the client's address and the station id
(escaped when it breaks the rule), never with a password.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import ipaddress
import logging
import math
import secrets
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from websockets.datastructures import Headers

from volta.blocks.provisioning import service as provisioning
from volta.blocks.security import log as security_log
from volta.blocks.security import passwords, profiles
from volta.events import service as events
from volta.gateway.throttle import Backoff, RateLimit
from volta.gateway.tls import PLAIN, TlsFacts
from volta.ocpp.identity import MAX_LENGTH, identity_from_path, printable
from volta.ocpp.versions import SUPPORTED, Version
from volta.security import hash_password, source_key, verify_password
from volta.services import Services

log = logging.getLogger(__name__)

MAX_STATION_ID_LENGTH = MAX_LENGTH  # 2.0.1 identity: string[48]
MAX_FRAME_BYTES = 1024 * 1024  # larger messages are closed with 1009
# How long the count of stations waiting for approval is trusted (it changes
# when an operator accepts some) before it is read again.
PENDING_COUNT_TTL = 10.0
# Security events: at most this many a minute, whatever the flood.
EVENTS_PER_MINUTE = 60.0


@dataclass(frozen=True, slots=True)
class Admission:
    station: dict[str, Any]
    # None: the client offered no subprotocol; the 101 names none either.
    subprotocol: Version | None
    # The security profile of this connection (1, 2 or 3).
    profile: int = 1


@dataclass(frozen=True, slots=True)
class Refusal:
    status: HTTPStatus
    text: str
    headers: dict[str, str] = field(default_factory=dict)


# An unknown station, a bad id and a wrong password get this same answer.
UNAUTHORIZED = Refusal(
    HTTPStatus.UNAUTHORIZED,
    "authentication required",
    {"WWW-Authenticate": 'Basic realm="Volta", charset="UTF-8"'},
)


# A node that is draining (shutting down) takes no new station: it should
# connect again, to another node.
DRAINING = Refusal(
    HTTPStatus.SERVICE_UNAVAILABLE,
    "this server is shutting down; connect again",
    {"Retry-After": "1"},
)


def throttled(wait: float, text: str = "too many failed attempts; try again later") -> Refusal:
    return Refusal(
        HTTPStatus.TOO_MANY_REQUESTS, text, {"Retry-After": str(max(1, math.ceil(wait)))}
    )


def station_id_from_path(path: str) -> str | None:
    """The last path segment, percent-decoded, when it keeps the id rule."""
    segment, valid = identity_from_path(path)
    return segment if valid else None


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


def _networks(text: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(
        ipaddress.ip_network(item.strip(), strict=False) for item in text.split(",") if item.strip()
    )


def _in(address: str, networks: tuple[Any, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    return any(ip in network for network in networks)


class Admitter:
    """The pre-upgrade checks, with the cache of verified passwords and the
    throttling tables."""

    def __init__(self, services: Services) -> None:
        self.services = services
        settings = self.settings = services.settings
        # station id -> (stored hash, digest of the last verified password,
        # the address it came from)
        self._verified: dict[str, tuple[str, bytes, str]] = {}
        size = settings.auth_table_size
        window, block = settings.auth_failure_window, settings.auth_block_max
        self.by_address = Backoff(settings.auth_failures_per_address, window, block, size)
        self.by_station = Backoff(settings.auth_failures_per_station, window, block, size)
        self.registrations = RateLimit(settings.auto_register_per_minute, 1)
        self.registrations_by_address = RateLimit(
            settings.auto_register_per_address_per_minute, size
        )
        self._events = RateLimit(EVENTS_PER_MINUTE, 1)
        self._security_events = RateLimit(settings.security_events_per_minute, 1)
        self._proxies = _networks(settings.trusted_proxies)
        # An unknown station's password is checked against this, so that it
        # costs what a known station's wrong password costs.
        self._decoy = hash_password(secrets.token_urlsafe(18))
        self._pending: tuple[float, int] | None = None  # (read at, count)
        self._pending_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()

    def client_address(self, peer: object, headers: Headers) -> str:
        """The client's address: the peer's, or, when the peer is a trusted
        proxy, the last X-Forwarded-For entry that is not one."""
        host = str(peer[0]) if isinstance(peer, tuple) and peer else str(peer)
        if self._proxies and _in(host, self._proxies):
            hops = [h.strip() for v in headers.get_all("X-Forwarded-For") for h in v.split(",")]
            for hop in reversed(hops):
                if hop and not _in(hop, self._proxies):
                    return hop
        return host

    def _behind_tls_proxy(self, peer: object, headers: Headers) -> bool:
        """A trusted proxy (`trusted_proxies`) that ended the station's TLS
        says so with X-Forwarded-Proto: https (or wss): profile 2. Client
        certificates are not taken from proxies' headers (profile 3 needs
        Volta's own TLS)."""
        host = str(peer[0]) if isinstance(peer, tuple) and peer else str(peer)
        if not self._proxies or not _in(host, self._proxies):
            return False
        proto = (headers.get("X-Forwarded-Proto") or "").split(",")[-1].strip().lower()
        return proto in ("https", "wss")

    async def admit(
        self, path: str, headers: Headers, peer: object = None, tls: TlsFacts = PLAIN
    ) -> Admission | Refusal:
        address = self.client_address(peer, headers)
        if not tls.tls and self._behind_tls_proxy(peer, headers):
            tls = TlsFacts(tls=True)
        key = source_key(address)
        segment, valid = identity_from_path(path)
        shown = printable(segment)
        credentials = basic_credentials(headers)
        station = await provisioning.find_station(self.services.db, segment) if valid else None
        if station is None and valid and self.settings.auto_register:
            registered = await self._register(segment, key, address)
            if isinstance(registered, Refusal):
                return registered
            station = registered
        if station is None:
            # An unknown station or a bad id: answered as a wrong password is.
            reason = "unknown station" if valid else "station id breaks the id rule"
            counted = segment if valid else None
            refusal = await self._sign_in(
                segment, counted, credentials, self._decoy, key, address, reason
            )
            return refusal or UNAUTHORIZED
        profile = tls.profile
        if tls.client_cn is not None and (problem := self._certificate_problem(segment, tls)):
            # A certificate OpenSSL verified, but not issued to this station.
            self._log_refusal(shown, address, problem)
            self._security_event(
                segment, profiles.INVALID_CERTIFICATE, f"{problem} (from {address})"
            )
            return UNAUTHORIZED
        stored = station.get("security_profile")
        if stored is not None and profile < stored:
            # Below the station's profile: refused as a wrong password is
            # (at the cost of one when credentials came), never checked.
            reason = f"security profile {profile} below the station's {stored}"
            self._security_event(
                segment,
                profiles.DOWNGRADE_ATTEMPT,
                f"connection with security profile {profile}, station at {stored} (from {address})",
            )
            if credentials is not None and credentials[0] == segment:
                decoy = self._decoy
                await self._sign_in(segment, segment, credentials, decoy, key, address, reason)
            else:
                self._log_refusal(shown, address, reason)
            return UNAUTHORIZED
        # Profile 3: the certificate is the station's credential (no Basic).
        if profile < 3 and station["password_hash"]:
            refusal = await self._sign_in(
                segment, segment, credentials, station["password_hash"], key, address, ""
            )
            if refusal is not None:
                return refusal
        offered = headers.get_all("Sec-WebSocket-Protocol")
        version = choose_subprotocol(offered)
        if offered and version is None:
            self._log_refusal(shown, address, "no supported subprotocol")
            return Refusal(
                HTTPStatus.BAD_REQUEST,
                "no supported OCPP subprotocol (ocpp2.1, ocpp2.0.1, ocpp1.6)",
            )
        if stored is None or profile > stored:
            await self._raise_profile(segment, profile, stored)
        return Admission(station, version, profile)

    # -- security profiles -------------------------------------------------------

    def _certificate_problem(self, station_id: str, tls: TlsFacts) -> str | None:
        """Why a verified client certificate is not this station's: its
        subject CN must be the station's identity (2.0.1 A00.FR.409/410, 1.6
        whitepaper §2.4: the serial number, which is the id in the URL) and,
        when `tls_client_organization` is set, its O the operator's name."""
        if tls.client_cn != station_id:
            return f"client certificate CN {printable(tls.client_cn or '')!r} is not the station id"
        wanted = self.settings.tls_client_organization
        if wanted and tls.client_org != wanted:
            return f"client certificate O {printable(tls.client_org or '')!r} is not {wanted!r}"
        return None

    async def _raise_profile(self, station_id: str, profile: int, stored: int | None) -> None:
        try:
            if await profiles.raise_profile(self.services.db, station_id, profile):
                log.info(
                    "station %s: security profile %s -> %d", station_id, stored or "unset", profile
                )
        except Exception as exc:
            # Admitted anyway (the database may be failing); raised next time.
            log.warning(
                "could not store the security profile of %s (%s)", station_id, type(exc).__name__
            )

    # -- passwords ---------------------------------------------------------------

    async def _sign_in(
        self,
        segment: str,
        station_id: str | None,
        credentials: tuple[str, str] | None,
        stored: str,
        key: str,
        address: str,
        unknown: str,
    ) -> Refusal | None:
        """Check Basic credentials for the id `segment` against `stored`; None
        when they are right. `station_id` is the id failures are counted on
        (None for an id that breaks the rule); `unknown` names why no station
        can match (then `stored` is the decoy, so the refusal costs and reads
        as a wrong password's)."""
        shown = printable(segment)
        if credentials is None or credentials[0] != segment:
            # No password was tried: nothing to count (a client may wait for
            # the challenge before it sends its credentials).
            self._log_refusal(shown, address, unknown or "missing credentials or wrong username")
            return UNAUTHORIZED
        wait = self.by_address.blocked_for(key)
        # The station's own last address is not shut out by others' failures
        # on its id; its attempts then count per address only.
        exempt = False
        if station_id is not None and (held := self.by_station.blocked_for(station_id)):
            exempt = self._known_address(station_id, address)
            if not exempt:
                wait = max(wait, held)
        if wait:
            self._log_refusal(shown, address, "too many failed attempts", wait)
            return throttled(wait)
        # Counted before the check (which yields): concurrent guesses past
        # the limit are refused at once, not queued for a password check.
        counted = None if exempt else station_id
        by_address = self.by_address.fail(key)
        by_station = self.by_station.fail(counted) if counted is not None else (0.0, False)
        ok = await self._check_password(station_id or "", credentials[1], stored, address)
        if ok and not unknown:
            # Only the attempt itself is taken back: a right password does
            # not wipe out others' failures on the same address or id.
            self.by_address.forgive(key)
            if counted is not None:
                self.by_station.forgive(counted)
            return None
        self._log_refusal(shown, address, unknown or "wrong password")
        if not unknown and station_id is not None:
            self._security_event(
                station_id, "StationSignInFailed", f"wrong password from {address}"
            )
        if by_address[1]:
            self._report(key, None, self.by_address.failures(key), by_address[0])
        if by_station[1] and station_id is not None:
            self._report(None, station_id, self.by_station.failures(station_id), by_station[0])
        return UNAUTHORIZED

    def _known_address(self, station_id: str, address: str) -> bool:
        """The station's own last verified address is not shut out by others'
        failures on its id (it is still counted per address)."""
        verified = self._verified.get(station_id)
        return verified is not None and verified[2] == address

    async def _check_password(
        self, station_id: str, password: str, stored: str, address: str
    ) -> bool:
        """PBKDF2 costs milliseconds by design; a station that reconnects (after a
        network blip, or all of them after a restart of the load balancer) is
        checked against a digest of its last verified password instead, while
        its stored hash is unchanged."""
        digest = hashlib.sha256(password.encode()).digest()
        verified = self._verified.get(station_id)
        if verified is not None and verified[:2] == (stored, digest):
            if verified[2] != address:
                self._verified[station_id] = (stored, digest, address)
            return True
        ok = await asyncio.to_thread(verify_password, password, stored)
        if ok and stored is not self._decoy:
            self._verified[station_id] = (stored, digest, address)
        elif not ok and stored is not self._decoy and station_id:
            # The new password of a rotation under way: it becomes the
            # station's password (docs/security.md, "Station passwords").
            new = await passwords.sign_in_with_next(self.services.db, station_id, password, stored)
            if new is not None:
                self._verified[station_id] = (new, digest, address)
                return True
        return ok

    def _log_refusal(self, shown: str, address: str, reason: str, wait: float = 0.0) -> None:
        if wait:
            log.info(
                "refused station %s from %s: %s (blocked for %.0f s more)",
                shown,
                address,
                reason,
                wait,
            )
        else:
            log.info("refused station %s from %s: %s", shown, address, reason)

    def _report(
        self, address: str | None, station_id: str | None, failures: int, blocked_for: float
    ) -> None:
        """A key is blocked for the first time in its episode: log it and tell
        of it with a `security.auth_failures` event (written in the
        background, at most EVENTS_PER_MINUTE)."""
        what = f"address {address}" if address is not None else f"station {station_id}"
        log.warning(
            "%d failed sign-ins for %s within %.0f s: blocked for %.0f s",
            failures,
            what,
            self.settings.auth_failure_window,
            blocked_for,
        )
        if self._events.take():
            return
        task = asyncio.get_running_loop().create_task(
            self._emit(address, station_id, failures, blocked_for)
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _emit(
        self, address: str | None, station_id: str | None, failures: int, blocked_for: float
    ) -> None:
        try:
            async with self.services.db.write(station_id) as conn:
                await events.emit(
                    conn,
                    "security.auth_failures",
                    station_id=station_id,
                    source=address,
                    failures=failures,
                    window_s=self.settings.auth_failure_window,
                    blocked_s=blocked_for,
                )
        except Exception:
            log.exception("could not record a security.auth_failures event")
        what = f"from address {address}" if address is not None else "on its id"
        await security_log.record(
            self.services,
            station_id,
            "StationSignInsBlocked",
            tech_info=f"{failures} failed sign-ins {what}: blocked for {blocked_for:.0f} s",
        )

    def _security_event(self, station_id: str, kind: str, tech_info: str) -> None:
        """One of Volta's own security events (a failed sign-in, a connection
        below the station's profile, a refused certificate) in the security
        event log, in the background, at most `security_events_per_minute`
        (a flood of attempts is logged, not stored)."""
        if self._security_events.take():
            log.info("security event %s for %s not recorded (rate limit)", kind, station_id)
            return
        task = asyncio.get_running_loop().create_task(
            security_log.record(self.services, station_id, kind, tech_info=tech_info)
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- auto-registration -------------------------------------------------------

    async def _register(self, station_id: str, key: str, address: str) -> dict[str, Any] | Refusal:
        """Register an unknown station, within the rate limits (per address,
        then for all) and the cap on stations waiting for approval."""
        settings = self.settings
        wait = self.registrations_by_address.take(key) or self.registrations.take()
        if wait:
            log.warning(
                "refused to register station %s from %s: more than the auto-registration "
                "rate limit (%g a minute from one address, %g for all)",
                station_id,
                address,
                settings.auto_register_per_address_per_minute,
                settings.auto_register_per_minute,
            )
            return throttled(wait, "too many new stations; try again later")
        cap = settings.auto_register_max_pending
        status = settings.auto_register_status
        if cap > 0 and status != "Accepted":
            async with self._pending_lock:
                waiting = await self._pending_count(status)
                if waiting >= cap:
                    log.warning(
                        "refused to register station %s from %s: %d stations already "
                        "wait in %s (auto_register_max_pending)",
                        station_id,
                        address,
                        waiting,
                        status,
                    )
                    return Refusal(
                        HTTPStatus.SERVICE_UNAVAILABLE,
                        "not accepting new stations now",
                        {"Retry-After": str(int(PENDING_COUNT_TTL))},
                    )
                assert self._pending is not None
                self._pending = (self._pending[0], self._pending[1] + 1)
        db = self.services.db
        await provisioning.register_station(db, station_id, status)
        station = await provisioning.find_station(db, station_id)
        if station is None:  # pragma: no cover
            return Refusal(HTTPStatus.SERVICE_UNAVAILABLE, "try again")
        log.info("registered station %s on first connection from %s", station_id, address)
        return station

    async def _pending_count(self, status: str) -> int:
        now = asyncio.get_running_loop().time()
        if self._pending is None or now - self._pending[0] >= PENDING_COUNT_TTL:
            self._pending = (now, await provisioning.count_stations(self.services.db, status))
        return self._pending[1]
