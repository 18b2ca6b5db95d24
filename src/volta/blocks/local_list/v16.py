"""OCPP 1.6 local authorization list (§5.15 SendLocalList, §5.10
GetLocalListVersion): how updates are spelled."""

from __future__ import annotations

from typing import Any

from volta.blocks.authorization.v16 import id_tag_info
from volta.blocks.local_list.service import GetLocalListVersion, ListEntry, SendLocalList
from volta.outgoing import Message, OutgoingTable

outgoing = OutgoingTable()


def _entry(entry: ListEntry) -> dict[str, Any]:
    # An entry without idTagInfo is removed from the list (1.6 §5.15).
    if entry.verdict is None:
        return {"idTag": entry.token}
    return {"idTag": entry.token, "idTagInfo": id_tag_info(entry.verdict)}


@outgoing.builds(SendLocalList)
def send_local_list(command: SendLocalList) -> Message:
    payload: dict[str, Any] = {
        "listVersion": command.version,
        "updateType": "Full" if command.full else "Differential",
    }
    # A Full update without the list empties it; a Differential one always
    # carries its (possibly empty) list.
    if command.entries or not command.full:
        payload["localAuthorizationList"] = [_entry(e) for e in command.entries]
    return Message("SendLocalList", payload)


@outgoing.builds(GetLocalListVersion)
def get_local_list_version(command: GetLocalListVersion) -> Message:
    return Message("GetLocalListVersion", {})
