"""Payload validation against the official OCPP JSON schemas.

The schemas come from the PyPI `ocpp` package (`ocpp/v16/schemas`,
`ocpp/v201/schemas`, `ocpp/v21/schemas`) and are compiled once, at start-up, with jsonschema-rs:
~45 ms for all 206 schemas and ~2.5 us to validate a 4-value MeterValues, against
~2 s and ~21 us with fastjsonschema (bench/bench_validation.py).

Error mapping (OCPP-J 1.6 §4.2.3, 2.0.1 §4.3 "Valid error codes"):
  missing required property   -> OccurrenceConstraintViolation (cardinality)
  wrong JSON type, too long   -> TypeConstraintViolation (CiString20Type etc. are
                                 data types whose length is part of the type)
  unknown property            -> FormatViolation (not conform the PDU structure)
  enum, range, pattern, ...   -> PropertyConstraintViolation (invalid value)

Relaxed validation (per station, for chargers known to send slightly bad
payloads) lets through everything but missing properties and wrong types, which
the handlers could not work with.

Tolerated deviations (`Tolerated`, from a charger profile) are narrower: one
named deviation in one action (an extra field, a value outside an enum, a
number where a string belongs, ...) at one path, while every other error of
that message and of every other message is still refused. A missing required
property is never tolerated.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

import jsonschema_rs

from volta.ocpp.errors import ErrorCode, OcppError
from volta.ocpp.versions import Version

Kind = jsonschema_rs.ValidationErrorKind


class Validation(enum.StrEnum):
    STRICT = "strict"
    RELAXED = "relaxed"
    OFF = "off"


_SEVERITY: list[tuple[type, ErrorCode]] = [
    (Kind.Required, ErrorCode.OCCURRENCE_CONSTRAINT_VIOLATION),
    (Kind.MinItems, ErrorCode.OCCURRENCE_CONSTRAINT_VIOLATION),
    (Kind.MaxItems, ErrorCode.OCCURRENCE_CONSTRAINT_VIOLATION),
    (Kind.Type, ErrorCode.TYPE_CONSTRAINT_VIOLATION),
    (Kind.MaxLength, ErrorCode.TYPE_CONSTRAINT_VIOLATION),
    (Kind.AdditionalProperties, ErrorCode.FORMAT_VIOLATION),
]
# Errors a relaxed station still gets: the handler cannot do without the data.
_BLOCKING_WHEN_RELAXED = (Kind.Required, Kind.Type)

# The deviations a charger profile may name, by the schema keyword they break.
DEVIATION_KINDS: dict[str, tuple[type, ...]] = {
    "extra": (Kind.AdditionalProperties,),
    "enum": (Kind.Enum,),
    "type": (Kind.Type,),
    "format": (Kind.Format, Kind.Pattern),
    "length": (Kind.MaxLength, Kind.MinLength),
    "range": (Kind.Minimum, Kind.Maximum, Kind.ExclusiveMinimum, Kind.ExclusiveMaximum),
}


@dataclass(frozen=True, slots=True)
class Deviation:
    """One deviation tolerated in one action: a `kind` error (DEVIATION_KINDS)
    at `path`, slash-separated, `*` standing for any one step (an array
    index or a property name): "meterValue/*/sampledValue/*/context". For
    "extra" the path names the unexpected property itself."""

    action: str
    path: str
    kind: str

    def __post_init__(self) -> None:
        if self.kind not in DEVIATION_KINDS:
            raise ValueError(f"unknown deviation kind {self.kind!r}")

    def matches(self, error: Any) -> bool:
        if not isinstance(error.kind, DEVIATION_KINDS[self.kind]):
            return False
        base = [str(p) for p in error.instance_path]
        if self.kind == "extra":
            return all(
                _path_matches(self.path, [*base, str(n)])
                for n in getattr(error.kind, "unexpected", ())
            )
        return _path_matches(self.path, base)


def _path_matches(pattern: str, path: list[str]) -> bool:
    steps = pattern.split("/")
    return len(steps) == len(path) and all(s in ("*", p) for s, p in zip(steps, path, strict=True))


class Tolerated:
    """The deviations one station's messages may carry, by action. Shared by
    the station's connection state and its session, and replaced in place
    when a boot matches another charger profile."""

    __slots__ = ("by_action", "profile")

    def __init__(self, deviations: tuple[Deviation, ...] = (), profile: str | None = None) -> None:
        self.by_action: dict[str, tuple[Deviation, ...]] = {}
        self.profile = profile
        self.replace(deviations, profile)

    def replace(self, deviations: tuple[Deviation, ...], profile: str | None) -> None:
        by_action: dict[str, list[Deviation]] = {}
        for d in deviations:
            by_action.setdefault(d.action, []).append(d)
        self.by_action = {a: tuple(ds) for a, ds in by_action.items()}
        self.profile = profile

    def remaining(self, action: str, errors: list[Any]) -> list[Any]:
        deviations = self.by_action.get(action)
        if not deviations:
            return errors
        return [e for e in errors if not any(d.matches(e) for d in deviations)]


@dataclass(frozen=True, slots=True)
class _Pair:
    request: Any
    response: Any


def _error_code(error: Any) -> ErrorCode:
    for kind, code in _SEVERITY:
        if isinstance(error.kind, kind):
            return code
    return ErrorCode.PROPERTY_CONSTRAINT_VIOLATION


def _describe(error: Any) -> str:
    path = "/".join(str(p) for p in error.instance_path)
    return f"{path}: {error.message}" if path else str(error.message)


class SchemaRegistry:
    """All request and response schemas of the supported versions, compiled."""

    def __init__(self) -> None:
        self._schemas: dict[tuple[Version, str], _Pair] = {}
        # SEND messages (2.1): a payload schema, never an answer.
        self._sends: dict[tuple[Version, str], Any] = {}
        for version in Version:
            folder = resources.files("ocpp").joinpath(version.schema_dir, "schemas")
            raw: dict[str, Any] = {}
            for entry in folder.iterdir():
                if entry.name.endswith(".json"):
                    raw[entry.name[:-5]] = json.loads(entry.read_text(encoding="utf-8"))
            for name, schema in raw.items():
                if name.endswith("Response"):
                    continue
                # 1.6 names a request "Authorize", 2.0.1 and 2.1 "AuthorizeRequest".
                if version.modern and name.endswith("Request"):
                    action = name.removesuffix("Request")
                elif version.modern:
                    # 2.1's SEND messages (OCPP-J 2.1 §4.2.5) have a payload
                    # schema named by the action alone and no response.
                    self._sends[(version, name)] = jsonschema_rs.validator_for(schema)
                    continue
                else:
                    action = name
                response = raw.get(action + "Response")
                if response is None:
                    continue
                self._schemas[(version, action)] = _Pair(
                    jsonschema_rs.validator_for(schema), jsonschema_rs.validator_for(response)
                )

    def actions(self, version: Version) -> frozenset[str]:
        return frozenset(a for (v, a) in self._schemas if v is version)

    def knows(self, version: Version, action: str) -> bool:
        return (version, action) in self._schemas

    def send_actions(self, version: Version) -> frozenset[str]:
        """The actions this version sends as SEND (message type 6, no answer)."""
        return frozenset(a for (v, a) in self._sends if v is version)

    def knows_send(self, version: Version, action: str) -> bool:
        return (version, action) in self._sends

    def validate(
        self,
        version: Version,
        action: str,
        payload: dict[str, Any],
        *,
        response: bool = False,
        mode: Validation = Validation.STRICT,
        tolerated: Tolerated | None = None,
    ) -> None:
        """Raise OcppError with the specification's error code if invalid
        (less the deviations `tolerated` names for this action)."""
        if mode is Validation.OFF:
            return
        pair = self._schemas.get((version, action))
        if pair is not None:
            validator = pair.response if response else pair.request
        elif not response and (version, action) in self._sends:
            validator = self._sends[(version, action)]
        else:
            raise OcppError(ErrorCode.NOT_IMPLEMENTED, f"unknown action {action!r}")
        if validator.is_valid(payload):
            return
        errors = list(validator.iter_errors(payload))
        if tolerated is not None and tolerated.by_action:
            errors = tolerated.remaining(action, errors)
            if not errors:
                return
        if mode is Validation.RELAXED:
            errors = [e for e in errors if isinstance(e.kind, _BLOCKING_WHEN_RELAXED)]
            if not errors:
                return
        # The most specific code wins: a missing field explains more than an
        # unknown one sitting next to it.
        codes = [_error_code(e) for e in errors]
        ranking = [code for _, code in _SEVERITY] + [ErrorCode.PROPERTY_CONSTRAINT_VIOLATION]
        best = min(range(len(errors)), key=lambda i: ranking.index(codes[i]))
        raise OcppError(codes[best], _describe(errors[best]))


_registry: SchemaRegistry | None = None


def registry() -> SchemaRegistry:
    """The process-wide registry, compiled on first use (start-up calls it)."""
    global _registry
    if _registry is None:
        _registry = SchemaRegistry()
    return _registry
