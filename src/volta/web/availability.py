"""The dashboard's availability page and maintenance windows; the charger
profile a station matched."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
