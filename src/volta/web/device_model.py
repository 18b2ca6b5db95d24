"""The dashboard's device model page of a station: components, variables, configuration keys."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
