"""The dashboard's monitoring page: the events stations notify, and monitors."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
