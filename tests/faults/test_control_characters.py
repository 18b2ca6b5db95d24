"""Control characters in a station's strings (issue 12): a charger that puts
`"chargePointVendor": "Acme\\u0000"` in its BootNotification got InternalError
on every boot on PostgreSQL (a NUL cannot be stored), and rebooted for ever.

The code: OCPP-J 1.6 §4.2.3 and 2.0.1 §4.3 define PropertyConstraintViolation
as "Payload is syntactically correct but at least one field contains an
invalid value". The frame is valid JSON and the payload keeps its PDU's
structure and types (so not FormationViolation / FormatViolation, nor
TypeConstraintViolation: the field is a string, as its type wants); it is one
field's value that cannot be taken. 1.6 and 2.0.1 spell the code alike.
"""

from __future__ import annotations

import orjson
import pytest

from tests.conftest import TRANSPORTS
from tests.helpers import RawStation, connect, register
from volta.blocks.provisioning import service as provisioning
from volta.ocpp.schemas import registry
from volta.ocpp.session import CallReceived, OcppSession, Reply, ResultReceived
from volta.ocpp.text import control_character, may_hold_control
from volta.ocpp.versions import Version


@pytest.fixture(params=TRANSPORTS)
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


BOOT_16 = {"chargePointVendor": "Acme\u0000", "chargePointModel": "M1"}
BOOT_201 = {
    "chargingStation": {"model": "M1", "vendorName": "Acme\u0000"},
    "reason": "PowerUp",
}


@pytest.mark.parametrize(
    ("protocol", "payload", "field"),
    [
        ("ocpp1.6", BOOT_16, "chargePointVendor"),
        ("ocpp2.0.1", BOOT_201, "chargingStation/vendorName"),
    ],
)
async def test_nul_in_boot_notification_is_refused_and_connection_lives(
    volta, protocol, payload, field
):
    """The CALL is answered PropertyConstraintViolation naming the field, on
    SQLite and PostgreSQL, nothing of it is stored, and the same station's
    next, clean boot is accepted on the same connection."""
    await register(volta, "NUL-1")
    async with connect(volta, "NUL-1", protocol) as ws:
        raw = RawStation(ws)
        answer = await raw.call("BootNotification", payload)
        assert answer[0] == 4, answer
        assert answer[2] == "PropertyConstraintViolation"
        assert answer[3].startswith(field + ":")
        assert "U+0000" in answer[3]
        row = await provisioning.find_station(volta.db, "NUL-1")
        assert row["vendor"] is None
        clean = orjson.loads(orjson.dumps(payload).decode().replace("\\u0000", ""))
        answer = await raw.call("BootNotification", clean)
        assert answer[0] == 3 and answer[2]["status"] == "Accepted"
        row = await provisioning.find_station(volta.db, "NUL-1")
        assert row["vendor"] == "Acme"


@pytest.mark.parametrize("protocol", ["ocpp1.6", "ocpp2.0.1"])
async def test_other_control_characters_and_keys(volta, protocol):
    """Any C0 control character but TAB, LF and CR, in a value or a key, deep
    in the payload; TAB/LF/CR (a PEM, free text) pass."""
    await register(volta, "CTL-1")
    async with connect(volta, "CTL-1", protocol) as ws:
        raw = RawStation(ws)
        bad = await raw.call("DataTransfer", {"vendorId": "v\u001b[31m"})
        assert bad[2] == "PropertyConstraintViolation" and bad[3].startswith("vendorId:")
        bad = await raw.call("DataTransfer", {"vendorId": "v", "data": "a\u0007b"})
        assert bad[2] == "PropertyConstraintViolation" and bad[3].startswith("data:")
        ok = await raw.call("DataTransfer", {"vendorId": "v", "data": "line 1\r\n\tline 2"})
        assert ok[0] == 3, ok


def test_the_walk_happens_only_when_the_text_has_a_backslash():
    assert not may_hold_control('[2,"1","Heartbeat",{}]')
    assert may_hold_control('[2,"1","Heartbeat",{"a":"\\u0000"}]')
    assert may_hold_control(b'[2,"1","Heartbeat",{"a":"\\b"}]')
    found = control_character({"a": [{"b": "x\x00"}]})
    assert found == "a/0/b: control character U+0000 is not allowed"
    assert control_character({"a\x01": 1}) is not None
    assert control_character({"a": "\t\n\r é"}) is None


@pytest.mark.parametrize("version", list(Version))
def test_session_refuses_control_characters_in_any_validation_mode(version):
    """The database cannot store a NUL whatever the station's validation mode."""
    from volta.ocpp.schemas import Validation

    for mode in Validation:
        session = OcppSession(version, registry(), validation=mode)
        payload = BOOT_16 if version is Version.V16 else BOOT_201
        event = session.receive(orjson.dumps([2, "m1", "BootNotification", payload]))
        assert isinstance(event, Reply), (mode, event)
        assert orjson.loads(event.text)[2] == "PropertyConstraintViolation"
        clean = session.receive(orjson.dumps([2, "m2", "Heartbeat", {}]))
        assert isinstance(clean, CallReceived)


def test_an_answer_with_control_characters_is_kept_scrubbed_with_a_violation():
    """A CALLRESULT cannot be refused: its strings are kept with U+FFFD in
    place of the control characters (so they can be stored) and the outcome
    carries the violation."""
    session = OcppSession(Version.V16, registry())
    pending, _ = session.call("DataTransfer", {"vendorId": "v"}, now=0.0)
    text = orjson.dumps([3, pending.message_id, {"status": "Accepted", "data": "x\u0000y"}])
    event = session.receive(text)
    assert isinstance(event, ResultReceived)
    assert event.payload["data"] == "x\ufffdy"
    assert event.violation is not None and "PropertyConstraintViolation" in event.violation
