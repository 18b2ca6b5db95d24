"""Dashboard users and their sign-in sessions.

Passwords are hashed with `volta.security.hash_password` (salted
PBKDF2-SHA256) at a much higher iteration count than station passwords:
people choose weaker passwords than machines, and people sign in rarely.
Hashing runs in a worker thread so a sign-in never stalls the event loop that
serves the stations.

A session is a random 256-bit value in an HttpOnly cookie; the database keeps
only its SHA-256 with the user, an expiry and the session's CSRF token.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import datetime as dt
import functools
import hashlib
import secrets
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import sqlalchemy as sa

from volta.security import hash_password, verify_password
from volta.store.db import Conn, Database
from volta.store.models import User, WebSession, utcnow
from volta.store.search import text_in

T = TypeVar("T")
ROLES = ("admin", "viewer")
USER_PBKDF2_ITERATIONS = 600_000
MIN_PASSWORD_LENGTH = 8


# Checked when the user does not exist, so that a wrong user name takes as
# long as a wrong password (no user enumeration by timing).
@functools.cache
def _dummy_hash() -> str:
    return hash_password("volta-no-such-user", iterations=USER_PBKDF2_ITERATIONS)


# At most two password hashes at once (each is ~0.3 s of CPU), in threads of
# their own: a flood of sign-in attempts queues up here instead of starving
# the process or the default executor.
_HASHING = concurrent.futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="pbkdf2")


async def _in_hash_pool(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_HASHING, functools.partial(fn, *args, **kwargs))


TOO_MANY_FAILURES = "too many failed sign-ins"


class SignInThrottle:
    """Limits sign-in attempts per source address, never per account (a
    stranger's wrong passwords must not lock the real admin out):

    - after `limit` failures within `window` seconds a source is refused
      (429) until its oldest failure leaves the window;
    - a source may have `concurrent` sign-ins being checked at once; more are
      refused before any password is hashed.

    So a flood from one address costs at most `concurrent` hashes at a time
    and cannot queue ahead of someone signing in from elsewhere. In memory,
    per process; at most `max_sources` addresses are remembered."""

    def __init__(
        self,
        limit: int = 10,
        window: float = 300.0,
        concurrent: int = 1,
        max_sources: int = 100_000,
    ) -> None:
        self.limit = limit
        self.window = window
        self.concurrent = concurrent
        self.max_sources = max_sources
        self._failures: dict[str, collections.deque[float]] = {}
        self._checking: collections.Counter[str] = collections.Counter()

    def _recent(self, source: str) -> collections.deque[float]:
        failures = self._failures.get(source)
        if failures is None:
            if len(self._failures) >= self.max_sources:
                self._forget_some()
            failures = self._failures[source] = collections.deque()
        while failures and failures[0] < time.monotonic() - self.window:
            failures.popleft()
        return failures

    def _forget_some(self) -> None:
        cutoff = time.monotonic() - self.window
        for key in [k for k, d in self._failures.items() if not d or d[-1] < cutoff]:
            del self._failures[key]
        while len(self._failures) >= self.max_sources:  # the oldest first
            del self._failures[next(iter(self._failures))]

    def refusal(self, source: str) -> str | None:
        """Why a sign-in from `source` is refused now, or None."""
        if len(self._recent(source)) >= self.limit:
            return TOO_MANY_FAILURES
        if self._checking[source] >= self.concurrent:
            return "a sign-in from this address is being checked"
        return None

    @contextlib.contextmanager
    def checking(self, source: str) -> Iterator[None]:
        """Count a sign-in of `source` as being checked while in the block."""
        self._checking[source] += 1
        try:
            yield
        finally:
            self._checking[source] -= 1
            if self._checking[source] <= 0:
                del self._checking[source]

    def failed(self, source: str) -> None:
        self._recent(source).append(time.monotonic())

    def succeeded(self, source: str) -> None:
        self._failures.pop(source, None)


class UserError(ValueError):
    """Input a user must fix (unknown role, short password, ...)."""


class LastAdmin(UserError):
    """The change would leave the console without an admin."""

    def __init__(self) -> None:
        super().__init__("the last admin cannot be removed or made a viewer")


def check_new_user(username: str, password: str, role: str) -> None:
    if not username or len(username) > 64 or not username.isprintable() or " " in username:
        raise UserError("a user name is 1-64 printable characters without spaces")
    if role not in ROLES:
        raise UserError(f"role must be one of {', '.join(ROLES)}")
    check_password(password)


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"a password has at least {MIN_PASSWORD_LENGTH} characters")


async def _hash(password: str) -> str:
    return await _in_hash_pool(hash_password, password, iterations=USER_PBKDF2_ITERATIONS)


async def add_user(db: Database, username: str, password: str, role: str = "viewer") -> None:
    """Raises UserError for bad input and IntegrityError when the name is taken."""
    check_new_user(username, password, role)
    password_hash = await _hash(password)
    now = utcnow()
    async with db.write() as conn:
        await conn.execute(
            sa.insert(User).values(
                username=username,
                password_hash=password_hash,
                role=role,
                created_at=now,
                updated_at=now,
            )
        )


async def list_users(db: Database) -> list[dict[str, Any]]:
    async with db.read() as conn:
        rows = (
            (
                await conn.execute(
                    sa.select(
                        User.username, User.role, User.created_at, User.last_login_at
                    ).order_by(User.username)
                )
            )
            .mappings()
            .all()
        )
    return [dict(r) for r in rows]


async def find_users(
    db: Database, q: str = "", limit: int = 51, offset: int = 0
) -> list[dict[str, Any]]:
    """A page of users (the console's list): searched by name, ordered by
    name (unique: a stable order)."""
    query = sa.select(
        User.id, User.username, User.role, User.created_at, User.last_login_at
    ).order_by(User.username)
    if q:
        query = query.where(text_in(q, User.username))
    async with db.read() as conn:
        rows = (await conn.execute(query.limit(limit).offset(offset))).mappings().all()
    return [dict(r) for r in rows]


async def get_user(db: Database, username: str) -> dict[str, Any] | None:
    async with db.read() as conn:
        row = (
            (
                await conn.execute(
                    sa.select(
                        User.id, User.username, User.role, User.language, User.time_zone
                    ).where(User.username == username)
                )
            )
            .mappings()
            .first()
        )
    return dict(row) if row else None


async def _refuse_last_admin(conn: Conn, username: str) -> None:
    """Raises LastAdmin when `username` is the only admin left."""
    admins = list(
        (await conn.execute(sa.select(User.username).where(User.role == "admin").limit(2)))
        .scalars()
        .all()
    )
    if admins == [username]:
        raise LastAdmin()


async def set_role(db: Database, username: str, role: str) -> bool:
    """Change a user's role (the console's rule: never demote the last
    admin). False when there is no such user."""
    if role not in ROLES:
        raise UserError(f"role must be one of {', '.join(ROLES)}")
    async with db.write() as conn:
        if role != "admin":
            await _refuse_last_admin(conn, username)
        done = await conn.execute(
            sa.update(User).where(User.username == username).values(role=role, updated_at=utcnow())
        )
    return bool(done.rowcount)


async def set_preferences(
    db: Database, user_id: int, language: str | None, time_zone: str | None
) -> None:
    """A user's console language and time zone (None: the browser's, the site's)."""
    async with db.write() as conn:
        await conn.execute(
            sa.update(User)
            .where(User.id == user_id)
            .values(language=language, time_zone=time_zone, updated_at=utcnow())
        )


def new_password() -> str:
    """A generated password for a person (shown once): 16 URL-safe characters."""
    return secrets.token_urlsafe(12)


async def count_users(db: Database) -> int:
    async with db.read() as conn:
        return int((await conn.execute(sa.select(sa.func.count()).select_from(User))).scalar())


async def _end_sessions_of(conn: Conn, username: str) -> int | None:
    """End every session of the user; the user's id, None when there is no such user."""
    user_id: int | None = (
        await conn.execute(sa.select(User.id).where(User.username == username))
    ).scalar_one_or_none()
    if user_id is not None:
        await conn.execute(sa.delete(WebSession).where(WebSession.user_id == user_id))
    return user_id


async def remove_user(db: Database, username: str, keep_an_admin: bool = False) -> bool:
    """Remove the user and end their sessions; with `keep_an_admin` (the
    console) LastAdmin when they are the only admin."""
    async with db.write() as conn:
        if keep_an_admin:
            await _refuse_last_admin(conn, username)
        user_id = await _end_sessions_of(conn, username)
        if user_id is None:
            return False
        await conn.execute(sa.delete(User).where(User.id == user_id))
    return True


async def set_password(db: Database, username: str, password: str) -> bool:
    """Change the password and end every session of the user."""
    check_password(password)
    password_hash = await _hash(password)
    async with db.write() as conn:
        user_id = await _end_sessions_of(conn, username)
        if user_id is None:
            return False
        await conn.execute(
            sa.update(User)
            .where(User.id == user_id)
            .values(password_hash=password_hash, updated_at=utcnow())
        )
    return True


async def check_own_password(db: Database, user_id: int, password: str) -> bool:
    """Whether `password` is the user's (My account asks for it before a change)."""
    async with db.read() as conn:
        stored = (
            await conn.execute(sa.select(User.password_hash).where(User.id == user_id))
        ).scalar_one_or_none()
    if stored is None:
        return False
    return await _in_hash_pool(verify_password, password, stored)


async def authenticate(db: Database, username: str, password: str) -> dict[str, Any] | None:
    """The user (id, username, role) when the password is right, else None."""
    async with db.read() as conn:
        row = (
            (
                await conn.execute(
                    sa.select(User.id, User.username, User.role, User.password_hash).where(
                        User.username == username
                    )
                )
            )
            .mappings()
            .first()
        )
    stored = row["password_hash"] if row else await _in_hash_pool(_dummy_hash)
    ok = await _in_hash_pool(verify_password, password, stored)
    if row is None or not ok:
        return None
    return {"id": row["id"], "username": row["username"], "role": row["role"]}


def _session_key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def start_session(db: Database, user_id: int, lifetime: dt.timedelta) -> str:
    """A new session for the user; returns the cookie value (shown only now)."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    async with db.write() as conn:
        # Sign-ins are rare: a good moment to forget sessions that ran out.
        await conn.execute(sa.delete(WebSession).where(WebSession.expires_at <= now))
        await conn.execute(
            sa.insert(WebSession).values(
                id=_session_key(token),
                user_id=user_id,
                csrf_token=secrets.token_urlsafe(24),
                created_at=now,
                expires_at=now + lifetime,
            )
        )
        await conn.execute(sa.update(User).where(User.id == user_id).values(last_login_at=now))
    return token


async def session_user(db: Database, token: str) -> dict[str, Any] | None:
    """The signed-in user (id, username, role, language, time_zone,
    csrf_token, expires_at) of a cookie
    value, or None when it is unknown or expired."""
    async with db.read() as conn:
        row = (
            (
                await conn.execute(
                    sa.select(
                        User.id,
                        User.username,
                        User.role,
                        User.language,
                        User.time_zone,
                        WebSession.csrf_token,
                        WebSession.expires_at,
                    )
                    .join(User, User.id == WebSession.user_id)
                    .where(WebSession.id == _session_key(token))
                )
            )
            .mappings()
            .first()
        )
    if row is None or row["expires_at"] <= utcnow():
        return None
    return dict(row)


async def end_session(db: Database, token: str) -> None:
    async with db.write() as conn:
        await conn.execute(sa.delete(WebSession).where(WebSession.id == _session_key(token)))
