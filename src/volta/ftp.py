"""The FTP endpoint of the file service, for chargers that upload diagnostics
and logs only over FTP (docs/device-management.md, "Files")."""

from __future__ import annotations
