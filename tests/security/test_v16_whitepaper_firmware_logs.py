"""The rest of the OCPP 1.6 security whitepaper's messages (edition 3):
the signed firmware and log messages. Volta answers the station's
notifications (SignedFirmwareStatusNotification, LogStatusNotification:
empty CALLRESULTs, as their schemas define, kept in the frame log) and an
operator sends SignedUpdateFirmware and GetLog as commands (validated against
the 1.6 schemas, the answer recorded). Managing the files themselves
(firmware campaigns, upload URLs, the file service) is device management's
(docs/security.md, "Certificates")."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.helpers import wait_until
from tests.security.conftest import booted

V16 = "ocpp1.6"
CERT = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


async def test_signed_firmware_and_log_notifications_are_answered(volta, api) -> None:
    async with booted(volta, "WP1", V16) as st:
        for status in ("Downloading", "Downloaded", "SignatureVerified", "Installed"):
            r = await st.call(
                "SignedFirmwareStatusNotification", {"status": status, "requestId": 7}
            )
            assert r == {}
        assert await st.call("LogStatusNotification", {"status": "Uploaded", "requestId": 8}) == {}
        # A notification that breaks the schema gets the CALLERROR 1.6 names.
        frame = await st.call_frame("LogStatusNotification", {"status": "Sideways"})
        assert frame[0] == 4

    async def kept() -> bool:  # the frame log is written in batches
        frames = (
            await api.get(
                "/api/v1/stations/WP1/messages", params={"action": "LogStatusNotification"}
            )
        ).json()["items"]
        return any(f["direction"] == "in" for f in frames)

    assert await wait_until(kept)


async def test_operator_sends_signed_update_firmware_and_get_log(volta, api) -> None:
    answers: dict[str, Any] = {
        "SignedUpdateFirmware": {"status": "Accepted"},
        "GetLog": {"status": "Accepted", "filename": "security.log"},
    }
    async with booted(volta, "WP1", V16, answers) as st:
        firmware = {
            "requestId": 1,
            "firmware": {
                "location": "https://files.example.com/fw-2.1.bin",
                "retrieveDateTime": "2026-12-06T00:00:00Z",
                "signingCertificate": CERT,
                "signature": "c2lnbmF0dXJl",
            },
        }
        sent = asyncio.create_task(
            api.post("/api/v1/stations/WP1/commands/SignedUpdateFirmware", json=firmware)
        )
        assert await st.expect("SignedUpdateFirmware") == firmware
        command = (await sent).json()
        assert command["status"] == "accepted" and command["response"] == {"status": "Accepted"}

        log = {
            "logType": "SecurityLog",
            "requestId": 2,
            "log": {"remoteLocation": "https://files.example.com/upload/"},
        }
        sent = asyncio.create_task(api.post("/api/v1/stations/WP1/commands/GetLog", json=log))
        assert await st.expect("GetLog") == log
        command = (await sent).json()
        assert command["response"] == {"status": "Accepted", "filename": "security.log"}

        # The 1.6 schema is checked before anything is sent.
        bad = await api.post(
            "/api/v1/stations/WP1/commands/GetLog", json={"logType": "SecurityLog"}
        )
        assert bad.status_code == 422
        assert st.received.empty()
