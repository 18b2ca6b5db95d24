"""The OCPP port's TLS: what the specification allows, both certificate kinds,
client certificates (security profile 3), and files reloaded without a restart.

- TLS 1.2 or newer only (OCPP 2.0.1 Part 2 A00.FR.314 / A00.FR.315, the 1.6
  security whitepaper §2.3: "TLS v1.2 or above").
- TLS 1.2 cipher suites: exactly the ones the specification lists for a CSMS
  (2.0.1 A00.FR.318, whitepaper §2.3), with an RSA certificate
  TLS_RSA_WITH_AES_128_GCM_SHA256 / _256_GCM_SHA384 and with an ECDSA one
  TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 / _256_GCM_SHA384, plus their
  forward-secret ECDHE_RSA twins (TLS_ECDHE_RSA_WITH_AES_128/256_GCM), which
  every station that offers the RSA ones also offers in practice. TLS 1.3
  keeps OpenSSL's suites (all AEAD; Python cannot narrow them).
- An RSA and an ECDSA certificate at once (`tls_cert` / `tls_key` and
  `tls_cert_ecdsa` / `tls_key_ecdsa`): OpenSSL holds one per key type and
  picks by what the client offers.
- Client certificates (`tls_client_ca`): asked for, optional (CERT_OPTIONAL),
  so one port serves profiles 2 and 3; one that is presented must verify
  against the CAs and, with `tls_client_crl`, not be revoked (OpenSSL checks
  the leaf), else OpenSSL ends the handshake before any HTTP is read.
- Reload: the files' modification times are checked every
  `tls_reload_interval` s (and by `reload()`, e.g. from the API); a change
  builds a new context that new handshakes use (switched in the ClientHello
  callback); open connections keep theirs. A context that fails to build
  (a half-written file) is logged and the old one kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import ssl
from dataclasses import dataclass
from typing import Any

from volta.config import Settings

log = logging.getLogger(__name__)

# OpenSSL names of the TLS 1.2 suites allowed (A00.FR.318), in preference order.
TLS12_CIPHERS = (
    "ECDHE-ECDSA-AES128-GCM-SHA256",  # TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
    "ECDHE-ECDSA-AES256-GCM-SHA384",  # TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
    "ECDHE-RSA-AES128-GCM-SHA256",  # TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
    "ECDHE-RSA-AES256-GCM-SHA384",  # TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384
    "AES128-GCM-SHA256",  # TLS_RSA_WITH_AES_128_GCM_SHA256
    "AES256-GCM-SHA384",  # TLS_RSA_WITH_AES_256_GCM_SHA384
)


@dataclass(frozen=True, slots=True)
class TlsFacts:
    """What the admission knows of a connection's TLS: whether it is TLS at
    all, and the subject common name of the client certificate OpenSSL
    verified (None: none was presented)."""

    tls: bool
    client_cn: str | None = None
    # The client certificate's subject organizationName (None: none).
    client_org: str | None = None

    @property
    def profile(self) -> int:
        """The security profile the connection gives: 3 with a verified
        client certificate, 2 with TLS, 1 without."""
        if not self.tls:
            return 1
        return 3 if self.client_cn is not None else 2


PLAIN = TlsFacts(tls=False)


def facts_of(ssl_object: object) -> TlsFacts:
    """The TLS facts of a transport's `ssl_object` extra (None: plain)."""
    if not isinstance(ssl_object, ssl.SSLObject | ssl.SSLSocket):
        return PLAIN
    peer = ssl_object.getpeercert()
    if not peer:  # no certificate (or, never here, one OpenSSL did not verify)
        return TlsFacts(tls=True)
    cn = org = None
    subject: Any = peer.get("subject", ())
    for rdn in subject:
        for name, value in rdn:
            if name == "commonName":
                cn = str(value)
            elif name == "organizationName":
                org = str(value)
    return TlsFacts(tls=True, client_cn=cn if cn is not None else "", client_org=org)


class TlsContexts:
    """The server context for the listening sockets, and the current one
    each new handshake switches to."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._current = self._build()
        self._stamp = self._stamps()
        self.reloads = 0
        # The listening sockets keep this one; its ClientHello callback hands
        # each handshake the current context.
        self.front = self._current
        self.front.sni_callback = self._switch
        self._task: asyncio.Task[None] | None = None

    def _files(self) -> list[str]:
        s = self.settings
        names = [s.tls_cert, s.tls_key, s.tls_cert_ecdsa, s.tls_key_ecdsa, s.tls_client_ca]
        names += [p.strip() for p in s.tls_client_crl.split(",") if p.strip()]
        return [n for n in names if n]

    def _stamps(self) -> tuple[tuple[str, int, int], ...]:
        stamps = []
        for name in self._files():
            try:
                st = os.stat(name)
            except OSError:
                stamps.append((name, -1, -1))
                continue
            stamps.append((name, st.st_mtime_ns, st.st_size))
            if os.path.isdir(name):
                for entry in sorted(os.scandir(name), key=lambda e: e.name):
                    with contextlib.suppress(OSError):
                        est = entry.stat()
                        stamps.append((entry.path, est.st_mtime_ns, est.st_size))
        return tuple(stamps)

    def _build(self) -> ssl.SSLContext:
        s = self.settings
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2  # A00.FR.314
        context.set_ciphers(":".join(TLS12_CIPHERS))
        context.options |= ssl.OP_CIPHER_SERVER_PREFERENCE | ssl.OP_NO_COMPRESSION
        if s.tls_cert:
            context.load_cert_chain(s.tls_cert, s.tls_key or None)
        if s.tls_cert_ecdsa:
            context.load_cert_chain(s.tls_cert_ecdsa, s.tls_key_ecdsa or None)
        if s.tls_client_ca:
            if os.path.isdir(s.tls_client_ca):
                context.load_verify_locations(capath=s.tls_client_ca)
            else:
                context.load_verify_locations(cafile=s.tls_client_ca)
            context.verify_mode = ssl.CERT_OPTIONAL
            crls = [p.strip() for p in s.tls_client_crl.split(",") if p.strip()]
            for crl in crls:
                context.load_verify_locations(cafile=crl)
            if crls:
                context.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
        return context

    def _switch(
        self, ssl_object: ssl.SSLObject | ssl.SSLSocket, server_name: str | None, _: ssl.SSLContext
    ) -> None:
        if self._current is not self.front:
            ssl_object.context = self._current

    def reload(self) -> bool:
        """Load the files again when they changed; True when a new context
        is in use."""
        stamp = self._stamps()
        if stamp == self._stamp:
            return False
        try:
            context = self._build()
        except (OSError, ssl.SSLError, ValueError) as exc:
            # Perhaps a half-written file: the old context stays, and the
            # next check tries again (the stamp is not taken).
            log.warning("TLS files changed but could not be loaded (%s); keeping the old ones", exc)
            return False
        self._current, self._stamp = context, stamp
        self.reloads += 1
        log.info("TLS certificate, key, CA or CRL files reloaded")
        return True

    def start(self) -> None:
        interval = self.settings.tls_reload_interval
        if interval > 0 and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._watch(interval))

    async def _watch(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await asyncio.to_thread(self.reload)
            except Exception:  # pragma: no cover - never let the watch die
                log.exception("TLS reload check failed")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
