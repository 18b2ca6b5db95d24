"""Display messages (2.0.1 block O)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["display-messages"])
