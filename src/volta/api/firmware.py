"""Firmware: updates of one station and firmware campaigns."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["firmware"])
