"""What the HTTP API and the dashboard share of FastAPI: the dependency that
gives a route the services. `volta.app` puts them on the application's state
when it builds the HTTP application; neither adapter imports the other."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import Depends, Request

from volta.services import Services


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


# Tab, line feed and carriage return are ordinary text in a free-text field
# (a note, a description); every other C0 control character and DEL is not
# (PostgreSQL refuses NUL outright; the rest only hides text from people).
# The OCPP port refuses the same C0 characters in stations' strings
# (volta.ocpp.text), DEL aside.
_CONTROL = re.compile("[\x00-\x1f\x7f]")
_CONTROL_BUT_WHITESPACE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def control_character(text: str, *, allow_whitespace: bool = True) -> bool:
    """Whether `text` holds a control character (C0 or DEL)."""
    pattern = _CONTROL_BUT_WHITESPACE if allow_whitespace else _CONTROL
    return pattern.search(text) is not None


def control_character_paths(
    value: Any, loc: tuple[str | int, ...] = ()
) -> list[tuple[str | int, ...]]:
    """Where in a parsed JSON document a string (or key) holds a control character."""
    found: list[tuple[str | int, ...]] = []
    if isinstance(value, str):
        if control_character(value):
            found.append(loc)
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and control_character(key):
                found.append((*loc, key))
            else:
                found.extend(control_character_paths(item, (*loc, key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(control_character_paths(item, (*loc, index)))
    return found
