"""Events reach a real HTTP webhook receiver exactly once per event, in
order, signed, when the receiver fails at first and when Volta restarts in
between (the outbox is the database)."""

from __future__ import annotations

import pytest
from ocpp.v16 import call as call16

from tests.conftest import make_settings
from tests.events.receiver import running_receiver
from tests.helpers import add_token, now_iso, register, station, wait_until
from volta.app import Volta

# The receivers are on loopback: these tests opt in to internal targets
# (refused by default; tests/events/test_webhook_targets.py).
FAST_RETRIES = {
    "webhook_retry_base": 0.2,
    "webhook_max_attempts": 50,
    "housekeeping_interval": 0.2,
    "webhook_allow_private_targets": True,
}


@pytest.fixture
def volta_settings():
    return dict(FAST_RETRIES)


def session16(tag: str, tx_holder: dict):
    """The messages of a 1.6 session, to send one by one."""

    async def run(cp) -> None:
        await cp.call(call16.BootNotification(charge_point_vendor="v", charge_point_model="m"))
        await cp.call(status16(1, "Preparing"))
        started = await cp.call(
            call16.StartTransaction(
                connector_id=1, id_tag=tag, meter_start=1000, timestamp=now_iso()
            )
        )
        tx_holder["id"] = started.transaction_id
        await cp.call(status16(1, "Charging"))
        await cp.call(
            call16.MeterValues(
                connector_id=1,
                transaction_id=started.transaction_id,
                meter_value=[
                    {
                        "timestamp": now_iso(),
                        "sampled_value": [
                            {"value": "4000", "measurand": "Energy.Active.Import.Register"},
                            {"value": "85", "measurand": "SoC", "unit": "Percent"},
                        ],
                    }
                ],
            )
        )
        await cp.call(status16(1, "SuspendedEV"))
        await cp.call(
            call16.StopTransaction(
                transaction_id=started.transaction_id, meter_stop=5000, timestamp=now_iso()
            )
        )
        await cp.call(status16(1, "Faulted", error_code="GroundFailure"))

    return run


def status16(connector: int, status: str, error_code: str = "NoError"):
    return call16.StatusNotification(
        connector_id=connector, error_code=error_code, status=status, timestamp=now_iso()
    )


EXPECTED = [
    "station.online",
    "ev.connected",
    "session.started",
    "charging.started",
    "soc.reached",
    "charging.suspended_ev",
    "session.ended",
    "fault.reported",
    "station.offline",
]


async def test_every_event_once_despite_failures_and_restart(volta, api, database):
    await register(volta, "WH-1")
    await add_token(volta, "WH-CARD")
    async with running_receiver(fail_next=10**6) as receiver:
        resp = await api.post(
            "/api/v1/webhooks", json={"url": receiver.url, "description": "billing"}
        )
        assert resp.status_code == 201, resp.text
        hook = resp.json()
        receiver.secret = hook["secret"]
        assert hook["secret"].startswith("whsec_")
        assert "secret" not in (await api.get(f"/api/v1/webhooks/{hook['id']}")).json()

        tx: dict = {}
        async with station(volta, "WH-1") as cp:
            await session16("WH-CARD", tx)(cp)
        # The receiver refuses everything so far: retries pile up.
        assert await wait_until(lambda: receiver.refused >= 3)
        log = (await api.get(f"/api/v1/webhooks/{hook['id']}/deliveries")).json()
        assert {d["status"] for d in log} == {"pending"}
        assert max(d["attempts"] for d in log) >= 1
        assert any(d["last_status_code"] == 500 for d in log)

        # Volta stops with everything pending, and starts again on the same
        # database; the receiver is well now.
        await volta.stop()
        receiver.fail_next = 0
        again = Volta(
            make_settings(database, api_token="test-api-token", **FAST_RETRIES),
            db_schema=database.schema,
        )
        await again.start()
        try:
            assert await wait_until(lambda: len(receiver.accepted) >= 9)
            # ... and nothing more arrives: each event exactly once.
            assert not await wait_until(lambda: len(receiver.accepted) > 9, timeout=1.0)
        finally:
            await again.stop()
            # Let the fixture's stop (of the first instance) be a no-op.
            await volta.start()
    assert receiver.types() == EXPECTED
    assert receiver.ids() == sorted(receiver.ids())
    assert receiver.bad_signatures == 0
    ended = receiver.accepted[EXPECTED.index("session.ended")]["data"]
    assert ended["transaction_id"] == tx["id"]
    assert (ended["energy_wh"], ended["stop_reason"]) == (4000, "Local")
    soc = receiver.accepted[EXPECTED.index("soc.reached")]["data"]
    assert (soc["threshold"], soc["soc"]) == (80.0, 85.0)
    fault = receiver.accepted[EXPECTED.index("fault.reported")]["data"]
    assert (fault["status"], fault["error_code"]) == ("Faulted", "GroundFailure")
    first = receiver.headers[0]
    assert first["x-volta-event-type"] == "station.online"
    assert first["x-volta-event-id"] == str(receiver.ids()[0])


async def test_filters_failure_and_api_errors(volta, api):
    await register(volta, "WH-2")
    async with running_receiver(fail_next=10**6) as receiver:
        volta.services.settings.webhook_max_attempts = 2
        hook = (
            await api.post(
                "/api/v1/webhooks",
                json={"url": receiver.url, "event_types": ["station.offline"]},
            )
        ).json()
        receiver.secret = hook["secret"]
        async with station(volta, "WH-2") as cp:
            await cp.call(call16.BootNotification(charge_point_vendor="v", charge_point_model="m"))

        async def failed() -> bool:
            log = (await api.get(f"/api/v1/webhooks/{hook['id']}/deliveries")).json()
            return len(log) == 1 and log[0]["status"] == "failed"

        # Only station.offline was wanted; it failed for good after 2 attempts.
        assert await wait_until(failed)
        log = (await api.get(f"/api/v1/webhooks/{hook['id']}/deliveries")).json()
        assert (log[0]["event_type"], log[0]["attempts"]) == ("station.offline", 2)
        assert receiver.refused == 2

    for body, message in [
        ({"url": "ftp://x/y"}, "https"),
        ({"url": "http://example.com/hook"}, "https"),
        ({"url": "https://example.com/h", "event_types": ["nope"]}, "event_types"),
        ({"url": "https://example.com/h", "event_types": []}, "event_types"),
    ]:
        resp = await api.post("/api/v1/webhooks", json=body)
        assert resp.status_code == 422, body
        assert message in resp.text, (body, resp.text)
    resp = await api.patch(f"/api/v1/webhooks/{hook['id']}", json={"active": False})
    assert resp.json()["active"] is False
    assert (await api.delete(f"/api/v1/webhooks/{hook['id']}")).status_code == 204
    assert (await api.get(f"/api/v1/webhooks/{hook['id']}")).status_code == 404
