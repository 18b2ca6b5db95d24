"""The tariff the tests price sessions with: Europe/Berlin, a weekday
17:00-21:00 peak and a weekend energy price, idle fee after 15 minutes'
grace, a session fee and 19% tax."""

from __future__ import annotations

CITY = {
    "name": "City AC",
    "currency": "EUR",
    "price_kwh": "0.30",
    "price_minute": "0.02",
    "price_idle_minute": "0.10",
    "idle_grace_minutes": "15",
    "session_fee": "1.00",
    "tax_percent": "19",
    "timezone": "Europe/Berlin",
    "periods": [
        {
            "name": "peak",
            "days": ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY"],
            "start": "17:00",
            "end": "21:00",
            "price_kwh": "0.45",
            "price_minute": "0.05",
        },
        {"name": "weekend", "days": ["SATURDAY", "SUNDAY"], "price_kwh": "0.25"},
    ],
}
