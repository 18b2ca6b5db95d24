"""The dashboard's availability page, display messages and customer information."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
