"""A simulated hour of load management: 20 simulated stations (1.6 and
2.0.1, one EVSE each) on one 100 A 3-phase site, drivers arriving and
leaving, cars of mixed power and phases (a fifth 1-phase), against a real
Volta over real WebSockets. The hour is compressed into `--seconds` of real
time (sessions 25-60 % of it, meter values every second).

Every `--sample` seconds it adds up what the simulated cars draw on each
phase (the simulator draws at most the limit in force, so this is what the
site's meter would read) and reports the highest per-phase sum, which must
never exceed the site's limit; and it counts the SetChargingProfile messages
the stations received (the run is one hour of arrivals and departures, so
the count is per simulated hour). Prints a table and writes
bench/results/smart_charging_hour.json.

    .venv/bin/python bench/smart_charging_hour.py                # ~2 min, SQLite
    .venv/bin/python bench/smart_charging_hour.py --seconds 60 --stations 20 --limit 100

`run_hour()` is also what tests/test_simulator_smart_charging.py runs (shorter).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from volta.ocpp.charging import TX
from volta.simulator.fleet import build_fleet, run_fleet
from volta.simulator.scenario import Scenario
from volta.simulator.station import SimulatedStation

RESULTS = Path(__file__).resolve().parent / "results"
PASSWORD = "hour-bench-pass-1"


@dataclass
class HourReport:
    stations: int
    limit_a: float
    real_s: float
    samples: int = 0
    max_phase_a: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    over_limit_samples: int = 0
    # Of those, samples under the limit without the cars that had no
    # TxProfile yet (drawing their station's fallback TxDefaultProfile).
    over_by_fallback_draw: int = 0
    max_charging: int = 0  # EVSEs with a car at once
    mean_draw_a: float = 0.0  # the highest phase, averaged over the samples
    sessions: int = 0
    energy_kwh: float = 0.0
    set_charging_profile: int = 0
    clear_charging_profile: int = 0
    suspended_samples: int = 0  # car-samples paused by the EVSE (below 6 A)

    @property
    def peak_a(self) -> float:
        return max(self.max_phase_a)


@dataclass
class Sample:
    phases: list[float]  # A, L1-L3 (a 1-phase car on L1)
    untold: list[float]  # the part drawn by cars with no TxProfile yet
    cars: int
    suspended: int


def drawn(stations: list[SimulatedStation]) -> Sample:
    """What the cars draw now, per phase, how many are plugged in, and how
    many of them the EVSE pauses."""
    out = Sample([0.0, 0.0, 0.0], [0.0, 0.0, 0.0], 0, 0)
    for st in stations:
        for c in st.connectors:
            car = c.car
            if car is None:
                continue
            out.cars += 1
            out.suspended += car.suspended
            amps = car.current_a()
            told = any(e == c.id and p.purpose == TX for e, p in st.profiles.items)
            for i in range(car.phases):
                out.phases[i] += amps
                if not told:
                    out.untold[i] += amps
    return out


async def prepare(api: httpx.AsyncClient, ids: list[str], cards: list[str], limit_a: float) -> int:
    """The site, the stations placed on it, the drivers' cards: through the API."""
    resp = await api.post(
        "/api/v1/sites",
        json={"name": "Hour bench site", "max_current_a": limit_a, "phases": 3},
    )
    resp.raise_for_status()
    site_id = int(resp.json()["id"])
    for sid in ids:
        made = await api.post("/api/v1/stations", json={"id": sid, "password": PASSWORD})
        if made.status_code != 409:
            made.raise_for_status()
        placed = await api.put(f"/api/v1/stations/{sid}", json={"site_id": site_id})
        placed.raise_for_status()
    for card in cards:
        added = await api.post("/api/v1/id-tokens", json={"token": card})
        if added.status_code != 409:
            added.raise_for_status()
    return site_id


async def run_hour(
    api: httpx.AsyncClient,
    ocpp_url: str,
    *,
    stations: int = 20,
    limit_a: float = 100.0,
    seconds: float = 90.0,
    meter_interval: float = 1.0,
    sample_every: float = 0.1,
    seed: int = 13,
    id_prefix: str = "HOUR-",
) -> HourReport:
    """Run the compressed hour against the Volta behind `api` / `ocpp_url`."""
    sc = Scenario(
        url=ocpp_url,
        stations=stations,
        protocol="mixed",
        connectors=1,
        id_prefix=id_prefix,
        password=PASSWORD,
        meter_interval=meter_interval,
        # An hour: sessions of 15-36 min, 1-10 min between them.
        session_seconds=(seconds * 0.25, seconds * 0.6),
        idle_seconds=(seconds * 0.02, seconds * 0.17),
        power_kw=(7.4, 22.0),
        one_phase_share=0.2,
        max_current=32.0,
        seed=seed,
        stop_grace=10.0,
    )
    await prepare(api, sc.station_ids(), sc.cards(), limit_a)
    fleet = build_fleet(sc)
    stop = asyncio.Event()
    report = HourReport(stations=stations, limit_a=limit_a, real_s=seconds)
    runner = asyncio.create_task(run_fleet(fleet, stop))
    started = time.monotonic()
    total_draw = 0.0
    try:
        while time.monotonic() - started < seconds:
            await asyncio.sleep(sample_every)
            now = drawn(fleet)
            report.samples += 1
            pairs = zip(report.max_phase_a, now.phases, strict=True)
            report.max_phase_a = [max(a, b) for a, b in pairs]
            if max(now.phases) > limit_a + 1e-6:
                report.over_limit_samples += 1
                told = [a - b for a, b in zip(now.phases, now.untold, strict=True)]
                report.over_by_fallback_draw += max(told) <= limit_a + 1e-6
            report.max_charging = max(report.max_charging, now.cars)
            report.suspended_samples += now.suspended
            total_draw += max(now.phases)
    finally:
        stop.set()
        await asyncio.wait_for(runner, sc.stop_grace + 20)
    report.mean_draw_a = round(total_draw / max(1, report.samples), 2)
    report.max_phase_a = [round(a, 2) for a in report.max_phase_a]
    report.sessions = sum(s.stats.sessions for s in fleet)
    report.energy_kwh = round(sum(s.stats.energy_wh for s in fleet) / 1000, 2)
    report.set_charging_profile = sum(s.stats.by_action.get("SetChargingProfile", 0) for s in fleet)
    report.clear_charging_profile = sum(
        s.stats.by_action.get("ClearChargingProfile", 0) for s in fleet
    )
    return report


def table(r: HourReport) -> str:
    rows = [
        ("stations (1 EVSE each, mixed 1.6 / 2.0.1)", f"{r.stations}"),
        ("site limit per phase", f"{r.limit_a:.0f} A"),
        ("real time for the simulated hour", f"{r.real_s:.0f} s"),
        ("samples of the draw", f"{r.samples}"),
        ("highest draw L1 / L2 / L3", " / ".join(f"{a:.1f} A" for a in r.max_phase_a)),
        ("samples over the limit", f"{r.over_limit_samples}"),
        ("  of which cars on a fallback (no TxProfile yet)", f"{r.over_by_fallback_draw}"),
        ("mean draw (highest phase)", f"{r.mean_draw_a:.1f} A"),
        ("most cars plugged in at once", f"{r.max_charging}"),
        ("car-samples paused (below 6 A)", f"{r.suspended_samples}"),
        ("sessions", f"{r.sessions}"),
        ("energy", f"{r.energy_kwh:.1f} kWh"),
        ("SetChargingProfile per simulated hour", f"{r.set_charging_profile}"),
        ("ClearChargingProfile per simulated hour", f"{r.clear_charging_profile}"),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


async def main(args: argparse.Namespace) -> int:
    from volta.app import Volta
    from volta.config import Settings

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(  # type: ignore[call-arg]
            host="127.0.0.1",
            ocpp_port=0,
            api_port=0,
            database_url=args.database or f"sqlite:///{tmp}/volta.db",
            api_token="bench-token",
            log_format="text",
            log_level="WARNING",
        )
        volta = Volta(settings)
        await volta.start()
        try:
            async with httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{volta.api_port}",
                headers={"Authorization": "Bearer bench-token"},
                timeout=30,
            ) as api:
                report = await run_hour(
                    api,
                    f"ws://127.0.0.1:{volta.ocpp_port}",
                    stations=args.stations,
                    limit_a=args.limit,
                    seconds=args.seconds,
                    sample_every=args.sample,
                )
        finally:
            await volta.stop()
    print(table(report))
    RESULTS.mkdir(exist_ok=True)
    out = {
        **asdict(report),
        "peak_a": report.peak_a,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    (RESULTS / "smart_charging_hour.json").write_text(json.dumps(out, indent=2) + "\n")
    return 0 if report.over_limit_samples == 0 else 1


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--stations", type=int, default=20)
    p.add_argument("--limit", type=float, default=100.0, help="site limit per phase, A")
    p.add_argument("--seconds", type=float, default=90.0, help="real seconds for the hour")
    p.add_argument("--sample", type=float, default=0.1, help="sampling period, s")
    p.add_argument("--database", help="database URL (default: a temporary SQLite file)")
    return p.parse_args(argv)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse())))
