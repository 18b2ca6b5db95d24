"""How each version spells a firmware update, checked against the official
schemas; the version a file name carries; the campaign's time window."""

from __future__ import annotations

import datetime as dt

import pytest

from volta.app import outgoing_tables
from volta.blocks.firmware import campaigns
from volta.blocks.firmware.service import UpdateFirmware, version_in_name
from volta.ocpp.schemas import registry
from volta.ocpp.versions import Version
from volta.simulator.firmware import version_in

TABLES = outgoing_tables()
AT = dt.datetime(2026, 12, 24, 2, 0, tzinfo=dt.UTC)
SIGNED = UpdateFirmware(
    12,
    "https://fw.example.com/fw-3.0.bin",
    AT,
    install_at=AT + dt.timedelta(hours=1),
    signing_certificate="-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
    signature="c2lnbmF0dXJl",
)


def test_signed_firmware_is_the_security_extension_in_1_6_and_l01_in_2_0_1():
    v16 = TABLES[Version.V16].build(SIGNED)
    assert v16.action == "SignedUpdateFirmware"
    assert v16.payload["requestId"] == 12
    assert v16.payload["firmware"]["signature"] == "c2lnbmF0dXJl"
    assert v16.payload["firmware"]["installDateTime"] == "2026-12-24T03:00:00.000Z"
    v201 = TABLES[Version.V201].build(SIGNED)
    assert v201.action == "UpdateFirmware"
    assert v201.payload["firmware"]["signingCertificate"].startswith("-----BEGIN")
    schemas = registry()
    schemas.validate(Version.V16, v16.action, v16.payload)
    schemas.validate(Version.V201, v201.action, v201.payload)


@pytest.mark.parametrize(
    ("name", "version"),
    [
        ("charger-fw-2.4.1.bin", "2.4.1"),
        ("fw_10.2.tar.gz", "10.2"),
        ("https://cdn.example.com/x/acme-3.1.0-rc1.img?sig=1", "3.1.0-rc1"),
        ("image.bin", None),
    ],
)
def test_the_version_is_the_first_dotted_number_of_the_file_name(name, version):
    assert version_in_name(name) == version
    # The simulator reads it the same way (it may not import the block).
    if "://" in name:
        assert version_in(name) == version


@pytest.mark.parametrize(
    ("start", "end", "zone", "utc", "inside"),
    [
        (None, None, "UTC", "12:00", True),
        ("01:00", "05:00", "UTC", "01:00", True),
        ("01:00", "05:00", "UTC", "05:00", False),
        # 01:00-05:00 in Berlin (UTC+1 in December) is 00:00-04:00 UTC.
        ("01:00", "05:00", "Europe/Berlin", "00:30", True),
        ("01:00", "05:00", "Europe/Berlin", "04:30", False),
        # Across midnight.
        ("22:00", "04:00", "UTC", "23:00", True),
        ("22:00", "04:00", "UTC", "03:59", True),
        ("22:00", "04:00", "UTC", "12:00", False),
    ],
)
def test_the_time_window(start, end, zone, utc, inside):
    hour, minute = map(int, utc.split(":"))
    now = dt.datetime(2026, 12, 7, hour, minute, tzinfo=dt.UTC)
    campaign = {"window_start": start, "window_end": end, "timezone": zone}
    assert campaigns.in_window(campaign, now) is inside
