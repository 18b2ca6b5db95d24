"""The OCPP versions Volta speaks, named by their WebSocket subprotocol."""

from __future__ import annotations

import enum


class Version(enum.StrEnum):
    V16 = "ocpp1.6"
    V201 = "ocpp2.0.1"
    V21 = "ocpp2.1"

    @property
    def schema_dir(self) -> str:
        """Folder of the official JSON schemas inside the PyPI `ocpp` package."""
        return {Version.V16: "v16", Version.V201: "v201", Version.V21: "v21"}[self]

    @property
    def label(self) -> str:
        return {Version.V16: "1.6", Version.V201: "2.0.1", Version.V21: "2.1"}[self]

    @property
    def modern(self) -> bool:
        """2.0.1 or a later version built on it (2.1): the device model,
        TransactionEvent, EVSEs. Code that serves 2.0.1 serves these too
        unless a later version's own table says otherwise."""
        return self is not Version.V16


# Order of preference when a client offers several (we still honour the
# client's order, OCPP-J 2.0.1 §3.1.2: the client lists them by preference).
# 2.0.1 and the versions built on it, as stored in `stations.protocol`.
MODERN: tuple[str, ...] = (Version.V201.value, Version.V21.value)

SUPPORTED: tuple[Version, ...] = (Version.V21, Version.V201, Version.V16)


def parse_version(value: str) -> Version:
    """Accept 'ocpp1.6', '1.6', 'ocpp2.0.1', '2.0.1', 'ocpp2.1', '2.1' (case-insensitive)."""
    v = value.strip().lower()
    if not v.startswith("ocpp"):
        v = "ocpp" + v
    try:
        return Version(v)
    except ValueError:
        raise ValueError(f"unknown OCPP version {value!r} (expected 1.6, 2.0.1 or 2.1)") from None
