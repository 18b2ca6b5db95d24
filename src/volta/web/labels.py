"""The words the console shows for OCPP's enumerations (connector status,
registration, authorization, charging state, ...): one place, so every page
says "In carica" for Charging. Draw them with the `label` filter:
`{{ c.status | label }}`; an unknown value is shown as it came."""

from __future__ import annotations

from volta.web.nav import N_

LABELS: dict[str, str] = {
    # Connector / EVSE status (1.6 and 2.0.1).
    "Available": N_("Available"),
    "Preparing": N_("Preparing"),
    "Charging": N_("Charging"),
    "Occupied": N_("Occupied"),
    "SuspendedEV": N_("Suspended by the EV"),
    "SuspendedEVSE": N_("Suspended by the station"),
    "Finishing": N_("Finishing"),
    "Reserved": N_("Reserved"),
    "Unavailable": N_("Unavailable"),
    "Faulted": N_("Faulted"),
    # Registration and authorization.
    "Accepted": N_("Accepted"),
    "Pending": N_("Pending"),
    "Rejected": N_("Rejected"),
    "Blocked": N_("Blocked"),
    "Expired": N_("Expired"),
    "Invalid": N_("Invalid"),
    "Unknown": N_("Unknown"),
    # A session's state.
    "Active": N_("Active"),
    "Ended": N_("Ended"),
    "EVConnected": N_("EV connected"),
    "Idle": N_("Idle"),
    # Online or not.
    "online": N_("online"),
    "offline": N_("offline"),
    # -- part C (billing): reservation states and CDR flags.
    "Requested": N_("Requested"),
    "Used": N_("Used"),
    "Cancelled": N_("Cancelled"),
    "Removed": N_("Removed"),
    "Failed": N_("Failed"),
    "token_refused": N_("Token refused"),
    "station_cost_differs": N_("Station cost differs"),
    # -- (end of part C)
}
