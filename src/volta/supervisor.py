"""`volta serve --workers N`: N worker processes on one host, each a whole
Volta node (gateway, API, its own node id), sharing the OCPP and API ports.

The supervisor (this module, the process the operator started) does the
work that must happen once before any node serves - the migrations, the
first API token, the webhook key, closing what the last stop left pending
(`Volta.prepare`) - then starts the workers: `volta serve --worker I`, each
reading its settings as one JSON line on stdin. Every worker opens its
listening sockets with SO_REUSEPORT on the same ports, and the kernel
spreads new connections over them. The supervisor itself binds both ports
too (without listening: it never gets a connection) so that the ports stay
Volta's while a worker restarts, and a port 0 is resolved once for all.

It forwards SIGTERM and SIGINT to every worker (each drains: its stations
are closed with 1012 and reconnect through the port to the other workers; a
second signal stops them at once), restarts a worker that exits on its own,
after 1 s doubling to 30 s while it keeps dying young, and exits once every
worker has stopped. A worker's stdin stays open for the supervisor's life:
if the supervisor is killed, the workers see it end and drain.

Workers are separate nodes, so they need what several nodes need: NATS
(nats_url) and PostgreSQL. A worker runs in a session of its own: a Ctrl-C
at the terminal reaches only the supervisor, which forwards it once.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import enum
import json
import logging
import os
import re
import secrets
import signal
import socket
import sys
import time
from typing import Any

from volta.app import Volta, reuse_port_socket
from volta.cluster.node import make_node_id
from volta.config import Settings, load_settings

log = logging.getLogger(__name__)

# Restart back-off: the first delay, doubling while a worker keeps dying
# within YOUNG seconds of its start, at most MAX_DELAY.
FIRST_DELAY = 1.0
MAX_DELAY = 30.0
YOUNG = 30.0
NODE_ID_MAX = 40  # the nodes table's id column


class WorkersRefused(ValueError):
    """Settings `volta serve --workers N` cannot run with."""


def check(settings: Settings) -> None:
    """Refuse settings that cannot run N workers, saying what to change."""
    if settings.workers < 1:
        raise WorkersRefused(f"workers must be 1 or more, not {settings.workers}")
    if settings.workers == 1:
        return
    if settings.database_url.startswith("sqlite"):
        raise WorkersRefused(
            f"--workers {settings.workers} needs PostgreSQL: a SQLite database is one "
            "process's (set database_url to postgresql://..., or run one process)"
        )
    if not settings.nats_url:
        raise WorkersRefused(
            f"--workers {settings.workers} needs a NATS server the workers share "
            "(--nats-url / VOLTA_NATS_URL, e.g. nats://127.0.0.1:4222), or run one process"
        )
    for index in range(1, settings.workers + 1):
        make_node_id(worker_node_id(settings, index))  # a bad node_id: ValueError now


def worker_node_id(settings: Settings, index: int) -> str:
    """`<host>-w<i>-<random>`, new at every start of the worker; with
    node_id set, `<node_id>-w<i>` (stable, and still one per worker)."""
    if settings.node_id:
        suffix = f"-w{index}"
        return settings.node_id[: NODE_ID_MAX - len(suffix)] + suffix
    suffix = f"-w{index}-{secrets.token_hex(3)}"
    # As volta.cluster names a node: it is part of NATS subjects.
    host = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:20] or "node"
    return host + suffix


def settings_line(settings: Settings) -> bytes:
    """The settings as one JSON line, for a worker's stdin (secrets never go
    through the command line or the environment of a process listing)."""
    values = {
        k: v.value if isinstance(v, enum.Enum) else v
        for k, v in dataclasses.asdict(settings).items()
    }
    return json.dumps(values).encode() + b"\n"


def read_settings_line(line: str) -> Settings:
    """A worker's settings, from the supervisor's JSON line."""
    values: dict[str, Any] = json.loads(line)
    return load_settings(None, **values)


def _describe(returncode: int) -> str:
    if returncode < 0:
        with contextlib.suppress(ValueError):
            return f"signal {signal.Signals(-returncode).name}"
    return f"status {returncode}"


@dataclasses.dataclass
class Child:
    """One worker process."""

    process: asyncio.subprocess.Process
    node_id: str
    started_at: float
    # True once the worker serves (it wrote to its ready pipe), False when it
    # exited before.
    ready: asyncio.Future[bool]


@dataclasses.dataclass
class Worker:
    """Slot I of N: the process serving as worker I now, and the one taking
    over from it during a rolling restart."""

    index: int
    child: Child | None = None
    successor: Child | None = None
    delay: float = FIRST_DELAY
    restarts: int = 0
    returncode: int | None = None

    def children(self) -> list[Child]:
        return [c for c in (self.child, self.successor) if c is not None]


class Supervisor:
    def __init__(self, settings: Settings, *, demo: int = 0) -> None:
        self.settings = settings
        self.demo = demo
        self.workers = [Worker(i) for i in range(1, settings.workers + 1)]
        self.stopping = False
        self.signals = 0
        self._stopped = asyncio.Event()
        self._rolling: asyncio.Task[None] | None = None
        # Workers a rolling restart told to drain.
        self._retiring: set[int] = set()

    async def run(self) -> int:
        """Start the workers and keep them running until a signal; the exit
        status: 0 when every worker stopped cleanly."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.forward, sig)
        loop.add_signal_handler(signal.SIGHUP, self.roll)
        try:
            await asyncio.gather(*(self._keep(worker) for worker in self.workers))
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                loop.remove_signal_handler(sig)
        if self._rolling is not None:
            await asyncio.gather(self._rolling, return_exceptions=True)
        failed = [w for w in self.workers if w.returncode not in (0, None)]
        for worker in failed:
            assert worker.returncode is not None
            log.error("worker %d stopped with %s", worker.index, _describe(worker.returncode))
        log.info("all %d workers stopped", len(self.workers))
        return 1 if failed else 0

    def forward(self, sig: int) -> None:
        """SIGTERM or SIGINT: every worker drains; a second one: they stop at once."""
        self.signals += 1
        self.stopping = True
        self._stopped.set()
        log.info(
            "%s: %s the %d workers",
            signal.Signals(sig).name,
            "draining" if self.signals == 1 else "stopping at once",
            len(self.workers),
        )
        for worker in self.workers:
            for child in worker.children():
                if child.process.returncode is not None:
                    continue
                if self.signals == 1 and child.process.pid in self._retiring:
                    continue  # draining already (a rolling restart): not hurried
                with contextlib.suppress(ProcessLookupError):
                    child.process.send_signal(sig)

    def roll(self) -> None:
        """SIGHUP: replace the workers one at a time (a rolling restart)."""
        if self.stopping:
            return
        if self._rolling is not None and not self._rolling.done():
            log.warning("SIGHUP: a rolling restart is already under way")
            return
        self._rolling = asyncio.create_task(self._roll(), name="rolling restart")

    async def _roll(self) -> None:
        """For each worker in turn: start its replacement, wait until it
        serves, then drain the old one and wait for it to exit. The ports
        always have a listener, and one worker drains at a time."""
        log.info("SIGHUP: replacing the %d workers one at a time", len(self.workers))
        for worker in self.workers:
            old = worker.child
            if self.stopping or old is None:
                return
            new = await self._start(worker)
            worker.successor = new
            ready = await new.ready
            if not ready or self.stopping:
                if worker.successor is new:  # not taken over: the old one serves on
                    worker.successor = None
                    if not self.stopping and new.process.returncode is None:
                        new.process.send_signal(signal.SIGTERM)  # (stopping: sent already)
                    await new.process.wait()
                if not self.stopping:
                    log.error(
                        "worker %d: its replacement did not start; the rolling restart stops",
                        worker.index,
                    )
                return
            if old.process.returncode is None:
                self._retiring.add(old.process.pid)
                with contextlib.suppress(ProcessLookupError):
                    old.process.send_signal(signal.SIGTERM)
            await old.process.wait()  # drained; _keep hands the slot to `new`
            self._retiring.discard(old.process.pid)
        log.info("rolling restart done: %d new workers", len(self.workers))

    async def _keep(self, worker: Worker) -> None:
        """Run one worker until the supervisor stops, restarting it when it
        exits on its own."""
        child = worker.child = await self._start(worker)
        while True:
            returncode = await child.process.wait()
            if worker.successor is not None:
                # A rolling restart: the new process takes over the slot.
                old, child, worker.successor = child, worker.successor, None
                worker.child = child
                log.info(
                    "worker %d: pid %d (node %s) took over from pid %d, which exited with %s",
                    worker.index,
                    child.process.pid,
                    child.node_id,
                    old.process.pid,
                    _describe(returncode),
                )
                continue
            worker.returncode = returncode
            if self.stopping:
                return
            lived = time.monotonic() - child.started_at
            worker.delay = FIRST_DELAY if lived > YOUNG else worker.delay
            log.error(
                "worker %d (pid %d, node %s) exited with %s after %.1f s; restarting in %g s",
                worker.index,
                child.process.pid,
                child.node_id,
                _describe(returncode),
                lived,
                worker.delay,
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), worker.delay)
            if self.stopping:
                return
            worker.delay = min(worker.delay * 2, MAX_DELAY)
            worker.restarts += 1
            child = worker.child = await self._start(worker)

    async def _start(self, worker: Worker) -> Child:
        """Start a process for slot `worker` (with a new node id)."""
        node_id = worker_node_id(self.settings, worker.index)
        settings = dataclasses.replace(self.settings, node_id=node_id)
        read_end, write_end = os.pipe()
        command = [
            sys.executable,
            "-m",
            "volta",
            "serve",
            "--worker",
            str(worker.index),
            "--ready-fd",
            str(write_end),
        ]
        if self.demo and worker.index == 1:
            command += ["--demo", str(self.demo)]
        try:
            process = await asyncio.create_subprocess_exec(
                *command,
                stdin=asyncio.subprocess.PIPE,
                pass_fds=(write_end,),
                # Its own session: a Ctrl-C at the terminal reaches the
                # supervisor only, which forwards it once.
                start_new_session=True,
            )
        except BaseException:
            os.close(read_end)
            raise
        finally:
            os.close(write_end)
        child = Child(process, node_id, time.monotonic(), _ready(read_end))
        assert process.stdin is not None
        # The pipe stays open for the supervisor's life: its end tells the
        # worker that the supervisor is gone.
        process.stdin.write(settings_line(settings))
        with contextlib.suppress(ConnectionError):
            await process.stdin.drain()
        if self.stopping:  # a signal came while it was being started
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        log.info("worker %d started: pid %d, node %s", worker.index, process.pid, node_id)
        return child


def _ready(fd: int) -> asyncio.Future[bool]:
    """True when the worker writes to its ready pipe, False when the pipe
    ends first (the worker exited before serving)."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[bool] = loop.create_future()

    def readable() -> None:
        try:
            data = os.read(fd, 64)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        loop.remove_reader(fd)
        os.close(fd)
        if not future.done():
            future.set_result(bool(data))

    os.set_blocking(fd, False)
    loop.add_reader(fd, readable)
    return future


def signal_ready(fd: int) -> None:
    """In a worker: tell the supervisor it serves (see `_ready`)."""
    with contextlib.suppress(OSError):
        os.write(fd, b"ready\n")
    with contextlib.suppress(OSError):
        os.close(fd)


async def supervise(settings: Settings, *, demo: int = 0) -> int:
    """`volta serve --workers N`: the first-start work once, then the workers."""
    check(settings)
    volta = Volta(settings)
    try:
        await volta.prepare()
    finally:
        await volta.db.close()
    # Hold both ports (bound, not listening) for the supervisor's life.
    reserved = [
        reuse_port_socket(settings.host, settings.ocpp_port),
        reuse_port_socket(settings.host, settings.api_port),
    ]
    # The plain port for security profile 1 beside a TLS port: one for all.
    plain = settings.ocpp_plain_port if settings.tls else -1
    if plain >= 0:
        reserved.append(reuse_port_socket(settings.host, plain))
    try:
        ports = [int(s.getsockname()[1]) for s in reserved]
        ocpp_port, api_port = ports[:2]
        settings = dataclasses.replace(settings, ocpp_port=ocpp_port, api_port=api_port)
        if plain >= 0:
            settings = dataclasses.replace(settings, ocpp_plain_port=ports[2])
        log.info(
            "starting %d workers on OCPP port %d and API port %d (supervisor pid %d)",
            settings.workers,
            ocpp_port,
            api_port,
            os.getpid(),
        )
        return await Supervisor(settings, demo=demo).run()
    finally:
        for sock in reserved:
            sock.close()
