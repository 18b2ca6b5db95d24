"""Plug & Charge: contract certificates, OCSP, EV certificate provider."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["plug-and-charge"])
