"""Secrets at rest that Volta must use again, not only check (webhook signing
secrets): sealed with AES-256-GCM under a key that is never in the database.

Secrets that only need checking are hashed instead (volta.security: station
and dashboard passwords, API tokens, dashboard sessions).

The key comes from the `secret_key` setting (VOLTA_SECRET_KEY) when it is
set, else from a key file (`volta-secret.key`, created 0600 at first start
beside the SQLite database, or in the working directory for PostgreSQL, or
where `secret_key_file` says). Either is any string of at least 32
characters; the AES key is derived from it with HKDF-SHA256. A sealed value
is `enc:v1:` + base64url(12-byte nonce + ciphertext + 16-byte tag).
"""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

PREFIX = "enc:v1:"
KEY_FILE = "volta-secret.key"
MIN_KEY_CHARS = 32


class SecretKeyError(ValueError):
    """The secret key is missing, malformed, or does not open what is stored
    (a ValueError: `volta serve` says so on stderr and exits 2, like a bad setting)."""


def is_sealed(value: str) -> bool:
    return value.startswith(PREFIX)


class SecretBox:
    """Seals and opens short strings with one key. `purpose` is bound into
    each value (associated data): a value sealed for one column does not
    open as another."""

    def __init__(self, key_text: str, *, source: str) -> None:
        key_text = key_text.strip()
        if len(key_text) < MIN_KEY_CHARS:
            raise SecretKeyError(
                f"the secret key from {source} is too short: at least {MIN_KEY_CHARS} characters"
            )
        key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"volta secret key v1"
        ).derive(key_text.encode())
        self._aead = AESGCM(key)
        self.source = source

    def seal(self, value: str, purpose: str) -> str:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, value.encode(), purpose.encode())
        return PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")

    def open(self, value: str, purpose: str) -> str:
        if not is_sealed(value):
            raise SecretKeyError("the stored value is not sealed (enc:v1:)")
        data = value[len(PREFIX) :]
        try:
            raw = base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))
            return self._aead.decrypt(raw[:12], raw[12:], purpose.encode()).decode()
        except (InvalidTag, ValueError) as exc:
            raise SecretKeyError(
                f"the secret key from {self.source} does not open a secret stored in the "
                "database: it is not the key the secret was sealed with (was the key "
                "file replaced, or VOLTA_SECRET_KEY changed?)"
            ) from exc


def load_key(secret_key: str, key_file: Path, *, create: bool) -> tuple[SecretBox, bool]:
    """The box for the setting (when set) or the key file. A missing file is
    created (0600, never overwritten) when `create`, else an error. Returns
    the box and whether a new key file was written."""
    if secret_key:
        return SecretBox(secret_key, source="the secret_key setting (VOLTA_SECRET_KEY)"), False
    source = f"the key file {key_file}"
    try:
        return SecretBox(key_file.read_text(encoding="utf-8"), source=source), False
    except FileNotFoundError:
        if not create:
            raise SecretKeyError(
                f"{source} is missing, and the database holds secrets sealed with it: "
                "put the file back (or set VOLTA_SECRET_KEY to its content); a new key "
                "would not open them"
            ) from None
    except OSError as exc:
        raise SecretKeyError(f"{source} cannot be read: {exc.strerror}") from None
    text = secrets.token_urlsafe(32) + "\n"
    try:
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it just now: use theirs
        return SecretBox(key_file.read_text(encoding="utf-8"), source=source), False
    except OSError as exc:
        raise SecretKeyError(f"{source} cannot be created: {exc.strerror}") from None
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    return SecretBox(text, source=source), True
