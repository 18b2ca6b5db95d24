"""The security event log on both databases: SecurityEventNotification from
1.6 (security whitepaper) and 2.0.1 (A04) stations stored with the right
critical flag, listed by the API with filters, delivered to a webhook as
`security.event`; Volta's own failed sign-ins in the same log; bad filters
answered 422 in the documented JSON shape."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa
import websockets
from websockets.exceptions import InvalidStatus

from tests.conformance.conftest import Station
from tests.events.receiver import running_receiver
from tests.helpers import basic_auth, connect, now_iso, register, wait_until, ws_url
from volta.app import Volta
from volta.blocks.security import log as security_log
from volta.store.models import SecurityEvent
from volta.store.retention import Retention

PASSWORD = "station-password-42"


@pytest.fixture
def volta_settings() -> dict[str, object]:
    # The receiver is on loopback (internal targets are refused by default).
    return {"webhook_allow_private_targets": True, "webhook_retry_base": 0.2}


async def booted(volta: Volta, ws: Any, protocol: str) -> Station:
    st = Station(ws, {})
    if protocol == "ocpp2.0.1":
        boot = {"reason": "PowerUp", "chargingStation": {"model": "M", "vendorName": "V"}}
    else:
        boot = {"chargePointVendor": "V", "chargePointModel": "M"}
    assert (await st.call("BootNotification", boot))["status"] == "Accepted"
    return st


async def test_notifications_of_both_versions_stored_listed_and_delivered(volta, api):
    """1.6 TC_077/078_CSMS-style and 2.0.1 A04: each SecurityEventNotification
    is answered with an empty payload once stored; critical by the OCPP list
    (TamperDetectionActivated yes, InvalidChargePointCertificate no, an unknown
    type no); the webhook gets security.event with the severity."""
    async with running_receiver() as receiver:
        r = await api.post(
            "/api/v1/webhooks", json={"url": receiver.url, "event_types": ["security.event"]}
        )
        assert r.status_code == 201, r.text
        receiver.secret = r.json()["secret"]
        await register(volta, "CP16", password=PASSWORD)
        await register(volta, "CS201", password=PASSWORD)
        async with connect(volta, "CP16", "ocpp1.6", PASSWORD) as ws16:
            cp = await booted(volta, ws16, "ocpp1.6")
            when = "2026-01-02T03:04:05Z"
            assert (
                await cp.call(
                    "SecurityEventNotification",
                    {"type": "InvalidChargePointCertificate", "timestamp": when},
                )
                == {}
            )
            assert (
                await cp.call(
                    "SecurityEventNotification",
                    {"type": "TamperDetectionActivated", "timestamp": now_iso(), "techInfo": "lid"},
                )
                == {}
            )
            await cp.close()
        async with connect(volta, "CS201", "ocpp2.0.1", PASSWORD) as ws201:
            cs = await booted(volta, ws201, "ocpp2.0.1")
            for kind in ("FirmwareUpdated", "SomethingVendorSpecific"):
                assert (
                    await cs.call(
                        "SecurityEventNotification", {"type": kind, "timestamp": now_iso()}
                    )
                    == {}
                )
            await cs.close()
        assert await wait_until(lambda: len(receiver.accepted) >= 4)
    delivered = {e["data"]["kind"]: e["data"] for e in receiver.accepted}
    assert delivered["TamperDetectionActivated"]["critical"] is True
    assert delivered["TamperDetectionActivated"]["severity"] == "critical"
    assert delivered["TamperDetectionActivated"]["tech_info"] == "lid"
    assert delivered["InvalidChargePointCertificate"]["critical"] is False
    assert delivered["FirmwareUpdated"]["station_id"] == "CS201"
    assert receiver.types() == ["security.event"] * 4 and receiver.bad_signatures == 0

    listed = (await api.get("/api/v1/security-events")).json()
    assert [e["type"] for e in listed] == [
        "SomethingVendorSpecific",
        "FirmwareUpdated",
        "TamperDetectionActivated",
        "InvalidChargePointCertificate",
    ]
    assert [e["critical"] for e in listed] == [False, True, True, False]
    assert {e["origin"] for e in listed} == {"station"}
    assert listed[-1]["timestamp"].startswith("2026-01-02T03:04:05")

    async def types(**params: Any) -> list[str]:
        r = await api.get("/api/v1/security-events", params=params)
        assert r.status_code == 200, r.text
        return [e["type"] for e in r.json()]

    assert await types(station_id="CP16") == [
        "TamperDetectionActivated",
        "InvalidChargePointCertificate",
    ]
    assert await types(critical="true") == ["FirmwareUpdated", "TamperDetectionActivated"]
    assert await types(type="FirmwareUpdated") == ["FirmwareUpdated"]
    assert await types(origin="volta") == []
    assert await types(until="2026-06-01T00:00:00Z") == ["InvalidChargePointCertificate"]
    assert "InvalidChargePointCertificate" not in await types(since="2026-06-01T00:00:00Z")
    assert await types(limit=1, offset=1) == ["FirmwareUpdated"]


async def test_bounded_and_never_raising(volta):
    """What is stored is bounded by the schema lengths (type 50, techInfo 255)
    whatever a caller passes; record() never raises."""
    await security_log.record(volta.services, "X", "T" * 400, tech_info="i" * 10_000)
    (event,) = await security_log.list_events(volta.db)
    assert len(event.type) == 50 and event.tech_info is not None and len(event.tech_info) == 255
    assert event.origin == "volta" and event.critical is False


async def test_failed_sign_ins_are_security_events(volta, api):
    """Volta's own: a wrong password for a known station is recorded (origin
    volta), without the password tried."""
    await register(volta, "CPX", password=PASSWORD)
    with pytest.raises(InvalidStatus):
        async with websockets.connect(
            ws_url(volta, "CPX"),
            subprotocols=["ocpp1.6"],  # type: ignore[list-item]
            additional_headers=basic_auth("CPX", "guessed-wrong-password"),
            open_timeout=5,
        ):
            pass

    async def recorded() -> list[dict[str, Any]]:
        r = await api.get("/api/v1/security-events", params={"origin": "volta"})
        return list(r.json())

    assert await wait_until(recorded)
    (event,) = await recorded()
    assert event["station_id"] == "CPX" and event["type"] == "StationSignInFailed"
    assert "guessed-wrong-password" not in str(event)


@pytest.mark.parametrize(
    "params",
    [
        {"critical": "maybe"},
        {"since": "yesterday"},
        {"since": "2026-01-01T00:00:00"},  # no zone: ambiguous
        {"since": "2026-02-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"},
        {"origin": "someone"},
        {"limit": "0"},
        {"limit": "100000"},
        {"offset": "-1"},
        {"station_id": "x" * 49},
    ],
)
async def test_bad_filters_are_422(api, params):
    r = await api.get("/api/v1/security-events", params=params)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/json")
    assert "detail" in r.json()


def test_critical_list() -> None:
    """OCPP 2.0.1 Part 2 appendix / 1.6 whitepaper: which events are critical."""
    assert security_log.is_critical("ResetOrReboot")
    assert security_log.is_critical("SecurityLogWasCleared")
    assert not security_log.is_critical("InvalidChargingStationCertificate")
    assert not security_log.is_critical("FailedToAuthenticateAtCsms")
    assert not security_log.is_critical("Nonsense")


async def test_retention_prunes_old_security_events(volta):
    """retention_security_events_days (365): older rows go, younger stay."""
    await security_log.record(volta.services, "OLD", "InvalidMessages", origin="station")
    await security_log.record(volta.services, "NEW", "InvalidMessages", origin="station")
    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=400)
    async with volta.db.write() as conn:
        await conn.execute(
            sa.update(SecurityEvent)
            .where(SecurityEvent.station_id == "OLD")
            .values(received_at=old)
        )
    deleted = await Retention(volta.db, volta.services.settings).prune()
    assert deleted["security_events"] == 1
    assert [e.station_id for e in await security_log.list_events(volta.db)] == ["NEW"]


class TestBlockedSignIns:
    @pytest.fixture
    def volta_settings(self) -> dict[str, object]:
        return {"auth_failures_per_station": 2, "auth_failures_per_address": 100}

    async def test_a_blocked_station_id_is_a_security_event(self, volta, api):
        """When failed sign-ins block a station id (security.auth_failures),
        the security event log says so too (StationSignInsBlocked)."""
        await register(volta, "CPB", password=PASSWORD)
        for attempt in range(3):
            with pytest.raises(InvalidStatus):
                async with websockets.connect(
                    ws_url(volta, "CPB"),
                    subprotocols=["ocpp1.6"],  # type: ignore[list-item]
                    additional_headers=basic_auth("CPB", f"wrong-password-{attempt}"),
                    open_timeout=5,
                ):
                    pass

        async def blocked() -> list[dict[str, Any]]:
            r = await api.get("/api/v1/security-events", params={"type": "StationSignInsBlocked"})
            return list(r.json())

        assert await wait_until(blocked)
        (event,) = await blocked()
        assert event["station_id"] == "CPB" and event["origin"] == "volta"
        assert "failed sign-ins on its id" in event["tech_info"]
