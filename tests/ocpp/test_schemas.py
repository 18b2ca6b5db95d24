"""Payload validation against the official schemas of the PyPI `ocpp` package,
and how each kind of schema error maps to a CALLERROR code (OCPP-J 1.6 §4.2.3,
OCPP-J 2.0.1 §4.3)."""

from __future__ import annotations

from typing import Any

import pytest

from volta.ocpp.actions import CSMS_INITIATED, STATION_INITIATED
from volta.ocpp.errors import ErrorCode, OcppError, wire_code
from volta.ocpp.schemas import SchemaRegistry, Validation, registry
from volta.ocpp.versions import Version

V16, V201 = Version.V16, Version.V201

BOOT_16 = {"chargePointVendor": "Acme", "chargePointModel": "Wall-22"}
BOOT_201 = {"reason": "PowerUp", "chargingStation": {"model": "Wall-22", "vendorName": "Acme"}}
STATUS_16 = {"connectorId": 1, "errorCode": "NoError", "status": "Available"}


@pytest.fixture(scope="module")
def schemas() -> SchemaRegistry:
    return registry()


def error_of(
    schemas: SchemaRegistry, version: Version, action: str, payload: dict[str, Any], **kw: Any
) -> OcppError:
    with pytest.raises(OcppError) as info:
        schemas.validate(version, action, payload, **kw)
    return info.value


def test_registry_is_shared() -> None:
    assert registry() is registry()


@pytest.mark.parametrize("version", [V16, V201], ids=["1.6", "2.0.1"])
def test_every_action_either_side_may_send_has_schemas(
    schemas: SchemaRegistry, version: Version
) -> None:
    assert schemas.actions(version) == STATION_INITIATED[version] | CSMS_INITIATED[version]


@pytest.mark.parametrize(
    "version, action, payload",
    [
        (V16, "BootNotification", BOOT_16),
        (V16, "Heartbeat", {}),
        (V16, "StatusNotification", STATUS_16),
        (V201, "BootNotification", BOOT_201),
        (V201, "Heartbeat", {}),
        (V201, "Heartbeat", {"customData": {"vendorId": "Acme"}}),
    ],
)
def test_valid_requests_pass(
    schemas: SchemaRegistry, version: Version, action: str, payload: dict[str, Any]
) -> None:
    schemas.validate(version, action, payload)


def test_responses_use_the_response_schema(schemas: SchemaRegistry) -> None:
    schemas.validate(V16, "Heartbeat", {"currentTime": "2024-01-01T00:00:00Z"}, response=True)
    err = error_of(schemas, V16, "Heartbeat", {}, response=True)
    assert err.code is ErrorCode.OCCURRENCE_CONSTRAINT_VIOLATION
    # The request schema of Heartbeat is empty; the response field is unknown there.
    err = error_of(schemas, V16, "Heartbeat", {"currentTime": "2024-01-01T00:00:00Z"})
    assert err.code is ErrorCode.FORMAT_VIOLATION


# --- error mapping -----------------------------------------------------------------

CASES = [
    # (id, version, action, payload, code)
    ("v16-missing", V16, "BootNotification", {"chargePointVendor": "Acme"},
     ErrorCode.OCCURRENCE_CONSTRAINT_VIOLATION),
    ("v16-wrong-type", V16, "BootNotification", {**BOOT_16, "chargePointVendor": 1},
     ErrorCode.TYPE_CONSTRAINT_VIOLATION),
    ("v16-int-as-string", V16, "StatusNotification", {**STATUS_16, "connectorId": "1"},
     ErrorCode.TYPE_CONSTRAINT_VIOLATION),
    ("v16-too-long", V16, "BootNotification", {**BOOT_16, "chargePointVendor": "A" * 21},
     ErrorCode.TYPE_CONSTRAINT_VIOLATION),
    ("v16-unknown-property", V16, "BootNotification", {**BOOT_16, "colour": "red"},
     ErrorCode.FORMAT_VIOLATION),
    ("v16-bad-enum", V16, "StatusNotification", {**STATUS_16, "status": "Bogus"},
     ErrorCode.PROPERTY_CONSTRAINT_VIOLATION),
    ("v201-missing-nested", V201, "BootNotification",
     {"reason": "PowerUp", "chargingStation": {"model": "Wall-22"}},
     ErrorCode.OCCURRENCE_CONSTRAINT_VIOLATION),
    ("v201-wrong-type", V201, "BootNotification", {**BOOT_201, "reason": 1},
     ErrorCode.TYPE_CONSTRAINT_VIOLATION),
    ("v201-too-long", V201, "BootNotification",
     {"reason": "PowerUp", "chargingStation": {"model": "M" * 21, "vendorName": "Acme"}},
     ErrorCode.TYPE_CONSTRAINT_VIOLATION),
    ("v201-unknown-property", V201, "BootNotification", {**BOOT_201, "colour": "red"},
     ErrorCode.FORMAT_VIOLATION),
    ("v201-bad-enum", V201, "BootNotification", {**BOOT_201, "reason": "Bogus"},
     ErrorCode.PROPERTY_CONSTRAINT_VIOLATION),
]  # fmt: skip


@pytest.mark.parametrize(
    "version, action, payload, code", [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_schema_error_maps_to_error_code(
    schemas: SchemaRegistry,
    version: Version,
    action: str,
    payload: dict[str, Any],
    code: ErrorCode,
) -> None:
    assert error_of(schemas, version, action, payload).code is code


@pytest.mark.parametrize(
    "version, payload, wire",
    [
        (V16, {"chargePointVendor": "Acme"}, "OccurenceConstraintViolation"),
        (V16, {**BOOT_16, "colour": "red"}, "FormationViolation"),
        (V201, {"reason": "PowerUp"}, "OccurrenceConstraintViolation"),
        (V201, {**BOOT_201, "colour": "red"}, "FormatViolation"),
    ],
)
def test_schema_errors_use_the_versions_spelling(
    schemas: SchemaRegistry, version: Version, payload: dict[str, Any], wire: str
) -> None:
    """OCPP-J 1.6 §4.2.3 keeps "FormationViolation" and "OccurenceConstraintViolation";
    OCPP-J 2.0.1 §4.3 spells them "FormatViolation" and "OccurrenceConstraintViolation"."""
    err = error_of(schemas, version, "BootNotification", payload)
    assert wire_code(err.code, version) == wire


def test_description_names_the_nested_path(schemas: SchemaRegistry) -> None:
    payload = {"reason": "PowerUp", "chargingStation": {"model": "M" * 21, "vendorName": "A"}}
    err = error_of(schemas, V201, "BootNotification", payload)
    assert err.description.startswith("chargingStation/model: ")


def test_missing_property_wins_over_unknown_one(schemas: SchemaRegistry) -> None:
    err = error_of(schemas, V16, "BootNotification", {"chargePointVendor": "Acme", "colour": "x"})
    assert err.code is ErrorCode.OCCURRENCE_CONSTRAINT_VIOLATION
    assert "chargePointModel" in err.description


def test_wrong_type_wins_over_bad_enum(schemas: SchemaRegistry) -> None:
    err = error_of(
        schemas, V16, "StatusNotification", {**STATUS_16, "connectorId": "1", "status": "Bogus"}
    )
    assert err.code is ErrorCode.TYPE_CONSTRAINT_VIOLATION


@pytest.mark.parametrize("mode", [Validation.STRICT, Validation.RELAXED])
def test_unknown_action_is_not_implemented(schemas: SchemaRegistry, mode: Validation) -> None:
    err = error_of(schemas, V16, "TransactionEvent", {}, mode=mode)  # a 2.0.1-only action
    assert err.code is ErrorCode.NOT_IMPLEMENTED


# --- relaxed and off -----------------------------------------------------------------


@pytest.mark.parametrize(
    "version, action, payload",
    [
        (V16, "BootNotification", {**BOOT_16, "colour": "red"}),
        (V16, "StatusNotification", {**STATUS_16, "status": "Bogus"}),
        (V16, "BootNotification", {**BOOT_16, "chargePointVendor": "A" * 21}),
        (V201, "BootNotification", {**BOOT_201, "colour": "red"}),
        (V201, "BootNotification", {**BOOT_201, "reason": "Bogus"}),
    ],
    ids=["v16-unknown-property", "v16-bad-enum", "v16-too-long", "v201-unknown-property",
         "v201-bad-enum"],
)  # fmt: skip
def test_relaxed_lets_unknown_properties_and_values_through(
    schemas: SchemaRegistry, version: Version, action: str, payload: dict[str, Any]
) -> None:
    with pytest.raises(OcppError):
        schemas.validate(version, action, payload)
    schemas.validate(version, action, payload, mode=Validation.RELAXED)


@pytest.mark.parametrize(
    "version, payload, code",
    [
        (V16, {"chargePointVendor": "Acme", "colour": "red"},
         ErrorCode.OCCURRENCE_CONSTRAINT_VIOLATION),
        (V16, {**BOOT_16, "chargePointModel": 22}, ErrorCode.TYPE_CONSTRAINT_VIOLATION),
        (V201, {"reason": "Bogus", "chargingStation": {"model": "M"}},
         ErrorCode.OCCURRENCE_CONSTRAINT_VIOLATION),
    ],
    ids=["v16-missing", "v16-wrong-type", "v201-missing"],
)  # fmt: skip
def test_relaxed_still_refuses_missing_fields_and_wrong_types(
    schemas: SchemaRegistry, version: Version, payload: dict[str, Any], code: ErrorCode
) -> None:
    err = error_of(schemas, version, "BootNotification", payload, mode=Validation.RELAXED)
    assert err.code is code


@pytest.mark.parametrize(
    "version, action, payload",
    [
        (V16, "BootNotification", {}),
        (V16, "BootNotification", {"chargePointVendor": 1, "colour": "red"}),
        (V201, "BootNotification", {"reason": "Bogus"}),
        (V201, "NoSuchAction", {"anything": True}),
    ],
)
def test_off_lets_everything_through(
    schemas: SchemaRegistry, version: Version, action: str, payload: dict[str, Any]
) -> None:
    schemas.validate(version, action, payload, mode=Validation.OFF)
    schemas.validate(version, action, payload, response=True, mode=Validation.OFF)
