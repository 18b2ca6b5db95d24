"""Customer information (2.0.1 N09/N10)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["customer-information"])
