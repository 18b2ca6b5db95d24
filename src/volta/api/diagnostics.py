"""Diagnostics and logs: GetDiagnostics and GetLog requests."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["diagnostics"])
