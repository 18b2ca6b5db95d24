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
    # -- console part D (webhooks, event log, local lists) --
    "enabled": N_("enabled"),
    "disabled": N_("disabled"),
    "pending": N_("pending"),
    "delivered": N_("delivered"),
    "failed": N_("failed"),
    "connection failed": N_("connection failed"),
    "timeout": N_("timeout"),
    "target address not allowed": N_("target address not allowed"),
    "VersionMismatch": N_("Version mismatch"),
    "Failed": N_("Failed"),
    "NotSupported": N_("Not supported"),
    # (end of part D)
    # -- console part B (sessions): why a session stopped (1.6 Reason, 2.0.1 ReasonEnumType) --
    "DeAuthorized": N_("Deauthorized"),
    "EmergencyStop": N_("Emergency stop"),
    "EnergyLimitReached": N_("Energy limit reached"),
    "EVDisconnected": N_("EV disconnected"),
    "GroundFault": N_("Ground fault"),
    "HardReset": N_("Hard reset"),
    "ImmediateReset": N_("Immediate reset"),
    "Local": N_("Local"),
    "LocalOutOfCredit": N_("Out of credit"),
    "MasterPass": N_("Master pass"),
    "Other": N_("Other"),
    "OvercurrentFault": N_("Overcurrent fault"),
    "PowerLoss": N_("Power loss"),
    "PowerQuality": N_("Power quality"),
    "Reboot": N_("Reboot"),
    "Remote": N_("Remote"),
    "SOCLimitReached": N_("State of charge limit reached"),
    "SoftReset": N_("Soft reset"),
    "StoppedByEV": N_("Stopped by the EV"),
    "TimeLimitReached": N_("Time limit reached"),
    "Timeout": N_("Timeout"),
    "UnlockCommand": N_("Unlock command"),
    "CostLimitReached": N_("Cost limit reached"),
    # -- (end of part B) --
    # -- part F (operations pages): states and kinds of Volta's own records --
    # A site's sharing strategy.
    "equal": N_("equal shares"),
    "priority": N_("by priority"),
    "first_come": N_("first come"),
    # Stored files.
    "firmware": N_("firmware"),
    "diagnostics": N_("diagnostics"),
    "log": N_("log"),
    # Firmware campaigns, their stations and a station's updates.
    "running": N_("running"),
    "paused": N_("paused"),
    "halted": N_("halted"),
    "canceled": N_("canceled"),
    "finished": N_("finished"),
    "in_progress": N_("in progress"),
    "installed": N_("installed"),
    "skipped_offline": N_("skipped (offline)"),
    "sending": N_("sending"),
    # A password's rotation.
    "rotated": N_("rotated"),
    # Device model reports.
    "complete": N_("complete"),
    "receiving": N_("receiving"),
    "requested": N_("requested"),
    "refused": N_("refused"),
    # A monitor set applied to a station.
    "applied": N_("applied"),
    "skipped": N_("skipped"),
    # OCPP statuses shown on these pages.
    "Signed": N_("Signed"),
    "Reported": N_("Reported"),
    "Requested": N_("Requested"),
    "NotFound": N_("Not found"),
    "RebootRequired": N_("Reboot required"),
    # -- part A (stations): what became of a command sent from the station page.
    "accepted": N_("accepted"),
    "rejected": N_("rejected"),
    "error": N_("error"),
    "invalid": N_("invalid"),
    # (end of part A)
    # -- part C (billing): reservation states and CDR flags.
    "Used": N_("Used"),
    "Cancelled": N_("Cancelled"),
    "Removed": N_("Removed"),
    "token_refused": N_("Token refused"),
    "station_cost_differs": N_("Station cost differs"),
    # -- (end of part C)
}
