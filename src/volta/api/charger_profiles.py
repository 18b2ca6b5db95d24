"""Charger profiles: per vendor, model and firmware range."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["charger-profiles"])
