"""Station passwords hidden from what is kept of a frame (volta.ocpp.redact)."""

from __future__ import annotations

import orjson

from volta.ocpp.redact import REDACTED, redact_call, redact_payload


def _set(component: str, variable: str, value: str) -> dict[str, object]:
    return {
        "attributeValue": value,
        "component": {"name": component},
        "variable": {"name": variable},
    }


def test_set_variables_only_the_password_is_hidden() -> None:
    payload = {
        "setVariableData": [
            _set("OCPPCommCtrlr", "HeartbeatInterval", "300"),
            _set("SecurityCtrlr", "BasicAuthPassword", "s3cret-s3cret-s3cret"),
        ]
    }
    hidden = redact_payload("SetVariables", payload)
    assert hidden["setVariableData"][0]["attributeValue"] == "300"
    assert hidden["setVariableData"][1]["attributeValue"] == REDACTED
    # The original (what goes on the wire) is untouched.
    assert payload["setVariableData"][1]["attributeValue"] == "s3cret-s3cret-s3cret"  # type: ignore[index]


def test_change_configuration() -> None:
    assert redact_payload("ChangeConfiguration", {"key": "AuthorizationKey", "value": "AB"}) == {
        "key": "AuthorizationKey",
        "value": REDACTED,
    }
    other = {"key": "HeartbeatInterval", "value": "60"}
    assert redact_payload("ChangeConfiguration", other) is other
    assert redact_payload("Reset", {"type": "Hard"}) == {"type": "Hard"}


def test_frames() -> None:
    raw = orjson.dumps(
        [2, "m1", "ChangeConfiguration", {"key": "AuthorizationKey", "value": "ABCDEF"}]
    ).decode()
    hidden = redact_call("ChangeConfiguration", raw)
    assert "ABCDEF" not in hidden and orjson.loads(hidden)[1] == "m1"
    plain = '[2,"m2","ChangeConfiguration",{"key":"HeartbeatInterval","value":"60"}]'
    assert redact_call("ChangeConfiguration", plain) is plain
    # A frame of a secret action that cannot be read is not kept at all.
    assert redact_call("SetVariables", '[2,"m3","SetVariables",{"x":') == REDACTED
    assert redact_call("Heartbeat", "[2]") == "[2]"


def test_upload_links_are_kept_without_their_credentials():
    """GetDiagnostics / GetLog carry Volta's per-request upload link: its
    token and an FTP login's password are credentials until they expire."""
    ftp = {"location": "ftp://abc:s3cret-pass@csms.example:2121/", "retries": 1}
    assert redact_payload("GetDiagnostics", ftp) == {
        "location": "ftp://abc:********@csms.example:2121/",
        "retries": 1,
    }
    http = {
        "logType": "SecurityLog",
        "requestId": 3,
        "log": {"remoteLocation": "https://csms.example/transfers/tok-123/"},
    }
    hidden = redact_payload("GetLog", http)
    assert hidden["log"] == {"remoteLocation": "https://csms.example/transfers/********/"}
    assert http["log"]["remoteLocation"].endswith("/tok-123/")  # the sent one unchanged
    frame = orjson.dumps([2, "m1", "GetLog", http]).decode()
    assert "tok-123" not in redact_call("GetLog", frame)
    # Somebody else's location holds no Volta credential: kept as it is.
    other = {"location": "ftp://diag.example.com/"}
    assert redact_payload("GetDiagnostics", other) is other
