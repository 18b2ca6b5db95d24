"""Availability reporting: uptime per EVSE and per site."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["availability"])
