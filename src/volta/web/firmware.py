"""The dashboard's firmware pages: campaigns and their progress."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
