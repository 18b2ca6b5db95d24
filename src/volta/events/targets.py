"""Where webhooks may connect: public addresses only, unless the operator
says otherwise (server-side request forgery).

By default a webhook may not reach loopback, private (RFC 1918, fc00::/7),
shared (100.64/10), link-local (169.254/16, fe80::/10, where cloud metadata
services live), multicast, reserved or unspecified addresses, nor the cloud
metadata host names. `webhook_allow_private_targets` lifts that;
`webhook_allowed_networks` lets chosen networks through.

The check runs when a webhook is created or changed (its host name is
resolved then, best effort) and again on every connection: the dispatcher's
transport resolves the name itself, checks every address it got, and
connects to a checked address (TLS still verifies, and SNI names, the URL's
host), so a name that changes its answer later (DNS rebinding) gets nowhere.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import httpcore
import httpx

log = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Names that are internal whatever they resolve to (cloud metadata services,
# and localhost, which RFC 6761 keeps on the machine itself).
INTERNAL_NAMES = frozenset(
    {
        "localhost",
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
        "metadata.azure.internal",
    }
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# At most this many of a name's addresses are tried, one after another.
MAX_ADDRESSES = 4
# How long a webhook's creation waits for its host name to resolve.
CREATE_RESOLVE_TIMEOUT = 2.0


class TargetRefused(Exception):
    """The webhook's target is an internal address and the settings refuse those."""


@dataclass(frozen=True)
class TargetPolicy:
    allow_private: bool = False
    allowed_networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def from_settings(cls, allow_private: bool, allowed_networks: str) -> TargetPolicy:
        return _policy(allow_private, allowed_networks)

    def check_name(self, host: str) -> None:
        """Refuse the internal names (before any resolving)."""
        if self.allow_private:
            return
        name = host.rstrip(".").lower()
        if name in INTERNAL_NAMES or name.endswith(".localhost"):
            raise TargetRefused(f"{host} is an internal host name")

    def check_address(self, address: IPAddress) -> None:
        if self.allow_private:
            return
        plain = _unwrap(address)
        if any(plain in net for net in self.allowed_networks):
            return
        if not plain.is_global or plain.is_multicast:
            raise TargetRefused(f"{address} is not a public address")


@lru_cache(maxsize=8)
def _policy(allow_private: bool, allowed_networks: str) -> TargetPolicy:
    return TargetPolicy(allow_private, parse_networks(allowed_networks))


def parse_networks(text: str) -> tuple[IPNetwork, ...]:
    """Comma-separated CIDRs ("10.20.0.0/16, fd00:1::/64"); ValueError names a bad one."""
    networks = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ValueError(f"webhook_allowed_networks: {part!r} is not a CIDR") from None
    return tuple(networks)


def _unwrap(address: IPAddress) -> IPAddress:
    """The IPv4 address inside an IPv4-mapped or NAT64 IPv6 address."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address in _NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


async def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address the name has (tests replace this to map names)."""
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    found: list[IPAddress] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if address not in found:
            found.append(address)
    return found


async def check_at_creation(host: str, port: int, policy: TargetPolicy) -> None:
    """The name, and what it resolves to now when it answers in time (a name
    that does not resolve yet is accepted: the connection checks it again)."""
    policy.check_name(host)
    if policy.allow_private:
        return
    address = literal(host)
    if address is not None:
        policy.check_address(address)
        return
    try:
        addresses = await asyncio.wait_for(resolve(host, port), CREATE_RESOLVE_TIMEOUT)
    except (OSError, TimeoutError, ValueError):  # UnicodeError is a ValueError
        return
    for address in addresses:
        policy.check_address(address)


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, resolving names itself and connecting only
    to addresses the policy allows."""

    def __init__(self, policy: Any, inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        # `policy`: a callable giving the current TargetPolicy (settings may change).
        self._policy = policy
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        policy: TargetPolicy = self._policy()
        policy.check_name(host)
        address = literal(host)
        if address is not None:
            addresses = [address]
        else:
            try:
                addresses = await asyncio.wait_for(resolve(host, port), timeout)
            except TimeoutError:
                raise httpcore.ConnectTimeout("name resolution timed out") from None
            except (OSError, ValueError) as exc:
                raise httpcore.ConnectError(f"name resolution failed: {exc}") from None
        if not addresses:
            raise httpcore.ConnectError("the name has no address")
        for checked in addresses:  # every one: a mixed answer is refused whole
            policy.check_address(checked)
        error: Exception | None = None
        for checked in addresses[:MAX_ADDRESSES]:
            try:
                return await self._inner.connect_tcp(
                    str(checked),
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        assert error is not None
        raise error

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise TargetRefused("webhooks do not connect to unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport over a GuardedBackend: no proxies from the
    environment, the system's CA certificates as httpx has them."""

    def __init__(
        self,
        policy: Any,
        *,
        verify: ssl.SSLContext | bool = True,
        limits: httpx.Limits | None = None,
    ) -> None:
        super().__init__(verify=verify, trust_env=False)
        limits = limits or httpx.Limits(max_connections=100, max_keepalive_connections=20)
        # httpx builds its pool with httpcore's default backend; this one is
        # the same pool (the ssl context httpx made) over the guarded backend.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=self._pool._ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedBackend(policy),
        )
