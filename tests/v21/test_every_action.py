"""Every 2.1 action is handled or answered as the specification says, none
left to a generic fallback: each action a 2.1 station sends has a handler of
its own (2.0.1's where the two versions share it), and docs/ocpp21.md lists
every 2.1 action with how Volta handles it."""

from __future__ import annotations

import re
from pathlib import Path

from volta.app import handler_table
from volta.ocpp.actions import CSMS_INITIATED, STATION_INITIATED, STATION_SENDS
from volta.ocpp.schemas import registry
from volta.ocpp.versions import Version

V21 = Version.V21
DOC = Path(__file__).resolve().parents[2] / "docs" / "ocpp21.md"


def test_the_action_lists_are_the_schemas():
    known = registry().actions(V21) | registry().send_actions(V21)
    assert STATION_INITIATED[V21] | CSMS_INITIATED[V21] | STATION_SENDS[V21] == known


def test_every_action_a_2_1_station_sends_has_a_handler():
    """Not the acknowledgement fallback (volta.ocpp.rules): a handler."""
    table = handler_table()
    missing = sorted(
        a for a in STATION_INITIATED[V21] | STATION_SENDS[V21] if table.handler(V21, a) is None
    )
    assert not missing, f"2.1 actions without a handler: {missing}"


def test_docs_list_every_2_1_action():
    rows = re.findall(r"^\| `(\w+)` \|", DOC.read_text(), flags=re.MULTILINE)
    everything = STATION_INITIATED[V21] | CSMS_INITIATED[V21] | STATION_SENDS[V21]
    assert sorted(set(rows)) == sorted(everything)
    assert len(rows) == len(set(rows)), "an action listed twice"
