"""The device model: components, variables and 1.6 configuration keys per station."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["device-model"])
