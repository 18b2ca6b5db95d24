"""Password and token hashing (stdlib only).

Station passwords (security profile 1, OCPP 2.0.1 A00.FR.2xx: 16-40 characters,
usually generated) are kept as salted PBKDF2-SHA256 hashes. The iteration count
is moderate on purpose: a connection storm of thousands of stations checks
thousands of passwords, and these secrets are long and machine-made. API tokens
are 256-bit random values, so a plain SHA-256 is enough to keep them unusable
if the database leaks.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import os
import secrets

PBKDF2_ITERATIONS = 20_000


def hash_password(password: str, *, iterations: int = PBKDF2_ITERATIONS) -> str:
    salt = os.urandom(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    salt_b64, digest_b64 = base64.b64encode(salt).decode(), base64.b64encode(digest).decode()
    return f"pbkdf2_sha256${iterations}${salt_b64}${digest_b64}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, iterations, salt_b64, digest_b64 = stored.split("$")
    except ValueError:
        return False
    if scheme != "pbkdf2_sha256":
        return False
    digest = hashlib.pbkdf2_hmac(
        "sha256", password.encode(), base64.b64decode(salt_b64), int(iterations)
    )
    return hmac.compare_digest(digest, base64.b64decode(digest_b64))


def new_api_token() -> str:
    return "volta_" + secrets.token_urlsafe(32)


def hash_api_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_station_password() -> str:
    """24 URL-safe characters: within OCPP 2.0.1's 16-40 and easy to type."""
    return secrets.token_urlsafe(18)


def source_key(peer: object) -> str:
    """The key a client is throttled by (station sign-ins on the OCPP port,
    dashboard sign-ins on the API port): its IPv4 address, or the /64 of an
    IPv6 one (a single host may hold a whole /64); an IPv4-mapped IPv6
    address counts as its IPv4 address. `peer` is an address or a socket's
    peer tuple; none gives "unknown"."""
    host = peer[0] if isinstance(peer, tuple) and peer else peer
    if not host:
        return "unknown"
    text = str(host)
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return text
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)
