"""The console's pages, in the order of its side menu: one list that the
layout draws and tests/web/test_console_walk.py walks (every page, both
languages, admin and viewer, with an axe-core check)."""

from __future__ import annotations

from dataclasses import dataclass


def N_(message: str) -> str:
    """Marks a string for the catalogue; translated where it is drawn."""
    return message


@dataclass(frozen=True)
class Page:
    path: str
    label: str
    group: str
    admin_only: bool = False

    def active(self, path: str) -> bool:
        if self.path == "/":
            return path == "/" or path.startswith("/stations")
        return path == self.path or path.startswith(self.path + "/")


NETWORK = N_("Network")
ENERGY = N_("Energy and billing")
OPERATIONS = N_("Operations")
INTEGRATIONS = N_("Integrations")
ADMINISTRATION = N_("Administration")

PAGES: list[Page] = [
    Page("/", N_("Stations"), NETWORK),
    Page("/sessions", N_("Sessions"), NETWORK),
    Page("/reservations", N_("Reservations"), NETWORK),
    Page("/tokens", N_("Id tokens"), NETWORK),
    Page("/local-lists", N_("Local lists"), NETWORK),
    Page("/fleet", N_("Fleet"), NETWORK),
    Page("/sites", N_("Sites"), ENERGY),
    Page("/tariffs", N_("Tariffs"), ENERGY),
    Page("/cdrs", N_("CDRs"), ENERGY),
    Page("/firmware", N_("Firmware"), OPERATIONS),
    Page("/files", N_("Files"), OPERATIONS),
    Page("/monitoring", N_("Monitoring"), OPERATIONS),
    Page("/availability", N_("Availability"), OPERATIONS),
    Page("/security", N_("Security"), OPERATIONS),
    Page("/events", N_("Event log"), INTEGRATIONS),
    Page("/webhooks", N_("Webhooks"), INTEGRATIONS),
    Page("/users", N_("Users"), ADMINISTRATION, admin_only=True),
    Page("/account", N_("My account"), ADMINISTRATION),
]


def groups(is_admin: bool) -> list[tuple[str, list[Page]]]:
    out: dict[str, list[Page]] = {}
    for page in PAGES:
        if page.admin_only and not is_admin:
            continue
        out.setdefault(page.group, []).append(page)
    return list(out.items())


ROLES = {"admin": N_("admin"), "viewer": N_("viewer")}
