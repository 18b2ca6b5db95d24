"""Availability reporting: uptime per EVSE and per site over a period, from
connectivity and status, less the planned maintenance the operator marks."""
