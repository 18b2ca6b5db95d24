"""The one rule for a charging station's identity (its id), kept by the
gateway, the HTTP API, the dashboard and the CLI alike.

The identity is the last segment of the station's connection URL (OCPP-J 1.6
§3.1.1, 2.0.1 Part 4 §3.1.1) and the username of its HTTP Basic credentials
(2.0.1 Part 2 §A00, security profile 1). OCPP 2.0.1 types it as
`SecurityCtrlr.Identity`, an identifierString of at most 48 characters, and
identifierString (Part 2, "Primitive datatypes") allows only
`a-z A-Z 0-9 * - _ = : + | @ .`. Volta takes that set without the colon: a
username holding one cannot be sent in Basic credentials (RFC 7617 §2), and
refuses ids made only of dots (`.`, `..`: path segments with a meaning of
their own, RFC 3986 §5.2.4). So no white space, quotes, `<>`, `%`, `/`, `?`,
`#`, `\\` or control characters can reach a log line, a page or a URL.

In the URL the id may be percent-encoded (`CP%2D1` is `CP-1`, RFC 3986
§6.2.2.2); it is decoded once, and the decoded id must keep the rule, so
`%2F`, `%25` (a `%`), `%00` and a double encoding are refused.
"""

from __future__ import annotations

import string
import urllib.parse

MAX_LENGTH = 48  # OCPP 2.0.1 SecurityCtrlr.Identity, string[48]
ALLOWED = frozenset(string.ascii_letters + string.digits + "*-_=+|@.")
RULE = "1-48 characters of A-Z a-z 0-9 * - _ = + | @ . (not only dots)"


def identity_problem(value: str) -> str | None:
    """Why `value` cannot be a station id, or None when it can."""
    if not value:
        return "a station id cannot be empty"
    if len(value) > MAX_LENGTH:
        return f"a station id has at most {MAX_LENGTH} characters"
    for char in value:
        if char not in ALLOWED:
            return f"a station id is {RULE}; {char!a} is not allowed"
    if not value.strip("."):
        return "a station id cannot be made only of dots"
    return None


def is_identity(value: str) -> bool:
    return identity_problem(value) is None


def identity_from_path(path: str) -> tuple[str, bool]:
    """The last path segment, percent-decoded once, and whether it keeps the
    rule (anything before it is a prefix the CSMS chooses; a query is ignored)."""
    path = path.split("?", 1)[0].rstrip("/")
    segment = urllib.parse.unquote(path.rsplit("/", 1)[-1], errors="replace")
    return segment, is_identity(segment)


def printable(value: str, limit: int = 64) -> str:
    """An id as a log line may show it: a valid one as it is, anything else
    escaped (ascii) and cut, so no CR/LF or control character reaches a log."""
    if is_identity(value):
        return value
    shown = ascii(value[:limit])
    return shown + "..." if len(value) > limit else shown
