"""Where the bytes of stored files live: the Storage interface, and local disk.

Content-addressed: a file is stored once under its sha256, whatever its names.
An S3-compatible store implements the same four methods (docs/device-management.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import tempfile
from collections.abc import AsyncIterable
from pathlib import Path
from typing import Protocol


class Storage(Protocol):
    async def put(self, chunks: AsyncIterable[bytes], *, max_bytes: int) -> tuple[str, int]:
        """Store the bytes; return their sha256 (hex) and size. Raises
        TooLarge beyond `max_bytes`, and then stores nothing."""
        ...

    def path(self, sha256: str) -> Path | None:
        """A local file holding the content, when this store has one."""
        ...

    async def exists(self, sha256: str) -> bool: ...

    async def delete(self, sha256: str) -> None: ...


class TooLarge(ValueError):
    pass


class LocalStorage:
    """Files under `root`, in two levels of directories (ab/cdef...).

    A file is written to a temporary name and renamed into place once whole
    and flushed to disk, so a crash or a full disk leaves no partial file
    under a content name."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    async def put(self, chunks: AsyncIterable[bytes], *, max_bytes: int) -> tuple[str, int]:
        self.root.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        size = 0
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as out:
                async for chunk in chunks:
                    size += len(chunk)
                    if size > max_bytes:
                        raise TooLarge(f"the file is larger than {max_bytes} bytes")
                    digest.update(chunk)
                    await asyncio.to_thread(out.write, chunk)
                await asyncio.to_thread(_flush, out)
            sha256 = digest.hexdigest()
            target = self._path(sha256)
            target.parent.mkdir(exist_ok=True)
            os.replace(tmp, target)
            return sha256, size
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def path(self, sha256: str) -> Path | None:
        path = self._path(sha256)
        return path if path.is_file() else None

    async def exists(self, sha256: str) -> bool:
        return self._path(sha256).is_file()

    async def delete(self, sha256: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(sha256).unlink()


def _flush(out: object) -> None:
    out.flush()  # type: ignore[attr-defined]
    os.fsync(out.fileno())  # type: ignore[attr-defined]
