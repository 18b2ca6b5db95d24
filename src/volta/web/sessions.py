"""The console's sessions pages (issue 17; filled in by its part)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
