"""Monitoring: variable monitors and the events stations notify."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["monitoring"])
