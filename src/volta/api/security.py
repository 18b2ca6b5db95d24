"""Security: security events, password rotation, station security profiles."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["security"])
