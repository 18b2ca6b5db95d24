"""The FTP endpoint of the file service, for chargers that upload diagnostics
and logs only over FTP (docs/device-management.md, "Files").

Each upload request has a login of its own (`files.upload_url(...,
scheme="ftp")`: ftp://user:password@host:port/), valid until its link expires
and for one file. A logged-in station may only STOR a plain file name: there is
no listing, no download, no directory, no rename or delete, and nothing reaches
the disk but through the file service (`diagnostics.receive_upload`), exactly
as an HTTP upload does. Built on aioftp's server with most commands removed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path, PurePosixPath
from typing import Any

import aioftp
from aioftp import Connection

from volta.blocks.diagnostics import service as diagnostics
from volta.blocks.files import service as files
from volta.blocks.files.storage import TooLarge
from volta.services import Services

log = logging.getLogger(__name__)

# Seconds a control connection may stay silent, and a data transfer may stall.
IDLE_TIMEOUT = 120.0
SOCKET_TIMEOUT = 60.0
MAX_CONNECTIONS = 256
# The commands a station needs to upload one file; anything else is 502.
ALLOWED = ("user", "pass", "quit", "pwd", "cwd", "type", "pasv", "epsv", "stor", "syst", "abor")


class LinkUser(aioftp.User):
    """A login: the upload link's token, once the password matched."""

    def __init__(self, login: str) -> None:
        super().__init__(login, base_path=Path("/nonexistent"), home_path=PurePosixPath("/"))
        self.link: dict[str, Any] | None = None


class LinkLogins(aioftp.AbstractUserManager):
    """Logins are upload links: user + password is the link's token."""

    def __init__(self, services: Services) -> None:
        super().__init__()
        self.services = services

    async def get_user(
        self, login: str
    ) -> tuple[aioftp.AbstractUserManager.GetUserResponse, aioftp.User | None, str]:
        if len(login) != files.FTP_USER_CHARS:
            return (self.GetUserResponse.ERROR, None, "no such user")
        return (self.GetUserResponse.PASSWORD_REQUIRED, LinkUser(login), "password required")

    async def authenticate(self, user: aioftp.User, password: str) -> bool:
        assert isinstance(user, LinkUser) and user.login is not None
        if len(password) > 64:
            return False
        link = await files.resolve_link(self.services.db, user.login + password, "upload")
        if link is None or link["file_id"] is not None:
            log.info("FTP: a login refused (unknown, expired or used upload link)")
            return False
        user.link = link
        return True

    async def notify_logout(self, user: aioftp.User) -> None:
        pass


class UploadServer(aioftp.Server):
    def __init__(self, services: Services) -> None:
        super().__init__(
            LinkLogins(services),
            idle_timeout=IDLE_TIMEOUT,
            socket_timeout=SOCKET_TIMEOUT,
            wait_future_timeout=SOCKET_TIMEOUT,
            maximum_connections=MAX_CONNECTIONS,
            welcome_message="Volta file service: uploads only",
        )
        self.services = services
        self.commands_mapping = {
            name: fn for name, fn in self.commands_mapping.items() if name in ALLOWED
        }
        self.commands_mapping["stor"] = self.stor
        self.commands_mapping["cwd"] = self.cwd

    async def cwd(self, connection: Connection, rest: Any) -> bool:
        # One flat place per login: only "/" exists.
        if str(rest).strip() in ("/", "", "."):
            connection.response("250", "")
        else:
            connection.response("550", "no such directory")
        return True

    async def _start_passive_server(
        self,
        connection: Connection,
        handler_callback: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
    ) -> asyncio.Server:
        # The data connection must come from the host of the control
        # connection: another client cannot slip its bytes into an upload.
        async def same_host(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            peer = writer.get_extra_info("peername") or ("",)
            if peer[0] != connection.client_host:
                writer.close()
                return
            await handler_callback(reader, writer)

        return await super()._start_passive_server(connection, same_host)

    async def stor(self, connection: Connection, rest: Any, mode: str = "wb") -> bool:
        if not connection.future.logged.done():
            connection.response("503", "not logged in")
            return True
        if not connection.future.passive_server.done():
            connection.response("503", "use PASV or EPSV first")
            return True
        user = connection.user
        assert isinstance(user, LinkUser) and user.link is not None
        path = PurePosixPath(str(rest))
        name = files.safe_name(str(rest))
        if not name or len(path.parts) > 2 or (len(path.parts) == 2 and path.parts[0] != "/"):
            connection.response("553", "only a plain file name is accepted")
            return True
        task = asyncio.create_task(self._receive(connection, user.link, name))
        connection.extra_workers.add(task)
        connection.response("150", "data transfer started")
        return True

    async def _receive(self, connection: Connection, link: dict[str, Any], name: str) -> bool:
        try:
            async with asyncio.timeout(SOCKET_TIMEOUT):
                await asyncio.shield(connection.future.data_connection)
        except TimeoutError:
            connection.response("425", "Can't open data connection")
            return True
        stream = connection.data_connection
        del connection.data_connection
        try:
            async with stream:
                await diagnostics.receive_upload(
                    self.services, link, stream.iter_by_block(connection.block_size), name
                )
        except TooLarge:
            connection.response("552", "the file is larger than the service accepts")
            return True
        except files.LinkUsed:
            connection.response("550", "this login has uploaded its file already")
            return True
        except asyncio.CancelledError:
            # ABOR: nothing was kept (the storage drops a partial file).
            connection.response("426", "transfer aborted")
            connection.response("226", "abort successful")
            return True
        connection.response("226", "data transfer done")
        return True


async def start(services: Services, host: str, port: int) -> UploadServer:
    """Listen on `port` (0: any free port); the port bound is `server.address[1]`."""
    server = UploadServer(services)
    await server.start(host or None, port)
    return server
