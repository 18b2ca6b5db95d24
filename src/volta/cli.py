"""The `volta` command."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from volta import __version__
from volta.ocpp.times import parse_timestamp


def _runner() -> asyncio.Runner:
    try:
        import uvloop

        return asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:  # pragma: no cover
        return asyncio.Runner()


def _run(coro: Coroutine[Any, Any, int | None]) -> int | None:
    with _runner() as runner:
        return runner.run(coro)


class CliError(Exception):
    """A message for the user; exit status 1."""


def _settings(args: argparse.Namespace) -> Any:
    from volta.config import load_settings

    return load_settings(
        getattr(args, "config", None),
        database_url=args.database_url,
        host=getattr(args, "host", None),
        ocpp_port=getattr(args, "ocpp_port", None),
        api_port=getattr(args, "api_port", None),
        nats_url=getattr(args, "nats_url", None),
        node_id=getattr(args, "node_id", None),
        workers=getattr(args, "workers", None),
    )


def _check_input(what: str, model: Any, flags: dict[str, str], **values: Any) -> None:
    """Apply the HTTP API's rules (volta.api.models) to the same input, so the
    CLI cannot store what the API would refuse (e.g. a station id with a '/',
    which no station could connect with)."""
    import pydantic

    try:
        model(**values)
    except pydantic.ValidationError as exc:
        problems = "; ".join(
            f"{flags.get(str(e['loc'][0]), str(e['loc'][0])) if e['loc'] else what}: {e['msg']}"
            for e in exc.errors()
        )
        raise CliError(f"invalid {what}: {problems}") from None


async def _with_db(
    args: argparse.Namespace, work: Callable[[Any], Awaitable[int | None]]
) -> int | None:
    from volta.store import migrate
    from volta.store.db import Database

    settings = _settings(args)
    db = Database(settings.database_url)
    try:
        if await migrate.upgrade(db):
            # Never silently: a typo in the path, or a database deleted
            # together with its lock file, shows here.
            print(f"volta: created a new empty database at {db.path}", file=sys.stderr)
        return await work(db)
    finally:
        await db.close()


# -- commands --------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace) -> int | None:
    from volta.app import run
    from volta.logs import configure

    if args.worker:
        # Started by `volta serve --workers N`: the settings come from the
        # supervisor, as one JSON line on stdin.
        from volta.supervisor import read_settings_line, signal_ready

        settings = read_settings_line(sys.stdin.readline())
        configure(settings.log_level, settings.log_format, node=settings.node_id)
        ready_fd = args.ready_fd

        def ready() -> None:
            if ready_fd is not None:
                signal_ready(ready_fd)

        return _run(_serve(run(settings, demo=args.demo, worker=args.worker, on_ready=ready)))
    settings = _settings(args)
    configure(settings.log_level, settings.log_format)
    if settings.workers != 1:
        from volta.supervisor import supervise

        return _run(supervise(settings, demo=args.demo))
    return _run(_serve(run(settings, demo=args.demo)))


async def _serve(work: Awaitable[None]) -> int:
    await work
    return 0


def cmd_simulate(args: argparse.Namespace) -> int | None:
    from volta.logs import configure
    from volta.simulator.fleet import build_fleet, run_fleet, summary
    from volta.simulator.scenario import load_scenario

    configure("WARNING" if not args.verbose else "INFO", "text")
    scenario = load_scenario(
        args.scenario,
        url=args.url,
        stations=args.stations,
        protocol=args.protocol,
        connectors=args.connectors,
        id_prefix=args.id_prefix,
        password=args.password,
        id_tokens=args.token,
        meter_interval=args.meter_interval,
        max_current=args.max_current,
        one_phase_share=args.one_phase_share,
        sessions=args.sessions,
        seed=args.seed,
        payment_terminal=args.payment_terminal,
        v2x=args.v2x,
    )
    stations = build_fleet(scenario)

    async def work() -> int:
        import signal

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_fleet(stations, stop, report_every=args.report_every, duration=args.duration)
        print(summary(stations))
        return 0

    return _run(work())


def cmd_migrate(args: argparse.Namespace) -> int | None:
    async def work(db: Any) -> int:
        from volta.store import migrate

        print(f"database at revision {await migrate.current_revision(db)}")
        return 0

    return _run(_with_db(args, work))


def cmd_stations(args: argparse.Namespace) -> int | None:
    from sqlalchemy.exc import IntegrityError

    from volta.blocks.provisioning import service
    from volta.security import new_station_password

    if args.action == "rotate-password":
        return _rotate_password(args)
    password = args.password if args.action == "add" else None
    if args.action == "add":
        from volta.blocks.provisioning.models import StationCreate

        if args.generate_password:
            password = new_station_password()
        _check_input(
            "station",
            StationCreate,
            {"password": "--password", "registration_status": "--status"},
            id=args.id,
            password=password,
            registration_status=args.status,
        )

    async def work(db: Any) -> int:
        if args.action == "add":
            if await service.find_station(db, args.id):
                raise CliError(f"station {args.id} already exists")
            await service.create_station(
                db, args.id, password=password, registration_status=args.status
            )
            print(f"added station {args.id}" + (" (password set)" if password else ""))
            if args.generate_password:
                print(f"password: {password}")
            if not password:
                print(
                    "note: without a password the station connects unauthenticated "
                    "(security profile 0); use --password or --generate-password"
                )
        elif args.action == "list":
            rows = await service.list_stations(db, limit=10_000)
            print(f"{'ID':<30} {'REGISTRATION':<12} {'PROTOCOL':<10} {'VENDOR':<16} MODEL")
            for r in rows:
                print(
                    f"{r['id']:<30} {r['registration_status']:<12} {r['protocol'] or '-':<10} "
                    f"{r['vendor'] or '-':<16} {r['model'] or '-'}"
                )
        elif args.action == "update":
            from volta.blocks.security import profiles

            row = await service.find_station(db, args.id)
            if row is None:
                raise CliError(f"station {args.id} not found")
            if args.security_profile is not None:
                try:
                    profiles.check_change(
                        row["security_profile"], args.security_profile, args.allow_lower
                    )
                except profiles.LoweringRefused as exc:
                    raise CliError(
                        str(exc).replace("set allow_lower", "add --allow-lower")
                    ) from exc
                await service.update_station(db, args.id, security_profile=args.security_profile)
                print(f"station {args.id}: security profile {args.security_profile}")
            else:
                print(f"station {args.id}: security profile {row['security_profile'] or 'not set'}")
        elif args.action == "remove":
            try:
                removed = await service.delete_station(db, args.id)
            except IntegrityError as exc:
                raise CliError(f"cannot remove station {args.id}: it has transactions") from exc
            if not removed:
                raise CliError(f"station {args.id} not found")
            print(f"removed station {args.id}")
        return 0

    return _run(_with_db(args, work))


def cmd_sites(args: argparse.Namespace) -> int | None:
    """Sites and circuits (load management). A running Volta reads the tree
    again within engine.TREE_TTL_S and applies it at its next recompute; the
    API (PUT /api/v1/sites/{id}/limit) applies a limit at once."""
    from volta.blocks.smart_charging import sites as store

    if args.action in ("add", "limit") and args.max_current is None and args.max_power is None:
        raise CliError("give --max-current (A per phase) or --max-power (W)")
    if args.action == "add":
        from volta.api.sites import SiteCreate

        values = {
            "name": args.name,
            "max_current_a": args.max_current,
            "max_power_w": args.max_power,
            "phases": args.phases,
            "parent_id": args.parent,
            "strategy": args.strategy,
            "min_current_a": args.min_current,
            "voltage_v": args.voltage,
        }
        flags = {"max_current_a": "--max-current", "max_power_w": "--max-power"}
        _check_input("site", SiteCreate, flags, **values)
    if args.action == "limit":
        from volta.api.sites import LimitIn

        _check_input(
            "limit",
            LimitIn,
            {"max_current_a": "--max-current", "max_power_w": "--max-power"},
            max_current_a=args.max_current,
            max_power_w=args.max_power,
        )

    async def work(db: Any) -> int:
        try:
            if args.action == "add":
                site = await store.create_site(db, **values)
                print(f"added site {site.id} ({site.name})")
            elif args.action == "list":
                sites = await store.all_sites(db)
                placed = await store.stations_of(db, list(sites))
                head = f"{'ID':<6} {'PARENT':<6} {'LIMIT A/PHASE':<14} {'STRATEGY':<10}"
                print(f"{head} NAME (STATIONS)")
                for site in sites.values():
                    limit = "/".join(f"{v:g}" for v in site.node().limit_a[: site.phases])
                    on = sorted(k for k, v in placed.items() if v == site.id)
                    parent = site.parent_id or "-"
                    print(
                        f"{site.id:<6} {parent:<6} {limit:<14} {site.strategy:<10} "
                        f"{site.name} ({', '.join(on) or 'none'})"
                    )
            elif args.action == "limit":
                await store.set_limit(db, args.id, args.max_current, args.max_power)
                print(f"site {args.id}: limit changed")
            elif args.action == "place":
                if args.site not in ("none", "-") and not args.site.isdigit():
                    raise CliError(f"site must be a site id or none, not {args.site!r}")
                site_id = None if args.site in ("none", "-") else int(args.site)
                await store.place_station(db, args.station, site_id)
                print(
                    f"station {args.station}: "
                    + (f"on site {site_id}" if site_id else "on no site")
                )
            elif args.action == "remove":
                await store.delete_site(db, args.id)
                print(f"removed site {args.id}")
        except (store.SiteError, store.SiteInUse, store.NotFound) as exc:
            raise CliError(str(exc)) from None
        return 0

    return _run(_with_db(args, work))


def _parse_expiry(value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    parsed = parse_timestamp(value)
    if parsed is None:
        raise CliError(f"--expires {value!r} is not an ISO 8601 date or time")
    return parsed


def cmd_tokens(args: argparse.Namespace) -> int | None:
    from volta.blocks.authorization import service

    expires_at = None
    if args.action == "add":
        from volta.blocks.authorization.models import IdTokenCreate

        expires_at = _parse_expiry(args.expires)
        _check_input(
            "id token",
            IdTokenCreate,
            {"type": "--type", "status": "--status", "group_id": "--group"},
            token=args.token,
            type=args.type,
            status=args.status,
            group_id=args.group,
            language1=args.language,
            note=args.note,
        )
    elif args.action == "update":
        from volta.blocks.authorization.models import IdTokenUpdate

        expires_at = _parse_expiry(args.expires)
        changes = {
            k: v
            for k, v in {"status": args.status, "group_id": args.group, "note": args.note}.items()
            if v is not None
        }
        if args.expires is not None:
            changes["expires_at"] = expires_at
        if args.no_group:
            changes["group_id"] = None
        if not changes:
            raise CliError("nothing to change: give --status, --expires, --group or --note")
        _check_input(
            "id token", IdTokenUpdate, {"status": "--status", "group_id": "--group"}, **changes
        )

    async def work(db: Any) -> int:
        if args.action == "add":
            if await service.get_token(db, args.token):
                raise CliError(f"id token {args.token} already exists")
            await service.add_token(
                db,
                args.token,
                status=args.status,
                token_type=args.type,
                expires_at=expires_at,
                group_id=args.group,
                language1=args.language,
                note=args.note,
            )
            print(f"added id token {args.token} ({args.status})")
        elif args.action == "update":
            # Local lists holding the token get the change (sent by a running
            # Volta when the station is connected).
            if not await service.update_token(db, args.token, **changes):
                raise CliError(f"id token {args.token} not found")
            print(f"updated id token {args.token}: {', '.join(sorted(changes))}")
        elif args.action == "list":
            print(f"{'TOKEN':<38} {'TYPE':<10} {'STATUS':<9} {'EXPIRES':<26} GROUP")
            for t in await service.list_tokens(db, limit=100_000):
                expires = t["expires_at"].isoformat() if t["expires_at"] else "-"
                print(
                    f"{t['token']:<38} {t['type']:<10} {t['status']:<9} {expires:<26} "
                    f"{t['group_id'] or '-'}"
                )
        elif args.action == "remove":
            if not await service.remove_token(db, args.token):
                raise CliError(f"id token {args.token} not found")
            print(f"removed id token {args.token}")
        return 0

    return _run(_with_db(args, work))


def cmd_reservations(args: argparse.Namespace) -> int | None:
    from volta.blocks.reservations import service

    async def work(db: Any) -> int:
        rows = await service.list_reservations(
            db, station_id=args.station, active=True if args.active else None, limit=100_000
        )
        print(f"{'ID':>6} {'STATION':<24} {'EVSE':>4} {'TOKEN':<22} {'STATUS':<11} EXPIRES")
        for r in rows:
            evse = "-" if r["evse_id"] is None else str(r["evse_id"])
            print(
                f"{r['id']:>6} {r['station_id']:<24} {evse:>4} {r['id_token']:<22} "
                f"{r['status']:<11} {r['expires_at'].isoformat()}"
            )
        return 0

    return _run(_with_db(args, work))


def cmd_transactions(args: argparse.Namespace) -> int | None:
    from volta.blocks.transactions import service

    async def work(db: Any) -> int:
        if args.action == "list":
            rows = await service.list_transactions(
                db, station_id=args.station, active=True if args.active else None, limit=100_000
            )
            print(
                f"{'ID':>7} {'STATION':<24} {'EVSE':>4} {'TOKEN':<22} {'STATUS':<7} "
                f"{'ENDED BY':<9} {'ENERGY WH':>10} STARTED"
            )
            for r in rows:
                evse = "-" if r["evse_id"] is None else str(r["evse_id"])
                energy = "-" if r["energy_wh"] is None else f"{r['energy_wh']:.0f}"
                started = r["started_at"].isoformat() if r["started_at"] else "-"
                print(
                    f"{r['id']:>7} {r['station_id']:<24} {evse:>4} {r['id_token'] or '-':<22} "
                    f"{r['status']:<7} {r['ended_by'] or '-':<9} {energy:>10} {started}"
                )
        elif args.action == "close":
            try:
                row = await service.close_by_operator(db, args.id, args.reason)
            except LookupError as exc:
                raise CliError(str(exc)) from None
            except service.SessionNotActive as exc:
                raise CliError(str(exc)) from None
            print(
                f"closed transaction {row['id']} on {row['station_id']} EVSE {row['evse_id']} "
                f"at {row['meter_stop_wh']} Wh ({row['energy_wh']} Wh delivered)"
            )
        return 0

    return _run(_with_db(args, work))


def cmd_local_list(args: argparse.Namespace) -> int | None:
    from volta.blocks.local_list import service

    async def work(db: Any) -> int:
        found = await service.get_list(db, args.station)
        if found is None:
            raise CliError(f"station {args.station} has no local list")
        synced = found["synced_at"].isoformat() if found["synced_at"] else "never"
        print(
            f"station {args.station}: version {found['version']}, last answer "
            f"{found['last_status'] or '-'}, synced {synced}"
            + (", full update owed" if found["full_pending"] else "")
        )
        for e in found["entries"]:
            state = "to remove" if e["removed"] else ("pending" if e["pending"] else "held")
            print(f"  {e['token']:<38} {e['token_type']:<10} {state}")
        return 0

    return _run(_with_db(args, work))


def cmd_profiles(args: argparse.Namespace) -> int | None:
    """`profiles list` reads the database; `profiles clear` asks the running
    server (its HTTP API), since only it holds the stations' connections."""
    if args.action == "clear":
        return _clear_profiles(args)
    from volta.blocks.smart_charging import service

    async def work(db: Any) -> int:
        rows = await service.list_profiles(
            db, args.station, evse_id=args.evse, history=args.all, limit=100_000
        )
        print(
            f"{'EVSE':>4} {'ID':>8} {'PURPOSE':<34} {'STACK':>5} {'SOURCE':<9} "
            f"{'STATUS':<9} {'TX':<12} SCHEDULE"
        )
        for r in rows:
            print(
                f"{r.evse_id:>4} {r.profile_id:>8} {r.purpose:<34} {r.stack_level:>5} "
                f"{r.source:<9} {r.status:<9} {r.transaction_id or '-':<12} {_periods(r.profile)}"
            )
        return 0

    return _run(_with_db(args, work))


def _periods(profile: dict[str, Any]) -> str:
    """A profile's first schedule, short: `0s 16A, 3600s 10A`."""
    schedules = profile.get("chargingSchedule") or [{}]
    first = schedules[0]
    unit = first.get("chargingRateUnit", "")
    return ", ".join(
        f"{p['startPeriod']}s {p['limit']:g}{unit}" for p in first.get("chargingSchedulePeriod", [])
    )


def _clear_profiles(args: argparse.Namespace) -> int:
    import urllib.parse

    station = urllib.parse.quote(args.station, safe="")
    path = f"/api/v1/stations/{station}/charging-profiles"
    if args.id is not None:
        path += f"/{args.id}"
    else:
        query = {
            k: v
            for k, v in (
                ("evse_id", args.evse),
                ("purpose", args.purpose),
                ("stack_level", args.stack_level),
            )
            if v is not None
        }
        if query:
            path += "?" + urllib.parse.urlencode(query)
    body = _server_api(args, "DELETE", path)
    cleared = ", ".join(str(p["profile_id"]) for p in body["cleared"]) or "none known to Volta"
    print(f"station {args.station} answered {body['station_status']}; cleared: {cleared}")
    return 0


def _rotate_password(args: argparse.Namespace) -> int:
    """Only the running server holds the station's connection: ask its API."""
    import urllib.parse

    station = urllib.parse.quote(args.id, safe="")
    body = _server_api(args, "POST", f"/api/v1/stations/{station}/password-rotation")
    print(f"password rotation of station {args.id}: {body['state']}")
    if body["state"] == "pending":
        print("the station accepted; its old password works until it signs in with the new one")
    elif body["state"] == "failed":
        print(f"the station did not take it ({body.get('detail')}); its old password stays")
        return 1
    return 0


def _server_api(
    args: argparse.Namespace, method: str, path: str, payload: dict[str, Any] | None = None
) -> Any:
    """Call the running server's HTTP API (--api-url, --token), with a JSON
    body if given; CliError on a refusal, with the API's `detail`."""
    import json
    import urllib.error
    import urllib.request

    settings = _settings(args)
    host = settings.host if settings.host not in ("", "0.0.0.0", "::") else "127.0.0.1"
    base = (args.api_url or f"http://{host}:{settings.api_port}").rstrip("/")
    token = args.token or settings.api_token
    if not token:
        raise CliError("an API token is needed: --token or VOLTA_API_TOKEN")
    headers = {"Authorization": f"Bearer {token}"}
    data = None
    if payload is not None:
        data = json.dumps(payload).encode()
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    try:
        # Commands wait for the station's answer (call_timeout and more).
        with urllib.request.urlopen(request, timeout=120) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:
            detail = json.loads(exc.read()).get("detail", exc.reason)
        except ValueError:
            detail = exc.reason
        raise CliError(f"{exc.code}: {detail}") from None
    except urllib.error.URLError as exc:
        raise CliError(f"cannot reach Volta at {base}: {exc.reason}") from None


# -- certificates: the CA and certificates in stations (docs/security.md) -----------


def cmd_ca(args: argparse.Namespace) -> int | None:
    """`volta ca init|show|export`: Volta's built-in certificate authorities."""
    from pathlib import Path

    from volta.blocks.certificates.ca import NAMES, BuiltinCA, pem
    from volta.blocks.certificates.hashdata import hash_data

    settings = _settings(args)
    own: tuple[str, str] | None = None
    if args.action == "init" and (args.certificate or args.key):
        if not (args.certificate and args.key):
            raise CliError("--certificate and --key go together")
        own = Path(args.certificate).read_text(), Path(args.key).read_text()
    exported: list[str] = []

    async def work(db: Any) -> int:
        ca = BuiltinCA(db, settings)
        if own is not None:
            try:
                imported = await ca.import_authority(*own)
            except ValueError as exc:
                raise CliError(str(exc)) from None
            print(f"imported {imported.certificate.subject.rfc4514_string()} as the CSMS CA")
        if args.action == "export":
            found = await ca.load("csms" if args.kind == "csms" else "v2g_root")
            assert found is not None
            exported.append(pem(found.certificate))
            return 0
        for name in NAMES:
            found = await ca.load(name, create=args.action == "init")
            if found is None:
                print(f"{name:<9} (not made yet: volta ca init)")
                continue
            c = found.certificate
            print(
                f"{name:<9} {found.origin:<9} {c.subject.rfc4514_string()}  "
                f"until {c.not_valid_after_utc:%Y-%m-%d}  "
                f"serial {hash_data(c).serial_number}"
            )
        return 0

    result = _run(_with_db(args, work))
    for text in exported:
        if args.out:
            Path(args.out).write_text(text)
            print(f"wrote {args.out}", file=sys.stderr)
        else:
            print(text, end="")
    return result


def cmd_certificates(args: argparse.Namespace) -> int | None:
    """`volta certificates list` reads the database; the others ask the
    running server (they talk to a station) through its HTTP API."""
    from pathlib import Path

    if args.action == "list":
        from volta.blocks.certificates import service

        async def work(db: Any) -> int:
            rows = await service.list_issued(
                db, station_id=args.station, expiring_within_days=args.expiring, limit=100_000
            )
            print(f"{'ID':>5} {'STATION':<24} {'TYPE':<27} {'STATUS':<9} {'NOT AFTER':<20} SERIAL")
            for r in rows:
                print(
                    f"{r['id']:>5} {r['station_id']:<24} {r['certificate_type']:<27} "
                    f"{r['status']:<9} {r['not_after']:%Y-%m-%d %H:%M:%S}  {r['serial_number']}"
                )
            return 0

        return _run(_with_db(args, work))
    import urllib.parse

    station = urllib.parse.quote(args.station, safe="")
    path = f"/api/v1/stations/{station}/certificates"
    if args.action == "installed":
        body = _server_api(args, "POST", f"{path}/refresh", None)
        for row in body["installed"]:
            print(
                f"{row['certificate_type']:<28} {row['hash_algorithm']:<7} "
                f"serial {row['serial_number']}  issuer-name {row['issuer_name_hash']}  "
                f"issuer-key {row['issuer_key_hash']}"
            )
        if not body["installed"]:
            print("none reported")
        return 0
    if args.action == "install":
        body = _server_api(
            args,
            "POST",
            f"{path}/install",
            {"certificate_type": args.type, "certificate": Path(args.file).read_text()},
        )
    elif args.action == "delete":
        body = _server_api(
            args,
            "POST",
            f"{path}/delete",
            {
                "hash_algorithm": args.hash_algorithm,
                "issuer_name_hash": args.issuer_name_hash,
                "issuer_key_hash": args.issuer_key_hash,
                "serial_number": args.serial,
            },
        )
    else:  # renew
        body = _server_api(args, "POST", f"{path}/renew", {"certificate_type": args.type})
    print(f"station {args.station} answered {body['status'] or body['command']['status']}")
    return 0 if body["status"] == "Accepted" else 1


def cmd_firmware(args: argparse.Namespace) -> int | None:
    """`volta firmware campaigns|campaign-show` read the database; creating and
    steering a campaign asks the running server (its tick does the work)."""
    if args.action in ("campaigns", "campaign-show"):
        from volta.blocks.firmware import campaigns

        async def work(db: Any) -> int:
            if args.action == "campaigns":
                rows = await campaigns.list_campaigns(db, limit=100_000)
            else:
                found = await campaigns.get_campaign(db, args.id)
                if found is None:
                    raise CliError(f"campaign {args.id} not found")
                rows = [found]
            print(f"{'ID':>4} {'NAME':<24} {'VERSION':<12} {'STATE':<9} PROGRESS")
            for c in rows:
                p = c["progress"]
                print(
                    f"{c['id']:>4} {c['name'][:24]:<24} {(c['version'] or '-')[:12]:<12} "
                    f"{c['state']:<9} {p['installed']}/{p['total']} installed, {p['failed']} "
                    f"failed, {p['in_progress']} in progress, {p['pending']} pending, "
                    f"{p['skipped_offline']} skipped offline"
                )
            if args.action == "campaign-show":
                if rows[0]["detail"]:
                    print(f"     {rows[0]['detail']}")
                for s in await campaigns.campaign_stations(db, args.id):
                    canary = "canary" if s["canary"] else ""
                    print(
                        f"  {s['station_id']:<24} {canary:<6} {s['state']:<15} "
                        f"{s['update_status'] or '':<26} {s['detail'] or ''}"
                    )
            return 0

        return _run(_with_db(args, work))
    if args.action == "campaign-create":
        target: dict[str, Any] = {
            k: v
            for k, v in (
                ("vendor", args.vendor),
                ("model", args.model),
                ("firmware_version", args.from_version),
                ("site_id", args.site),
            )
            if v is not None
        }
        if args.station:
            target["station_ids"] = args.station
        window = (args.window or "").split("-") if args.window else [None, None]
        if len(window) != 2:
            raise CliError("--window is HH:MM-HH:MM")
        payload: dict[str, Any] = {
            "name": args.name,
            "target": target,
            "canary": args.canary,
            "max_in_progress": args.max_in_progress,
            "attempts": args.attempts,
            "failure_threshold": args.failure_threshold,
            "window_start": window[0],
            "window_end": window[1],
            "timezone": args.timezone,
        }
        for key in ("file_id", "location", "version"):
            if getattr(args, key):
                payload[key] = getattr(args, key)
        body = _server_api(args, "POST", "/api/v1/firmware-campaigns", payload)
    else:  # pause, resume, cancel
        body = _server_api(args, "POST", f"/api/v1/firmware-campaigns/{args.id}/{args.action}")
    p = body["progress"]
    print(
        f"campaign {body['id']} {body['state']}: {p['total']} stations, version {body['version']}"
    )
    return 0


def cmd_api_token(args: argparse.Namespace) -> int | None:
    import sqlalchemy as sa

    from volta.security import hash_api_token, new_api_token
    from volta.store.models import ApiToken, utcnow

    async def work(db: Any) -> int:
        token = new_api_token()
        async with db.write() as conn:
            if args.revoke_others:
                await conn.execute(sa.delete(ApiToken))
            await conn.execute(
                sa.insert(ApiToken).values(
                    name=args.name, token_hash=hash_api_token(token), created_at=utcnow()
                )
            )
        print(token)
        return 0

    return _run(_with_db(args, work))


def _read_password(args: argparse.Namespace) -> str:
    """From standard input (--password-stdin, first line) or a prompt typed twice."""
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    import getpass

    if not sys.stdin.isatty():
        raise CliError("no terminal to ask for the password on; use --password-stdin")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Password again: ") != first:
        raise CliError("the passwords differ")
    return first


def cmd_users(args: argparse.Namespace) -> int | None:
    from volta.web import users

    password = _read_password(args) if args.action in ("add", "passwd") else ""
    if args.action == "add":
        try:
            users.check_new_user(args.username, password, args.role)
        except users.UserError as exc:
            raise CliError(str(exc)) from None
    elif args.action == "passwd":
        try:
            users.check_password(password)
        except users.UserError as exc:
            raise CliError(str(exc)) from None

    async def work(db: Any) -> int:
        from sqlalchemy.exc import IntegrityError

        if args.action == "add":
            try:
                await users.add_user(db, args.username, password, args.role)
            except IntegrityError:
                raise CliError(f"user {args.username} already exists") from None
            print(f"added dashboard user {args.username} ({args.role})")
        elif args.action == "list":
            print(f"{'USER':<32} {'ROLE':<7} LAST SIGN-IN")
            for u in await users.list_users(db):
                last = u["last_login_at"].isoformat() if u["last_login_at"] else "-"
                print(f"{u['username']:<32} {u['role']:<7} {last}")
        elif args.action == "passwd":
            if not await users.set_password(db, args.username, password):
                raise CliError(f"user {args.username} not found")
            print(f"changed the password of {args.username}; their sessions ended")
        elif args.action == "remove":
            if not await users.remove_user(db, args.username):
                raise CliError(f"user {args.username} not found")
            print(f"removed dashboard user {args.username}")
        return 0

    return _run(_with_db(args, work))


# -- parser ----------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--database-url",
        metavar="URL",
        help="sqlite:///PATH or postgresql://USER@HOST/DB (default: $VOLTA_DATABASE_URL "
        "or sqlite:///./volta.db)",
    )
    common.add_argument("--config", metavar="FILE", help="TOML settings file")

    parser = argparse.ArgumentParser(
        prog="volta", description="Volta: an OCPP 1.6J / 2.0.1 charging station management system."
    )
    parser.add_argument("--version", action="version", version=f"volta {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", parents=[common], help="run the CSMS")
    serve.add_argument("--host", help="address to listen on (default 0.0.0.0)")
    serve.add_argument("--ocpp-port", type=int, help="OCPP WebSocket port (default 9000)")
    serve.add_argument("--api-port", type=int, help="HTTP API port (default 8000)")
    serve.add_argument(
        "--nats-url",
        help="NATS server shared by several nodes, e.g. nats://127.0.0.1:4222 "
        "(needs PostgreSQL; docs/scale-out.md)",
    )
    serve.add_argument("--node-id", help="this node's name (default <host>-<pid>-<random>)")
    serve.add_argument(
        "--demo",
        type=int,
        default=0,
        metavar="N",
        help="also run N simulated stations against this server (for a first look)",
    )
    serve.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="run N worker processes sharing the ports (default 1; N > 1 needs "
        "PostgreSQL and --nats-url: docs/scale-out.md)",
    )
    # Internal: this process is worker I of a `--workers` supervisor.
    serve.add_argument("--worker", type=int, default=0, help=argparse.SUPPRESS)
    serve.add_argument("--ready-fd", type=int, help=argparse.SUPPRESS)
    serve.set_defaults(func=cmd_serve)

    sim = sub.add_parser("simulate", help="run simulated charging stations against a CSMS")
    sim.add_argument("--scenario", metavar="FILE", help="TOML scenario (flags override it)")
    sim.add_argument(
        "--url", help="CSMS WebSocket URL without the station id (ws://127.0.0.1:9000)"
    )
    sim.add_argument("--stations", type=int, help="how many stations (3)")
    sim.add_argument(
        "--protocol",
        choices=["1.6", "2.0.1", "2.1", "mixed"],
        help="OCPP version (mixed: 1.6, 2.0.1 and 2.1 in turn)",
    )
    sim.add_argument("--connectors", type=int, help="connectors (EVSEs) per station (2)")
    sim.add_argument("--id-prefix", help="station ids are PREFIX001, PREFIX002, ... (SIM-)")
    sim.add_argument("--password", help="HTTP Basic password of every station")
    sim.add_argument(
        "--token",
        action="append",
        help="id token drivers present (repeatable; default: one card per connector, "
        "SIM-CARD-1 .. SIM-CARD-N)",
    )
    sim.add_argument("--meter-interval", type=float, help="seconds between meter values (10)")
    sim.add_argument(
        "--max-current",
        type=float,
        help="each EVSE's rating, A per phase: what it offers with no charging profile (32)",
    )
    sim.add_argument(
        "--one-phase-share",
        type=float,
        help="share of cars (0-1) charging on one phase, beside any of 7.4 kW or less (0.2)",
    )
    sim.add_argument("--sessions", type=int, help="sessions per connector, then idle (0: forever)")
    sim.add_argument("--seed", type=int, help="random seed for repeatable runs")
    sim.add_argument(
        "--payment-terminal",
        action="store_true",
        default=None,
        help="2.1 stations: drivers pay by card (DirectPayment, NotifySettlement)",
    )
    sim.add_argument(
        "--v2x",
        action="store_true",
        default=None,
        help="2.1 stations: V2X cars that feed back under a discharging profile",
    )
    sim.add_argument(
        "--duration",
        type=float,
        default=0.0,
        help="stop after S seconds (open sessions end first, within 10 s)",
    )
    sim.add_argument("--report-every", type=float, default=10.0, help="print a summary every S s")
    sim.add_argument("--verbose", action="store_true", help="log connections and failures")
    sim.set_defaults(func=cmd_simulate)

    mig = sub.add_parser("migrate", parents=[common], help="create or upgrade the database schema")
    mig.set_defaults(func=cmd_migrate)

    stations = sub.add_parser("stations", help="manage charging stations")
    s_sub = stations.add_subparsers(dest="action", required=True)
    s_add = s_sub.add_parser("add", parents=[common], help="register a station")
    s_add.add_argument("id")
    s_add.add_argument("--password", help="HTTP Basic password (security profile 1)")
    s_add.add_argument("--generate-password", action="store_true", help="generate and print one")
    s_add.add_argument("--status", default="Accepted", choices=["Accepted", "Pending", "Rejected"])
    s_sub.add_parser("list", parents=[common], help="list stations")
    s_rot = s_sub.add_parser(
        "rotate-password",
        parents=[common],
        help="give a connected station a new random password, through the running server's API",
    )
    s_rot.add_argument("id")
    s_rot.add_argument(
        "--api-url", help="the server's API (default: http://<host>:<api_port> of the settings)"
    )
    s_rot.add_argument("--token", help="an API token (default: $VOLTA_API_TOKEN)")
    s_up = s_sub.add_parser("update", parents=[common], help="change a station")
    s_up.add_argument("id")
    s_up.add_argument(
        "--security-profile",
        type=int,
        choices=[1, 2, 3],
        help="the lowest OCPP security profile it may connect with (1 Basic, 2 TLS, 3 mutual TLS)",
    )
    s_up.add_argument(
        "--allow-lower", action="store_true", help="allow lowering its security profile"
    )
    s_rm = s_sub.add_parser("remove", parents=[common], help="remove a station")
    s_rm.add_argument("id")
    stations.set_defaults(func=cmd_stations)

    tokens = sub.add_parser("tokens", help="manage id tokens (RFID cards, fobs, app accounts)")
    t_sub = tokens.add_subparsers(dest="action", required=True)
    t_add = t_sub.add_parser("add", parents=[common], help="add an id token")
    t_add.add_argument("token")
    t_add.add_argument(
        "--status", default="Accepted", choices=["Accepted", "Blocked", "Expired", "Invalid"]
    )
    t_add.add_argument(
        "--type", default="ISO14443", help="2.0.1 IdTokenEnumType (default ISO14443)"
    )
    t_add.add_argument(
        "--expires", metavar="ISO", help="expiry date/time, e.g. 2027-12-31T23:59:59Z"
    )
    t_add.add_argument("--group", help="group id token (1.6 parentIdTag / 2.0.1 groupIdToken)")
    t_add.add_argument("--language", help="the driver's language (RFC 5646, e.g. nl or en-GB)")
    t_add.add_argument("--note", help="free text: driver's name, card label, ...")
    t_up = t_sub.add_parser("update", parents=[common], help="block, expire or regroup a token")
    t_up.add_argument("token")
    t_up.add_argument("--status", choices=["Accepted", "Blocked", "Expired", "Invalid"])
    t_up.add_argument("--expires", metavar="ISO", help="new expiry date/time")
    t_up.add_argument("--group", help="new group id token")
    t_up.add_argument("--no-group", action="store_true", help="take the token out of its group")
    t_up.add_argument("--note")
    t_sub.add_parser("list", parents=[common], help="list id tokens")
    t_rm = t_sub.add_parser("remove", parents=[common], help="remove an id token")
    t_rm.add_argument("token")
    tokens.set_defaults(func=cmd_tokens)

    res = sub.add_parser("reservations", parents=[common], help="list reservations")
    res.add_argument("--station", help="only this station's")
    res.add_argument("--active", action="store_true", help="only live ones")
    res.set_defaults(func=cmd_reservations)

    txs = sub.add_parser("transactions", help="list charging sessions; close a stale one")
    tx_sub = txs.add_subparsers(dest="action", required=True)
    tx_list = tx_sub.add_parser("list", parents=[common], help="list sessions, newest first")
    tx_list.add_argument("--station", help="only this station's")
    tx_list.add_argument("--active", action="store_true", help="only sessions in progress")
    tx_close = tx_sub.add_parser(
        "close",
        parents=[common],
        help="close a stale session by hand (the station is not asked; see docs/protocol.md)",
    )
    tx_close.add_argument("id", type=int, help="the transaction's id")
    tx_close.add_argument("--reason", required=True, help="why; kept with the session")
    txs.set_defaults(func=cmd_transactions)

    lst = sub.add_parser(
        "local-list", parents=[common], help="show a station's local authorization list"
    )
    lst.add_argument("station")
    lst.set_defaults(func=cmd_local_list)

    profiles = sub.add_parser("profiles", help="charging profiles (docs/smart-charging.md)")
    p_sub = profiles.add_subparsers(dest="action", required=True)
    p_list = p_sub.add_parser(
        "list", parents=[common], help="what Volta believes a station has installed"
    )
    p_list.add_argument("station")
    p_list.add_argument("--evse", type=int, help="only this EVSE's (0: the whole station)")
    p_list.add_argument("--all", action="store_true", help="with history, newest first")
    p_clear = p_sub.add_parser(
        "clear",
        parents=[common],
        help="send ClearChargingProfile through the running server's HTTP API",
    )
    p_clear.add_argument("station")
    p_clear.add_argument("--id", type=int, help="the profile id (else: the criteria below)")
    p_clear.add_argument("--evse", type=int, help="criteria: EVSE (0: the whole station)")
    p_clear.add_argument("--purpose", help="criteria: e.g. TxDefaultProfile")
    p_clear.add_argument("--stack-level", type=int, help="criteria: stack level")
    p_clear.add_argument(
        "--api-url", help="the server's API (default: http://<host>:<api_port> of the settings)"
    )
    p_clear.add_argument("--token", help="an API token (default: $VOLTA_API_TOKEN)")
    profiles.set_defaults(func=cmd_profiles)

    users = sub.add_parser("users", help="manage dashboard users (admin or viewer)")
    u_sub = users.add_subparsers(dest="action", required=True)
    u_add = u_sub.add_parser("add", parents=[common], help="add a user")
    u_add.add_argument("username")
    u_add.add_argument("--role", default="viewer", choices=["admin", "viewer"])
    u_sub.add_parser("list", parents=[common], help="list users")
    u_pw = u_sub.add_parser("passwd", parents=[common], help="change a user's password")
    u_pw.add_argument("username")
    for p in (u_add, u_pw):
        p.add_argument(
            "--password-stdin",
            action="store_true",
            help="read the password from standard input instead of a prompt",
        )
    u_rm = u_sub.add_parser("remove", parents=[common], help="remove a user")
    u_rm.add_argument("username")
    users.set_defaults(func=cmd_users)

    sites = sub.add_parser("sites", help="sites and circuits: load management")
    si_sub = sites.add_subparsers(dest="action", required=True)
    si_add = si_sub.add_parser("add", parents=[common], help="add a site or circuit")
    si_add.add_argument("name")
    si_add.add_argument("--max-current", type=float, help="limit per phase, in A")
    si_add.add_argument("--max-power", type=float, help="limit over all phases, in W")
    si_add.add_argument("--phases", type=int, default=3, choices=(1, 3))
    si_add.add_argument("--parent", type=int, help="the site it hangs from")
    si_add.add_argument("--strategy", default="equal", choices=("equal", "priority", "first_come"))
    si_add.add_argument("--min-current", type=float, default=6.0, help="below it: paused (A)")
    si_add.add_argument("--voltage", type=float, default=230.0, help="phase voltage (V)")
    si_sub.add_parser("list", parents=[common], help="list sites")
    si_lim = si_sub.add_parser("limit", parents=[common], help="change a site's limit")
    si_lim.add_argument("id", type=int)
    si_lim.add_argument("--max-current", type=float, help="limit per phase, in A")
    si_lim.add_argument("--max-power", type=float, help="limit over all phases, in W")
    si_pl = si_sub.add_parser("place", parents=[common], help="put a station on a site")
    si_pl.add_argument("station")
    si_pl.add_argument("site", help="a site id, or none")
    si_rm = si_sub.add_parser("remove", parents=[common], help="remove a site")
    si_rm.add_argument("id", type=int)
    sites.set_defaults(func=cmd_sites)

    ca = sub.add_parser("ca", help="Volta's certificate authority (docs/security.md)")
    ca_sub = ca.add_subparsers(dest="action", required=True)
    ca_init = ca_sub.add_parser(
        "init", parents=[common], help="make the CAs now (else at first use), or import yours"
    )
    ca_init.add_argument("--certificate", help="your own root or sub-CA certificate (PEM)")
    ca_init.add_argument("--key", help="its private key (PEM, unencrypted); sealed when stored")
    ca_sub.add_parser("show", parents=[common], help="list the CAs")
    ca_export = ca_sub.add_parser(
        "export", parents=[common], help="print a CA certificate (PEM), e.g. for tls_client_ca"
    )
    ca_export.add_argument("--kind", choices=["csms", "v2g"], default="csms")
    ca_export.add_argument("--out", help="write it to this file")
    ca.set_defaults(func=cmd_ca)

    certs = sub.add_parser("certificates", help="certificates issued to and installed in stations")
    c_sub = certs.add_subparsers(dest="action", required=True)
    c_list = c_sub.add_parser("list", parents=[common], help="certificates Volta issued")
    c_list.add_argument("--station")
    c_list.add_argument("--expiring", type=int, metavar="DAYS", help="expiring within DAYS")
    c_api = argparse.ArgumentParser(add_help=False)
    c_api.add_argument("--api-url", help="the server's API (default: http://<host>:<api_port>)")
    c_api.add_argument("--token", help="an API token (default: $VOLTA_API_TOKEN)")
    c_inst = c_sub.add_parser(
        "installed", parents=[common, c_api], help="ask a station (GetInstalledCertificateIds)"
    )
    c_inst.add_argument("station")
    c_add = c_sub.add_parser(
        "install", parents=[common, c_api], help="send a root certificate (InstallCertificate)"
    )
    c_add.add_argument("station")
    c_add.add_argument(
        "--type",
        required=True,
        choices=[
            "CSMSRootCertificate",
            "ManufacturerRootCertificate",
            "V2GRootCertificate",
            "MORootCertificate",
        ],
    )
    c_add.add_argument("file", help="the certificate, PEM")
    c_del = c_sub.add_parser(
        "delete",
        parents=[common, c_api],
        help="DeleteCertificate by hash data (never the last root of a kind)",
    )
    c_del.add_argument("station")
    c_del.add_argument("--serial", required=True)
    c_del.add_argument("--issuer-name-hash", required=True)
    c_del.add_argument("--issuer-key-hash", required=True)
    c_del.add_argument("--hash-algorithm", default="SHA256", choices=["SHA256", "SHA384", "SHA512"])
    c_renew = c_sub.add_parser(
        "renew", parents=[common, c_api], help="ask a station for a new CSR now"
    )
    c_renew.add_argument("station")
    c_renew.add_argument(
        "--type",
        default="ChargingStationCertificate",
        choices=["ChargingStationCertificate", "V2GCertificate", "Combined"],
    )
    certs.set_defaults(func=cmd_certificates)

    fw = sub.add_parser("firmware", help="firmware campaigns (docs/device-management.md)")
    fw_sub = fw.add_subparsers(dest="action", required=True)
    fw_sub.add_parser("campaigns", parents=[common], help="list campaigns with progress")
    fw_show = fw_sub.add_parser("campaign-show", parents=[common], help="a campaign's stations")
    fw_show.add_argument("id", type=int)
    fw_api = argparse.ArgumentParser(add_help=False)
    fw_api.add_argument("--api-url", help="the server's API (default: http://<host>:<api_port>)")
    fw_api.add_argument("--token", help="an API token (default: $VOLTA_API_TOKEN)")
    fw_new = fw_sub.add_parser(
        "campaign-create", parents=[common, fw_api], help="start a campaign (canary, then waves)"
    )
    fw_new.add_argument("--name", required=True)
    fw_src = fw_new.add_mutually_exclusive_group(required=True)
    fw_src.add_argument("--file-id", help="a stored firmware file")
    fw_src.add_argument("--location", help="or an external URL")
    fw_new.add_argument("--version", help="the version stations report once updated")
    fw_new.add_argument("--vendor")
    fw_new.add_argument("--model")
    fw_new.add_argument("--from-version", help="stations now at this firmware version")
    fw_new.add_argument("--site", type=int, help="stations on this site")
    fw_new.add_argument("--station", action="append", help="this station (repeat)")
    fw_new.add_argument("--canary", type=int, default=1)
    fw_new.add_argument("--max-in-progress", type=int, default=5)
    fw_new.add_argument("--attempts", type=int, default=1)
    fw_new.add_argument("--failure-threshold", type=float, default=0.2, help="0..1")
    fw_new.add_argument("--window", help="HH:MM-HH:MM (default: always)")
    fw_new.add_argument("--timezone", default="UTC")
    for move in ("pause", "resume", "cancel"):
        fw_move = fw_sub.add_parser(move, parents=[common, fw_api], help=f"{move} a campaign")
        fw_move.add_argument("id", type=int)
    fw.set_defaults(func=cmd_firmware)

    api_token = sub.add_parser("api-token", parents=[common], help="create an HTTP API token")
    api_token.add_argument("--name", default="cli", help="what the token is for")
    api_token.add_argument("--revoke-others", action="store_true", help="revoke every other token")
    api_token.set_defaults(func=cmd_api_token)
    return parser


def main(argv: list[str] | None = None) -> int:
    from sqlalchemy.exc import DBAPIError

    from volta.store.db import DatabaseMissing, SchemaBehind

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = args.func(args)
    except (CliError, DatabaseMissing, SchemaBehind) as exc:
        print(f"volta: {exc}", file=sys.stderr)
        return 1
    except DBAPIError as exc:  # e.g. no such database, unwritable SQLite file
        print(f"volta: database error: {exc.orig}", file=sys.stderr)
        return 1
    except ValueError as exc:  # bad settings or URL
        print(f"volta: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"volta: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return int(result or 0)
