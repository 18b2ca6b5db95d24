"""Certificates: the certificate authority, CSRs, certificates installed in stations."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["certificates"])
