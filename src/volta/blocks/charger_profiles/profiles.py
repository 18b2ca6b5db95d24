"""Charger profiles as data: what Volta does for one kind of charger (vendor,
model, firmware range), read from TOML: the ones shipped with Volta
(`shipped.toml`, each citing where its quirk is documented) and the
operator's (`charger_profiles_file`), which come first when matching.

A profile:

    [[profile]]
    id = "alfen-metervalue-context"     # unique, [a-z0-9-], at most 64
    vendor = "Alfen*"                   # glob, case-insensitive
    model = "*"                         # glob (default "*")
    firmware = ">=4.1, <5"              # glob, or a version range (default "*")
    description = "..."
    source = "https://..."              # where the quirk is documented

    [[profile.tolerate]]                # a deviation its messages may carry
    action = "MeterValues"
    path = "meterValue/*/sampledValue/*/context"
    kind = "enum"                       # extra, enum, type, format, length, range
    reason = "..."

    [[profile.configure]]               # sent after each accepted boot
    key = "ClockAlignedDataInterval"    # OCPP 1.6 (ChangeConfiguration), or
    # component = "AlignedDataCtrlr"    # OCPP 2.0.1 (SetVariables)
    # variable = "Interval"
    value = "900"
    reason = "..."
"""

from __future__ import annotations

import fnmatch
import re
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from volta.ocpp.schemas import DEVIATION_KINDS, Deviation

# Bounds on what a profile file may hold: it is read into memory whole.
MAX_FILE_BYTES = 1_000_000
MAX_PROFILES = 500
MAX_ENTRIES = 50
_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_RANGE = re.compile(r"^\s*(>=|<=|==|!=|>|<)\s*(\S+)\s*$")
_NUMBERS = re.compile(r"\d+(?:\.\d+)*")


class ProfileError(ValueError):
    """A profile file that cannot be used; the message says where and why."""


@dataclass(frozen=True, slots=True)
class Tolerance:
    deviation: Deviation
    reason: str


@dataclass(frozen=True, slots=True)
class Setting:
    """A configuration value sent after boot: 1.6 `key`, or 2.0.1 `component`
    (`instance`, `evse_id`) and `variable`."""

    value: str
    reason: str
    key: str | None = None
    component: str | None = None
    variable: str | None = None
    instance: str | None = None
    evse_id: int | None = None

    @property
    def name(self) -> str:
        if self.key is not None:
            return self.key
        instance = f"[{self.instance}]" if self.instance else ""
        return f"{self.component}{instance}.{self.variable}"


@dataclass(frozen=True, slots=True)
class Profile:
    id: str
    vendor: str
    model: str = "*"
    firmware: str = "*"
    description: str = ""
    source: str = ""
    origin: str = "shipped"  # shipped, or the operator's file
    tolerate: tuple[Tolerance, ...] = ()
    configure: tuple[Setting, ...] = ()
    deviations: tuple[Deviation, ...] = field(default=(), compare=False)

    def matches(self, vendor: str, model: str, firmware: str | None) -> bool:
        return (
            _glob(self.vendor, vendor)
            and _glob(self.model, model)
            and firmware_matches(self.firmware, firmware)
        )


def _glob(pattern: str, value: str) -> bool:
    return fnmatch.fnmatchcase(value.casefold(), pattern.casefold())


def version_tuple(text: str) -> tuple[int, ...] | None:
    """The last dotted number in a firmware string ("TAC3Z91::V1.8.21" ->
    (1, 8, 21)), or None when it holds none."""
    found = _NUMBERS.findall(text)
    return tuple(int(n) for n in found[-1].split(".")) if found else None


def firmware_matches(spec: str, firmware: str | None) -> bool:
    """`spec` is a glob ("4.1.*") or comma-separated comparisons (">=1.2, <1.6.4")."""
    if spec.strip() in ("", "*"):
        return True
    if firmware is None:
        return False
    parts = [p for p in spec.split(",") if p.strip()]
    if not all(_RANGE.match(p) for p in parts):
        return _glob(spec.strip(), firmware)
    have = version_tuple(firmware)
    if have is None:
        return False
    for part in parts:
        m = _RANGE.match(part)
        assert m is not None
        op, want = m.group(1), version_tuple(m.group(2)) or ()
        width = max(len(have), len(want))
        a, b = have + (0,) * (width - len(have)), want + (0,) * (width - len(want))
        ok = {
            ">=": a >= b,
            "<=": a <= b,
            ">": a > b,
            "<": a < b,
            "==": a == b,
            "!=": a != b,
        }[op]
        if not ok:
            return False
    return True


def _text(raw: dict[str, Any], name: str, where: str, *, default: str | None = None) -> str:
    value = raw.get(name, default)
    if not isinstance(value, str) or (default is None and not value.strip()):
        raise ProfileError(f"{where}: `{name}` must be a non-empty string")
    if len(value) > 500:
        raise ProfileError(f"{where}: `{name}` is longer than 500 characters")
    return value


def _entries(raw: dict[str, Any], name: str, where: str) -> list[dict[str, Any]]:
    entries = raw.get(name, [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise ProfileError(f"{where}: `{name}` must be a list of tables ([[profile.{name}]])")
    if len(entries) > MAX_ENTRIES:
        raise ProfileError(f"{where}: more than {MAX_ENTRIES} `{name}` entries")
    return entries


_PROFILE_KEYS = {
    "id",
    "vendor",
    "model",
    "firmware",
    "description",
    "source",
    "tolerate",
    "configure",
}


def parse_profile(raw: dict[str, Any], origin: str, index: int) -> Profile:
    where = f"{origin}: profile {index + 1}"
    unknown = set(raw) - _PROFILE_KEYS
    if unknown:
        raise ProfileError(f"{where}: unknown keys {', '.join(sorted(unknown))}")
    pid = _text(raw, "id", where)
    if not _ID.match(pid):
        raise ProfileError(f"{where}: id {pid!r} must be [a-z0-9._-], at most 64 characters")
    where = f"{origin}: profile {pid!r}"
    tolerate = []
    for i, t in enumerate(_entries(raw, "tolerate", where)):
        at = f"{where}, tolerate {i + 1}"
        kind = _text(t, "kind", at)
        if kind not in DEVIATION_KINDS:
            raise ProfileError(f"{at}: kind must be one of {', '.join(DEVIATION_KINDS)}")
        deviation = Deviation(_text(t, "action", at), _text(t, "path", at), kind)
        tolerate.append(Tolerance(deviation, _text(t, "reason", at)))
    configure = []
    for i, c in enumerate(_entries(raw, "configure", where)):
        at = f"{where}, configure {i + 1}"
        value = c.get("value")
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, int | float):
            value = str(value)
        if not isinstance(value, str):
            raise ProfileError(f"{at}: `value` must be a string, number or boolean")
        key = c.get("key")
        if key is not None:
            setting = Setting(value, _text(c, "reason", at), key=_text(c, "key", at))
        else:
            evse = c.get("evse_id")
            if evse is not None and not isinstance(evse, int):
                raise ProfileError(f"{at}: `evse_id` must be an integer")
            setting = Setting(
                value,
                _text(c, "reason", at),
                component=_text(c, "component", at),
                variable=_text(c, "variable", at),
                instance=c.get("instance"),
                evse_id=evse,
            )
        configure.append(setting)
    return Profile(
        id=pid,
        vendor=_text(raw, "vendor", where),
        model=_text(raw, "model", where, default="*"),
        firmware=_text(raw, "firmware", where, default="*"),
        description=_text(raw, "description", where, default=""),
        source=_text(raw, "source", where, default=""),
        origin=origin,
        tolerate=tuple(tolerate),
        configure=tuple(configure),
        deviations=tuple(t.deviation for t in tolerate),
    )


def parse(text: str, origin: str) -> list[Profile]:
    if len(text) > MAX_FILE_BYTES:
        raise ProfileError(f"{origin}: larger than {MAX_FILE_BYTES} bytes")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{origin}: {exc}") from exc
    raw = data.get("profile", [])
    if not isinstance(raw, list) or len(raw) > MAX_PROFILES:
        raise ProfileError(f"{origin}: expected at most {MAX_PROFILES} [[profile]] tables")
    return [parse_profile(p, origin, i) for i, p in enumerate(raw)]


class Catalogue:
    """The operator's profiles, then the shipped ones; the first that
    matches a charger is its profile."""

    def __init__(self, profiles: list[Profile]) -> None:
        seen: set[str] = set()
        for p in profiles:
            if p.id in seen:
                raise ProfileError(f"{p.origin}: profile id {p.id!r} is defined twice")
            seen.add(p.id)
        self.profiles = tuple(profiles)
        self.by_id = {p.id: p for p in profiles}

    def match(self, vendor: str, model: str, firmware: str | None) -> Profile | None:
        for profile in self.profiles:
            if profile.matches(vendor, model, firmware):
                return profile
        return None


def shipped() -> list[Profile]:
    text = resources.files(__package__).joinpath("shipped.toml").read_text(encoding="utf-8")
    return parse(text, "shipped")


def load(operator_file: str = "") -> Catalogue:
    own: list[Profile] = []
    if operator_file:
        path = Path(operator_file)
        try:
            size = path.stat().st_size
            if size > MAX_FILE_BYTES:
                raise ProfileError(f"{path}: larger than {MAX_FILE_BYTES} bytes")
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ProfileError(f"charger_profiles_file {path}: {exc.strerror or exc}") from exc
        own = parse(text, str(path))
    return Catalogue(own + shipped())
