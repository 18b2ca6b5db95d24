"""The dashboard's display messages and customer information of a station."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
