"""Display messages and customer information in a simulated station.

A 2.0.1 station keeps the messages it was set (O01, O02 for a transaction it
runs, O06 replaced by id), reports them (O03/O04: NotifyDisplayMessages, two
per part) and clears them (O05); it answers CustomerInformation (N09/N10) and
reports a few lines of what it holds of the customer."""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

from volta.simulator.dialect import AnswerTable, Payload

if TYPE_CHECKING:
    from volta.simulator.station import SimulatedStation

# Answers of a 1.6 and of a 2.0.1 station (v16.py / v201.py include them).
v16 = AnswerTable()
v201 = AnswerTable()

# NumberOfDisplayMessages: what the station holds at most.
CAPACITY = 10
# Messages per NotifyDisplayMessages part.
PER_PART = 2
SUPPORTED_FORMATS = frozenset({"ASCII", "UTF8", "URI"})

# The station's messages by id, kept beside the station (not on its class).
_messages: weakref.WeakKeyDictionary[SimulatedStation, dict[int, Payload]] = (
    weakref.WeakKeyDictionary()
)


def messages_of(st: SimulatedStation) -> dict[int, Payload]:
    return _messages.setdefault(st, {})


@v201.on("SetDisplayMessage")
def set_display_message(st: SimulatedStation, p: Payload) -> Payload:
    info = p["message"]
    if info["message"]["format"] not in SUPPORTED_FORMATS:
        return {"status": "NotSupportedMessageFormat"}
    tx = info.get("transactionId")
    if tx is not None and all(c.transaction_id != tx for c in st.connectors):
        return {"status": "UnknownTransaction"}
    held = messages_of(st)
    if info["id"] not in held and len(held) >= CAPACITY:
        return {"status": "Rejected"}
    held[info["id"]] = info  # O06: the same id replaces the message
    return {"status": "Accepted"}


def _matches(info: Payload, p: Payload) -> bool:
    if p.get("id") and info["id"] not in p["id"]:
        return False
    if p.get("priority") and info["priority"] != p["priority"]:
        return False
    return not (p.get("state") and info.get("state") != p["state"])


@v201.on("GetDisplayMessages")
def get_display_messages(st: SimulatedStation, p: Payload) -> Payload:
    found = [m for m in messages_of(st).values() if _matches(m, p)]
    return {"status": "Accepted" if found else "Unknown"}


@v201.after("GetDisplayMessages")
async def notify_display_messages(st: SimulatedStation, p: Payload, answer: Payload) -> None:
    if answer["status"] != "Accepted":
        return
    found = [m for m in messages_of(st).values() if _matches(m, p)]
    parts = [found[i : i + PER_PART] for i in range(0, len(found), PER_PART)]
    for index, part in enumerate(parts):
        await st.call(
            "NotifyDisplayMessages",
            {"requestId": p["requestId"], "tbc": index < len(parts) - 1, "messageInfo": part},
        )


@v201.on("ClearDisplayMessage")
def clear_display_message(st: SimulatedStation, p: Payload) -> Payload:
    removed = messages_of(st).pop(p["id"], None)
    return {"status": "Accepted" if removed is not None else "Unknown"}


@v201.on("CustomerInformation")
def customer_information(st: SimulatedStation, p: Payload) -> Payload:
    return {"status": "Accepted"}


def _customer(p: Payload) -> str:
    if "idToken" in p:
        return f"idToken {p['idToken']['idToken']}"
    if "customerIdentifier" in p:
        return f"customer {p['customerIdentifier']}"
    return f"certificate {p.get('customerCertificate', {}).get('serialNumber', '?')}"


@v201.after("CustomerInformation")
async def notify_customer_information(st: SimulatedStation, p: Payload, answer: Payload) -> None:
    """N09: what the station holds of the customer, in two parts; N10: cleared."""
    if not p["report"]:
        return
    who = _customer(p)
    lines: list[Any] = [
        f"{st.id}: {who}: authorization cache entry, last used {st.now()}",
        f"{st.id}: {who}: " + ("cleared" if p["clear"] else "kept"),
    ]
    for seq, line in enumerate(lines):
        await st.call(
            "NotifyCustomerInformation",
            {
                "data": line,
                "tbc": seq < len(lines) - 1,
                "seqNo": seq,
                "generatedAt": st.now(),
                "requestId": p["requestId"],
            },
        )
