"""Charger profiles over real WebSockets, on both databases: a profile is
matched at boot, its configuration sent, the deviation it names accepted
from that charger (and from its next connection on) and still refused from
another charger; the shipped profiles each cite a public source."""

from __future__ import annotations

import asyncio

import pytest

from tests.helpers import now_iso, register, station, wait_until
from volta.blocks.charger_profiles import profiles as profile_data
from volta.blocks.charger_profiles.profiles import ProfileError, firmware_matches, parse
from volta.ocpp.errors import OcppError
from volta.ocpp.schemas import Deviation, Tolerated, registry
from volta.ocpp.versions import Version

OPERATOR_PROFILES = """
[[profile]]
id = "acme-wall"
vendor = "acme"
model = "Wall-*"
firmware = ">=1.2, <2"
description = "Acme Wall chargers in the test fleet"
source = "the test"

[[profile.tolerate]]
action = "MeterValues"
path = "meterValue/*/sampledValue/*/context"
kind = "enum"
reason = "sends CurrentMax"

[[profile.configure]]
key = "MeterValueSampleInterval"
value = 60
reason = "readings every minute"

[[profile]]
id = "volt-dc"
vendor = "Volt"
model = "DC-*"
source = "the test"

[[profile.tolerate]]
action = "StatusNotification"
path = "vendorNote"
kind = "extra"
reason = "adds a field of its own"

[[profile.configure]]
component = "SampledDataCtrlr"
variable = "TxUpdatedInterval"
value = "60"
reason = "readings every minute"
"""


@pytest.fixture
def volta_settings(tmp_path):
    path = tmp_path / "profiles.toml"
    path.write_text(OPERATOR_PROFILES)
    return {"charger_profiles_file": str(path)}


class _Lenient:
    """The test charger's own schemas, checking nothing it sends: it must be
    able to send the deviations a real charger sends."""

    def __init__(self) -> None:
        self._real = registry()

    def knows(self, version, action):
        return self._real.knows(version, action)

    def validate(self, *args, **kwargs):
        return None


def lenient(cp):
    cp.link.session._schemas = _Lenient()
    return cp


def meter_values(context: str, unit: str = "Wh") -> dict:
    sample = {"value": "10", "context": context, "unit": unit}
    return {"connectorId": 1, "meterValue": [{"timestamp": now_iso(), "sampledValue": [sample]}]}


async def boot16(cp, vendor: str, model: str, firmware: str) -> None:
    answer = await cp.call(
        "BootNotification",
        {"chargePointVendor": vendor, "chargePointModel": model, "firmwareVersion": firmware},
    )
    assert answer["status"] == "Accepted"


async def test_a_16_profile_configures_and_tolerates_only_its_charger(volta, api):
    await register(volta, "ACME-1")
    await register(volta, "OTHER-1")
    async with station(volta, "ACME-1", "1.6") as acme, station(volta, "OTHER-1", "1.6") as other:
        lenient(acme), lenient(other)
        await boot16(acme, "ACME", "Wall-22", "FW 1.4.2")
        await boot16(other, "Elsewhere", "Wall-22", "1.4.2")
        # Its configuration, sent after the accepted boot.
        assert await wait_until(
            lambda: (
                ("ChangeConfiguration", {"key": "MeterValueSampleInterval", "value": "60"})
                in acme.received
            )
        )
        # The named deviation passes from this charger...
        assert await acme.call("MeterValues", meter_values("CurrentMax")) == {}
        # ... any other deviation of the same message does not ...
        assert await acme.call("MeterValues", meter_values("Sample.Periodic", unit="Bogus")) is None
        # ... and the same deviation from another charger is refused.
        assert await other.call("MeterValues", meter_values("CurrentMax")) is None
        await asyncio.sleep(0.2)
        assert not any(a == "ChangeConfiguration" for a, _ in other.received)
    match = (await api.get("/api/v1/charger-profiles/stations/ACME-1")).json()
    assert match["profile"] == "acme-wall"
    assert (await api.get("/api/v1/charger-profiles/stations/OTHER-1")).json()["profile"] is None
    listed = (await api.get("/api/v1/charger-profiles/stations")).json()
    assert [m["station_id"] for m in listed] == ["ACME-1"]
    # Reconnected: tolerated from its first message, before any boot.
    async with station(volta, "ACME-1", "1.6") as acme:
        lenient(acme)
        assert await acme.call("MeterValues", meter_values("CurrentMax")) == {}


async def test_a_firmware_outside_the_range_matches_nothing(volta, api):
    await register(volta, "ACME-OLD")
    async with station(volta, "ACME-OLD", "1.6") as cp:
        lenient(cp)
        await boot16(cp, "Acme", "Wall-22", "1.1.9")
        assert await cp.call("MeterValues", meter_values("CurrentMax")) is None
        assert await cp.call("Heartbeat", {})
    assert (await api.get("/api/v1/charger-profiles/stations/ACME-OLD")).json()["profile"] is None


async def test_a_201_profile_sets_variables_and_tolerates_an_extra_field(volta, api):
    await register(volta, "VOLT-1")
    status = {
        "timestamp": now_iso(),
        "connectorStatus": "Available",
        "evseId": 1,
        "connectorId": 1,
        "vendorNote": "ok",
    }
    async with station(volta, "VOLT-1", "2.0.1") as cp:
        lenient(cp)
        assert await cp.call("StatusNotification", status) is None  # no profile yet
        answer = await cp.call(
            "BootNotification",
            {"chargingStation": {"vendorName": "Volt", "model": "DC-150"}, "reason": "PowerUp"},
        )
        assert answer["status"] == "Accepted"
        assert await wait_until(lambda: any(a == "SetVariables" for a, _ in cp.received))
        sent = next(p for a, p in cp.received if a == "SetVariables")
        assert sent["set_variable_data"][0]["component"] == {"name": "SampledDataCtrlr"}
        assert sent["set_variable_data"][0]["attribute_value"] == "60"
        assert await cp.call("StatusNotification", status) == {}
        # An extra field elsewhere is still refused.
        assert await cp.call("StatusNotification", {**status, "other": 1}) is None


async def test_the_api_lists_the_operator_profiles_first_then_the_shipped(api):
    body = (await api.get("/api/v1/charger-profiles")).json()
    ids = [p["id"] for p in body]
    assert ids[:2] == ["acme-wall", "volt-dc"]
    assert "alfen-metervalue-context" in ids
    assert body[0]["configure"][0]["value"] == "60"
    one = (await api.get("/api/v1/charger-profiles/alfen-metervalue-context")).json()
    assert one["origin"] == "shipped" and one["source"].startswith("https://")
    assert (await api.get("/api/v1/charger-profiles/nope")).status_code == 404
    assert (await api.get("/api/v1/charger-profiles/stations/NOPE")).status_code == 404


# -- without a server -----------------------------------------------------------------


def test_every_shipped_profile_cites_a_public_source_and_gives_reasons():
    shipped = profile_data.shipped()
    assert len(shipped) >= 4
    for p in shipped:
        assert p.source.startswith("https://"), p.id
        assert p.tolerate or p.configure
        assert all(t.reason for t in p.tolerate) and all(s.reason for s in p.configure)


def test_the_shipped_alfen_profile_accepts_the_documented_message():
    # The message of https://github.com/lbbrhzn/ocpp/issues/361, shortened.
    payload = {
        "connectorId": 1,
        "transactionId": 1,
        "meterValue": [
            {
                "timestamp": "2020-09-19T15:14:23Z",
                "sampledValue": [
                    {"value": "15.630", "context": "Sample.Periodic", "unit": "A"},
                    {"value": "16.000", "context": "CurrentMax", "unit": "A"},
                ],
            }
        ],
    }
    alfen = next(p for p in profile_data.shipped() if p.id == "alfen-metervalue-context")
    schemas = registry()
    with pytest.raises(OcppError):
        schemas.validate(Version.V16, "MeterValues", payload)
    schemas.validate(
        Version.V16, "MeterValues", payload, tolerated=Tolerated(alfen.deviations, alfen.id)
    )
    assert alfen.matches("Alfen BV", "NG910-60023", "4.14.0")


def test_the_shipped_growatt_profile_accepts_the_documented_start():
    # The message of https://github.com/evcc-io/evcc/issues/10399.
    payload = {
        "connectorId": 1,
        "idTag": "evcc",
        "meterStart": 0,
        "reservationId": 0,
        "timestamp": "2023-10-19T15:28:07",
    }
    growatt = next(p for p in profile_data.shipped() if p.id == "growatt-thor-local-timestamp")
    assert growatt.matches("Growatt", "THOR_11AS", "THOR_11AS-V5.2.4-20230307-NOVO")
    schemas = registry()
    with pytest.raises(OcppError):
        schemas.validate(Version.V16, "StartTransaction", payload)
    schemas.validate(
        Version.V16, "StartTransaction", payload, tolerated=Tolerated(growatt.deviations)
    )
    with pytest.raises(OcppError):  # a bad timestamp elsewhere is still refused
        schemas.validate(
            Version.V16,
            "StatusNotification",
            {
                "connectorId": 1,
                "status": "Available",
                "errorCode": "NoError",
                "timestamp": "2023-10-19T15:28:07",
            },
            tolerated=Tolerated(growatt.deviations),
        )


def test_a_type_deviation_never_excuses_a_missing_field():
    tolerated = Tolerated((Deviation("MeterValues", "meterValue/*/sampledValue/*/value", "type"),))
    payload = {"connectorId": 1, "meterValue": [{"timestamp": now_iso(), "sampledValue": [{}]}]}
    with pytest.raises(OcppError) as exc:
        registry().validate(Version.V16, "MeterValues", payload, tolerated=tolerated)
    assert exc.value.code.value == "OccurrenceConstraintViolation"


def test_firmware_ranges_and_globs():
    assert firmware_matches(">=1.2, <1.6.4", "TAC3Z9119006710273::V1.6.3")
    assert not firmware_matches(">=1.2, <1.6.4", "V1.6.4")
    assert not firmware_matches(">=1.2", None)
    assert firmware_matches("4.1.*", "4.1.2")
    assert not firmware_matches("4.1.*", "4.2.0")
    assert firmware_matches("*", None)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('[[profile]]\nid = "x"\n', "vendor"),
        ('[[profile]]\nid = "Bad Id"\nvendor = "a"\n', "id"),
        ('[[profile]]\nid = "x"\nvendor = "a"\ncolour = "red"\n', "unknown keys"),
        (
            '[[profile]]\nid = "x"\nvendor = "a"\n[[profile.tolerate]]\naction = "A"\n'
            'path = "p"\nkind = "required"\nreason = "r"\n',
            "kind",
        ),
        (
            '[[profile]]\nid = "x"\nvendor = "a"\n[[profile.configure]]\nkey = "K"\nreason = "r"\n',
            "value",
        ),
        ("[[profile]\n", "profiles.toml"),
    ],
)
def test_a_broken_profile_file_says_where(text, says):
    with pytest.raises(ProfileError, match=says):
        parse(text, "profiles.toml")


async def test_the_shipped_profiles_over_a_real_websocket(volta, api):
    """The Alfen message of lbbrhzn/ocpp#361 is accepted from an Alfen; a
    Wallbox gets its clock-aligned readings configured."""
    await register(volta, "ALFEN-1")
    await register(volta, "WALLBOX-1")
    async with station(volta, "ALFEN-1", "1.6") as alfen:
        lenient(alfen)
        await boot16(alfen, "Alfen BV", "NG910-60023", "4.14.0-3398")
        payload = meter_values("CurrentMax", unit="A")
        assert await alfen.call("MeterValues", payload) == {}
    async with station(volta, "WALLBOX-1", "1.6") as wallbox:
        await boot16(wallbox, "Wall Box Chargers", "PLP1", "6.7.38")
        wanted = [
            ("ChangeConfiguration", {"key": "ClockAlignedDataInterval", "value": "900"}),
            (
                "ChangeConfiguration",
                {"key": "MeterValuesAlignedData", "value": "Energy.Active.Import.Register"},
            ),
        ]
        assert await wait_until(lambda: wallbox.received == wanted)
    body = (await api.get("/api/v1/charger-profiles/stations")).json()
    assert {m["station_id"]: m["profile"] for m in body} == {
        "ALFEN-1": "alfen-metervalue-context",
        "WALLBOX-1": "wallbox-clock-aligned-meter-values",
    }
