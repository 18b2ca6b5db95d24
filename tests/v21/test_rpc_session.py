"""The OCPP-J 2.1 RPC framework in the sans-I/O session: CALLRESULTERROR,
SEND, the message types older versions refuse, and the rules for retried
message ids (a bounded memory of recent answers per connection).

Section numbers are OCPP-J 2.1's (Part 4): §4.1.3 message types, §4.2.1
CALL and its message id, §4.2.4 CALLRESULTERROR, §4.2.5 SEND; FR.06 is
OCPP 2.1 Part 2's generic requirement (an invalid response is answered with
a CALLRESULTERROR)."""

from __future__ import annotations

import orjson
import pytest

from volta.ocpp.errors import ErrorCode
from volta.ocpp.frames import CALLERROR, CALLRESULT
from volta.ocpp.schemas import registry
from volta.ocpp.session import (
    RETRY_MEMORY,
    CallReceived,
    Ignored,
    OcppSession,
    Reply,
    ResultErrorReceived,
    ResultReceived,
    Retried,
    SendReceived,
)
from volta.ocpp.versions import Version

V16, V201, V21 = Version.V16, Version.V201, Version.V21


def frame(*items: object) -> bytes:
    return orjson.dumps(list(items))


def session(version: Version = V21, **kw: object) -> OcppSession:
    return OcppSession(version, registry(), **kw)  # type: ignore[arg-type]


def handled(s: OcppSession, mid: str, action: str = "Heartbeat") -> CallReceived:
    event = s.receive(frame(2, mid, action, {}))
    assert isinstance(event, CallReceived), event
    return event


def test_a_retried_call_gets_the_answer_already_sent():
    """OCPP-J 2.1 §4.2.1: a retried CALL keeps its message id; the retry is
    not handled again but answered with the very text sent the first time."""
    s = session()
    call = handled(s, "h-1").call
    text = s.result(call, {"currentTime": "2026-01-01T00:00:00Z"})
    s.answered(call, text)
    retry = s.receive(frame(2, "h-1", "Heartbeat", {}))
    assert retry == Retried(retry.call, text, CALLRESULT)  # type: ignore[union-attr]


def test_a_retry_of_a_call_still_being_handled_is_not_handled_twice():
    """OCPP-J 2.1 §4.2.1: while the first is being handled, its retry gets
    nothing (the first one's answer will come, once)."""
    s = session()
    call = handled(s, "h-1").call
    retry = s.receive(frame(2, "h-1", "Heartbeat", {}))
    assert isinstance(retry, Retried) and retry.answer is None
    s.answered(call, s.result(call, {"currentTime": "2026-01-01T00:00:00Z"}))
    again = s.receive(frame(2, "h-1", "Heartbeat", {}))
    assert isinstance(again, Retried) and again.answer is not None


def test_a_callerror_is_sent_again_for_a_retry():
    """The answer remembered may be a CALLERROR (a refused boot, a failed
    handler): a retry gets it again, as a CALLERROR."""
    s = session()
    call = handled(s, "b-1").call
    text = s.error("b-1", ErrorCode.SECURITY_ERROR, "not accepted yet")
    s.answered(call, text)
    retry = s.receive(frame(2, "b-1", "Heartbeat", {}))
    assert isinstance(retry, Retried) and retry.answer == text and retry.answer_type == CALLERROR


@pytest.mark.parametrize("answered", [False, True], ids=["being handled", "answered"])
def test_a_message_id_reused_for_another_action_is_a_framework_error(answered):
    """Decision (OCPP-J 2.1 §4.2.1 is silent): a retry keeps its action, so a
    remembered id with another action is no retry; it is refused with
    RpcFrameworkError and not handled (the first CALL is left as it was)."""
    s = session()
    call = handled(s, "x-1").call
    if answered:
        s.answered(call, s.result(call, {"currentTime": "2026-01-01T00:00:00Z"}))
    event = s.receive(frame(2, "x-1", "StatusNotification", {}))
    assert isinstance(event, Reply)
    assert orjson.loads(event.text)[:3] == [4, "x-1", "RpcFrameworkError"]
    assert "Heartbeat" in event.description


def test_the_retry_memory_is_bounded_whatever_the_station_sends():
    """Nothing a station controls grows it: RETRY_MEMORY answers at most; an
    id older than those is handled as a new CALL."""
    s = session()
    for n in range(1000):
        call = handled(s, f"m-{n}").call
        s.answered(call, s.result(call, {"currentTime": "2026-01-01T00:00:00Z"}))
    assert len(s._answered) == RETRY_MEMORY and not s._busy
    assert isinstance(s.receive(frame(2, "m-999", "Heartbeat", {})), Retried)
    assert isinstance(s.receive(frame(2, "m-0", "Heartbeat", {})), CallReceived)


def test_a_cancelled_handling_is_forgotten():
    s = session()
    call = handled(s, "c-1").call
    s.answered(call, None)
    assert isinstance(s.receive(frame(2, "c-1", "Heartbeat", {})), CallReceived)


def test_an_invalid_call_is_not_remembered():
    """A CALL refused before handling (schema) is refused again on retry."""
    s = session()
    bad = frame(2, "i-1", "BootNotification", {"reason": "Nope"})
    first, second = s.receive(bad), s.receive(bad)
    assert isinstance(first, Reply) and isinstance(second, Reply)
    assert first.text == second.text


@pytest.mark.parametrize("version", [V16, V201], ids=["1.6", "2.0.1"])
def test_older_versions_handle_a_repeated_id_as_before(version):
    """The retry rules are 2.1's: 1.6 and 2.0.1 sessions remember nothing."""
    s = session(version)
    call = handled(s, "h-1").call
    s.answered(call, s.result(call, {"currentTime": "2026-01-01T00:00:00Z"}))
    assert isinstance(s.receive(frame(2, "h-1", "Heartbeat", {})), CallReceived)
    assert not s._answered and not s._busy


def test_a_result_breaking_the_schema_gets_a_callresulterror_on_2_1_only():
    """OCPP 2.1 Part 2 FR.06 / OCPP-J 2.1 §4.2.4: an invalid CALLRESULT is
    answered with a CALLRESULTERROR carrying our CALL's message id and the
    violation's error code; the result is still handed on with the violation.
    2.0.1 has no such message: nothing is sent back."""
    for version, expect_reply in ((V21, True), (V201, False)):
        s = session(version)
        pending, _ = s.call("Reset", {"type": "Immediate"}, now=0.0)
        event = s.receive(frame(3, pending.message_id, {"status": "Bogus"}))
        assert isinstance(event, ResultReceived)
        assert event.violation is not None
        if expect_reply:
            assert event.reply is not None
            sent = orjson.loads(event.reply)
            assert sent[:3] == [5, pending.message_id, event.violation.split(":")[0]]
            assert len(sent) == 5 and isinstance(sent[3], str) and sent[4] == {}
        else:
            assert event.reply is None


def test_a_valid_result_gets_no_callresulterror():
    s = session()
    pending, _ = s.call("Reset", {"type": "Immediate"}, now=0.0)
    event = s.receive(frame(3, pending.message_id, {"status": "Accepted"}))
    assert isinstance(event, ResultReceived) and event.reply is None and event.violation is None


def test_a_callresulterror_names_the_action_it_is_about():
    """OCPP-J 2.1 §4.2.4: the CALLRESULTERROR carries the id of the peer's
    CALL; while its answer is remembered the session names its action."""
    s = session()
    call = handled(s, "h-7").call
    s.answered(call, s.result(call, {"currentTime": "2026-01-01T00:00:00Z"}))
    event = s.receive(frame(5, "h-7", "FormatViolation", "bad time", {}))
    assert isinstance(event, ResultErrorReceived) and event.action == "Heartbeat"
    assert event.error.error_code == "FormatViolation"
    unknown = s.receive(frame(5, "nope", "InternalError", "", {}))
    assert isinstance(unknown, ResultErrorReceived) and unknown.action is None


@pytest.mark.parametrize(
    "text",
    [
        frame(6, "s-1", "NotifyPeriodicEventStream", {"id": 1}),  # invalid payload
        frame(6, "s-2", "Heartbeat", {}),  # a CALL's action
        frame(6, "s-3", "NoSuchAction", {}),  # unknown
        frame(6, "s-4", "NotifyPeriodicEventStream"),  # malformed
        frame(6, "s-5", "NotifyPeriodicEventStream", []),  # payload not an object
        frame(5, "r-1", "FormatViolation"),  # malformed CALLRESULTERROR
    ],
)
def test_nothing_answers_a_send_or_a_callresulterror(text):
    """OCPP-J 2.1 §4.2.5: a SEND is never answered, not even with a CALLERROR;
    §4.2.4: nor is a CALLRESULTERROR."""
    assert isinstance(session().receive(text), Ignored)


def test_a_valid_send_is_handed_on():
    event = session().receive(
        frame(
            6,
            "s-1",
            "NotifyPeriodicEventStream",
            {
                "id": 1,
                "pending": 0,
                "basetime": "2026-01-01T00:00:00Z",
                "data": [{"t": 0, "v": "1"}],
            },
        )
    )
    assert isinstance(event, SendReceived)


@pytest.mark.parametrize("mtype", [5, 6])
def test_2_0_1_answers_types_5_and_6_with_message_type_not_supported(mtype):
    """OCPP-J 2.0.1 §4.1.3: a message type it does not know is answered with
    a CALLERROR MessageTypeNotSupported (its message id kept)."""
    event = session(V201).receive(frame(mtype, "z-1", "NotifyPeriodicEventStream", {}))
    assert isinstance(event, Reply)
    assert orjson.loads(event.text)[:3] == [4, "z-1", "MessageTypeNotSupported"]


@pytest.mark.parametrize("mtype", [5, 6])
def test_1_6_ignores_types_5_and_6(mtype):
    """OCPP-J 1.6 §4.1.3: an unknown message type is ignored."""
    assert isinstance(session(V16).receive(frame(mtype, "z-1", "X", {})), Ignored)


def test_2_1_answers_an_unknown_type_with_message_type_not_supported():
    event = session().receive(frame(7, "z-1", "X", {}))
    assert isinstance(event, Reply)
    assert orjson.loads(event.text)[:3] == [4, "z-1", "MessageTypeNotSupported"]
