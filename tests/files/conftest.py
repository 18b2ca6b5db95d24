"""The file service's tests run with their own files directory, the FTP
endpoint on, and a small upload limit (so an oversize upload is cheap)."""

from __future__ import annotations

import socket

import pytest

MAX_UPLOAD = 64 * 1024


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def volta_settings(tmp_path) -> dict[str, object]:
    return {
        "files_dir": str(tmp_path / "files"),
        "files_ftp_port": free_port(),
        "files_max_upload_bytes": MAX_UPLOAD,
    }
