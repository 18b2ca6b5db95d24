"""The dashboard's files page: firmware images, diagnostics and logs."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
