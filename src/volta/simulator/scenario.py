"""What simulated stations do: from flags or a small TOML file.

```toml
[simulate]
url = "ws://127.0.0.1:9000"
stations = 5
protocol = "mixed"          # 1.6, 2.0.1, 2.1 or mixed (1.6, 2.0.1, 2.1, 1.6, ...)
connectors = 2
id_prefix = "SIM-"
password = ""               # HTTP Basic password, the same for all
id_tokens = ["SIM-CARD-1"]  # what drivers present; []: only the CSMS starts sessions;
                            # left out: one card per connector, SIM-CARD-1 .. SIM-CARD-N
                            # (N = stations x connectors; a card charges one car at a time)
heartbeat_interval = 0      # 0: what the CSMS says in BootNotification
meter_interval = 10         # seconds between meter values while charging
session_seconds = [60, 180] # how long a session lasts (random in range)
idle_seconds = [5, 30]      # pause between sessions
power_kw = [7.4, 22.0]      # charging power of the cars
max_current = 32            # each EVSE's rating, A per phase (what it offers with no profile)
one_phase_share = 0.2       # share of cars charging on one phase (any car up to 7.4 kW does)
sessions = 0                # driver sessions per connector, 0: until stopped;
                            # remote starts are served before and after
seed = 0                    # random seed, 0: random
stop_grace = 10             # at the end, seconds to end open sessions and leave
firmware_failing = []       # station ids whose firmware installation fails
payment_terminal = false    # 2.1 stations: drivers pay by card at a payment terminal
                            # (DirectPayment idToken, NotifySettlement after the session)
v2x = false                 # 2.1 stations: V2X cars that can feed back (discharging
                            # profiles, DER control, NotifyEVChargingNeeds with v2x needs)
```
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

MIXED = ("ocpp1.6", "ocpp2.0.1", "ocpp2.1")
PROTOCOLS = ("1.6", "2.0.1", "2.1", *MIXED, "mixed")


@dataclass
class Scenario:
    url: str = "ws://127.0.0.1:9000"
    stations: int = 3
    protocol: str = "mixed"
    connectors: int = 2
    id_prefix: str = "SIM-"
    password: str = ""
    # None: one card per connector (cards()); []: no driver cards at all.
    id_tokens: list[str] | None = None
    heartbeat_interval: float = 0.0
    meter_interval: float = 10.0
    session_seconds: tuple[float, float] = (60.0, 180.0)
    idle_seconds: tuple[float, float] = (5.0, 30.0)
    power_kw: tuple[float, float] = (7.4, 22.0)
    max_current: float = 32.0
    one_phase_share: float = 0.2
    sessions: int = 0
    seed: int = 0
    # Reconnect back-off: first delay and cap, seconds.
    reconnect_min: float = 0.5
    reconnect_max: float = 30.0
    # When the run ends: how long stations may take to end their sessions
    # (StopTransaction / TransactionEvent Ended) and close, seconds.
    stop_grace: float = 10.0
    # Station ids whose firmware installation fails (simulator/firmware.py).
    firmware_failing: tuple[str, ...] = ()
    # 2.1 stations (simulator/v21.py): a payment terminal where drivers pay
    # by card, and V2X cars (bidirectional charging).
    payment_terminal: bool = False
    v2x: bool = False

    def cards(self) -> list[str]:
        """The id tokens drivers present: `id_tokens`, or one card per
        connector (SIM-CARD-1 .. SIM-CARD-N), so every connector can charge
        at once (a card charges one car at a time: ConcurrentTx)."""
        if self.id_tokens is not None:
            return list(self.id_tokens)
        return [f"SIM-CARD-{i}" for i in range(1, self.stations * self.connectors + 1)]

    def station_ids(self) -> list[str]:
        width = max(3, len(str(self.stations)))
        return [f"{self.id_prefix}{i:0{width}d}" for i in range(1, self.stations + 1)]

    def protocol_of(self, index: int) -> str:
        """The subprotocol of the `index`th station: mixed takes turns,
        1.6, 2.0.1, 2.1, 1.6, ... (two stations: one 1.6, one 2.0.1)."""
        if self.protocol == "mixed":
            return MIXED[index % len(MIXED)]
        return self.protocol if self.protocol.startswith("ocpp") else "ocpp" + self.protocol


def _pair(value: Any) -> tuple[float, float]:
    if isinstance(value, int | float):
        return float(value), float(value)
    low, high = value
    return float(low), float(high)


def load_scenario(path: str | None = None, **overrides: Any) -> Scenario:
    values: dict[str, Any] = {}
    if path:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        values.update(data.get("simulate", data))
    values.update({k: v for k, v in overrides.items() if v is not None})
    known = {f.name for f in fields(Scenario)}
    unknown = set(values) - known
    if unknown:
        raise ValueError(f"unknown scenario settings: {', '.join(sorted(unknown))}")
    for name in ("session_seconds", "idle_seconds", "power_kw"):
        if name in values:
            values[name] = _pair(values[name])
    if not 0.0 <= float(values.get("one_phase_share", 0.0)) <= 1.0:
        raise ValueError("one_phase_share must be between 0 and 1")
    if float(values.get("max_current", 32.0)) <= 0:
        raise ValueError("max_current must be above 0 A")
    if values.get("protocol", "mixed") not in PROTOCOLS:
        raise ValueError("protocol must be 1.6, 2.0.1, 2.1 or mixed")
    return Scenario(**values)
