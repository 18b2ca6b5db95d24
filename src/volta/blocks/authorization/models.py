"""What operators give about an id token, typed: the inputs the HTTP API, the
dashboard and the CLI validate alike, and the limits a session can carry."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, field_validator

from volta.blocks.provisioning.models import not_null

TokenStatus = Literal["Accepted", "Blocked", "Expired", "Invalid"]
TokenType = Literal[
    "Central",
    "eMAID",
    "ISO14443",
    "ISO15693",
    "KeyCode",
    "Local",
    "MacAddress",
    "NoAuthorization",
]


class Limits(BaseModel):
    """Stop the session when one is reached (any may be left out)."""

    # Bounded to what the columns hold (a 32-bit integer; a finite float):
    # beyond, PostgreSQL refused the value with a 500.
    energy_wh: float | None = Field(
        None, gt=0, le=1e12, allow_inf_nan=False, description="energy delivered, Wh"
    )
    seconds: int | None = Field(
        None, gt=0, le=2**31 - 1, description="time since the session started"
    )
    cost: Decimal | None = Field(
        None, gt=0, max_digits=12, decimal_places=4, description="cost incl. tax, tariff currency"
    )

    def columns(self) -> dict[str, Any]:
        values = {
            "limit_energy_wh": self.energy_wh,
            "limit_seconds": self.seconds,
            "limit_cost": str(self.cost) if self.cost is not None else None,
        }
        return {k: v for k, v in values.items() if v is not None}


Language = Annotated[str, Field(max_length=8, pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")]


class IdTokenCreate(BaseModel):
    token: str = Field(min_length=1, max_length=36)
    type: TokenType = "ISO14443"
    status: TokenStatus = "Accepted"
    expires_at: dt.datetime | None = None
    group_id: str | None = Field(default=None, max_length=36)
    language1: Language | None = Field(default=None, description="preferred language (RFC 5646)")
    language2: Language | None = None
    note: str | None = Field(default=None, max_length=200)
    limits: Limits | None = Field(
        default=None, description="applied to every session of this token"
    )


class IdTokenUpdate(BaseModel):
    type: TokenType | None = None
    status: TokenStatus | None = None
    expires_at: dt.datetime | None = None
    group_id: str | None = Field(None, max_length=36)
    language1: Language | None = None
    language2: Language | None = None
    note: str | None = Field(None, max_length=200)
    limits: Limits | None = Field(None, description="replaces the token's limits; {} clears them")

    @field_validator("type", "status")
    @classmethod
    def _required(cls, value: Any) -> Any:
        return not_null(value)
