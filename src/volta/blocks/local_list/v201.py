"""OCPP 2.0.1 local authorization list (D01 SendLocalList, D02
GetLocalListVersion): how updates are spelled."""

from __future__ import annotations

from typing import Any

from volta.blocks.authorization.v201 import id_token_info
from volta.blocks.local_list.service import GetLocalListVersion, ListEntry, SendLocalList
from volta.outgoing import Message, OutgoingTable

outgoing = OutgoingTable()


def _entry(entry: ListEntry) -> dict[str, Any]:
    id_token = {"idToken": entry.token, "type": entry.token_type}
    # D01.FR.17: a Differential update removes an entry sent without idTokenInfo.
    if entry.verdict is None:
        return {"idToken": id_token}
    return {"idToken": id_token, "idTokenInfo": id_token_info(entry.verdict)}


@outgoing.builds(SendLocalList)
def send_local_list(command: SendLocalList) -> Message:
    payload: dict[str, Any] = {
        "versionNumber": command.version,
        "updateType": "Full" if command.full else "Differential",
    }
    # The schema wants at least one item when the list is present.
    if command.entries:
        payload["localAuthorizationList"] = [_entry(e) for e in command.entries]
    return Message("SendLocalList", payload)


@outgoing.builds(GetLocalListVersion)
def get_local_list_version(command: GetLocalListVersion) -> Message:
    return Message("GetLocalListVersion", {})
