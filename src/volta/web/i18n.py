"""The console in English and Italian: gettext catalogues, the language and
time zone of each request, and the localised filters the templates use.

Strings are written in English in the templates (`{{ _("Stations") }}`,
`{% trans %}...{% endtrans %}`) and in Python (`tr(request, "Saved {what}.",
what=...)`); the Italian lives in `locale/it/*.po`, one catalogue per part of
the console, read and merged when Volta starts (no compiled .mo file to keep
in step). `python -m volta.web.i18n missing` prints every string that has no
Italian yet, as .po entries to fill in; tests/web/test_i18n.py fails on any.

A request's language: the signed-in user's choice, else the `volta_lang`
cookie (the sign-in page's switch), else the browser's Accept-Language, else
English. Its time zone: the user's, else the `console_time_zone` setting.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import functools
import gettext
import io
import sys
import zoneinfo
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from babel import Locale
from babel import dates as babel_dates
from babel import numbers as babel_numbers
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po
from jinja2 import pass_context
from starlette.requests import Request

HERE = Path(__file__).parent
LOCALE_DIR = HERE / "locale"
LANGUAGES = {"en": "English", "it": "Italiano"}
DEFAULT_LANGUAGE = "en"
LANG_COOKIE = "volta_lang"
# Python's own calls: _("..."), gettext, ngettext, tr(request, "..."), and
# N_("...") (nav.py: marked here, translated where it is drawn).
KEYWORDS = {
    "_": None,
    "_gettext": None,
    "N_": None,
    "gettext": None,
    "ngettext": (1, 2),
    "tr": (2,),
    "ntr": (2, 3),
}
METHODS = [("**/templates/**.html", "jinja2.ext:babel_extract"), ("**.py", "python")]
OPTIONS = {"**/templates/**.html": {"extensions": "jinja2.ext.i18n", "trimmed": "true"}}


# -- catalogues ---------------------------------------------------------------------


def catalogue_files(language: str) -> list[Path]:
    return sorted((LOCALE_DIR / language).glob("*.po"))


def read_catalogue(language: str) -> Catalog:
    """Every .po file of `language`, merged (a later file's entry wins)."""
    merged = Catalog(locale=language, fuzzy=False)
    for path in catalogue_files(language):
        with path.open("rb") as f:
            part = read_po(f, locale=language)
        for message in part:
            if not message.id or message.fuzzy or not _translated(message.string):
                continue
            if isinstance(message.string, tuple | list):
                # CLDR gives Italian three plural forms (one, many, other);
                # a translator writes two: the last stands for the rest.
                forms = list(message.string) + [""] * merged.num_plurals
                last = forms[0]
                for n, form in enumerate(forms):
                    forms[n] = last = form or last
                message.string = tuple(forms[: merged.num_plurals])
            merged[message.id] = message
    return merged


def _translated(string: str | tuple[str, ...] | list[str] | None) -> bool:
    if isinstance(string, tuple | list):
        return bool(string) and all(string[:2])
    return bool(string)


@functools.cache
def translations(language: str) -> gettext.NullTranslations:
    if language == DEFAULT_LANGUAGE or language not in LANGUAGES:
        return gettext.NullTranslations()
    buffer = io.BytesIO()
    write_mo(buffer, read_catalogue(language))
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


def extract() -> dict[str, list[str]]:
    """Every translatable string of the console (msgid, or singular and
    plural), with where it was found."""
    found: dict[str, list[str]] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        HERE, METHODS, OPTIONS, keywords=KEYWORDS, strip_comment_tags=True
    ):
        # A plural's catalogue key is its singular.
        msgid = message[0] if isinstance(message, tuple) else message
        if msgid:
            found.setdefault(msgid, []).append(f"{filename}:{lineno}")
    return found


def missing(language: str = "it") -> dict[str, list[str]]:
    have = read_catalogue(language)
    return {m: where for m, where in extract().items() if not have.get(m)}


# -- the request's language and time zone -------------------------------------------


def accept_language(header: str | None) -> str | None:
    """The best of LANGUAGES by an Accept-Language header (q-values)."""
    if not header:
        return None
    ranked: list[tuple[float, int, str]] = []
    for n, part in enumerate(header.split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        ranked.append((-q, n, tag.strip().lower()))
    for neg_q, _n, tag in sorted(ranked):
        base = tag.split("-")[0]
        if neg_q < 0 and base in LANGUAGES:
            return base
    return None


def zone(name: str | None) -> zoneinfo.ZoneInfo | None:
    if not name:
        return None
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None


@functools.cache
def time_zones() -> list[str]:
    return sorted(zoneinfo.available_timezones() - {"Factory", "localtime"})


@dataclass(frozen=True)
class I18n:
    language: str
    tz: zoneinfo.ZoneInfo

    @property
    def locale(self) -> Locale:
        return _locale(self.language)

    @property
    def translations(self) -> gettext.NullTranslations:
        return translations(self.language)

    def gettext(self, message: str, **values: Any) -> str:
        text = self.translations.gettext(message)
        return text.format(**values) if values else text

    def ngettext(self, singular: str, plural: str, n: int, **values: Any) -> str:
        text = self.translations.ngettext(singular, plural, n)
        return text.format(n=n, **values)


@functools.cache
def _locale(language: str) -> Locale:
    return Locale.parse({"en": "en_GB", "it": "it_IT"}.get(language, language))


def for_request(request: Request, user: dict[str, Any] | None = None) -> I18n:
    """The request's language and time zone (kept on request.state)."""
    cached = getattr(request.state, "i18n", None)
    user = user or getattr(request.state, "user", None)
    if cached is not None and (user is None or getattr(request.state, "i18n_user", False)):
        return cached  # type: ignore[no-any-return]
    language = (
        (user or {}).get("language")
        or request.cookies.get(LANG_COOKIE)
        or accept_language(request.headers.get("accept-language"))
        or DEFAULT_LANGUAGE
    )
    if language not in LANGUAGES:
        language = DEFAULT_LANGUAGE
    settings = request.app.state.services.settings
    tz = (
        zone((user or {}).get("time_zone"))
        or zone(settings.console_time_zone)
        or zoneinfo.ZoneInfo("UTC")
    )
    found = I18n(language, tz)
    request.state.i18n = found
    request.state.i18n_user = user is not None
    return found


def tr(request: Request, message: str, **values: Any) -> str:
    """`message` in the request's language, `{name}` fields filled in."""
    return for_request(request).gettext(message, **values)


def ntr(request: Request, singular: str, plural: str, n: int, **values: Any) -> str:
    return for_request(request).ngettext(singular, plural, n, **values)


# -- what the templates call (the request being rendered) ---------------------------

_ENGLISH_UTC = I18n(DEFAULT_LANGUAGE, zoneinfo.ZoneInfo("UTC"))
_current: contextvars.ContextVar[I18n | None] = contextvars.ContextVar("volta_i18n", default=None)


def activate(found: I18n) -> contextvars.Token[I18n | None]:
    return _current.set(found)


def deactivate(token: contextvars.Token[I18n | None]) -> None:
    _current.reset(token)


def current() -> I18n:
    return _current.get() or _ENGLISH_UTC


def _gettext(message: str) -> str:
    return current().translations.gettext(message)


def _ngettext(singular: str, plural: str, n: int) -> str:
    return current().translations.ngettext(singular, plural, n)


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def when(value: dt.datetime | None, format: str = "medium") -> str:
    """A date and time in the user's language and time zone, with the zone."""
    if value is None:
        return "-"
    here = current()
    local = _aware(value).astimezone(here.tz)
    glue, date_pattern, time_pattern = _datetime_patterns(here.language, format)
    text = glue.replace("{1}", date_pattern.apply(local, here.locale)).replace(
        "{0}", time_pattern.apply(local, here.locale)
    )
    return f"{text} {local.tzname()}"


@functools.cache
def _datetime_patterns(language: str, format: str) -> tuple[str, Any, Any]:
    """A locale's date-time glue and its parsed date and time patterns, once:
    babel's format_datetime parses them at every call (a page of 50 rows
    with three times each spent most of its time there)."""
    locale = _locale(language)
    return (
        str(locale.datetime_formats[format]),
        babel_dates.parse_pattern(str(locale.date_formats[format])),
        babel_dates.parse_pattern(str(locale.time_formats[format])),
    )


def day(value: dt.datetime | dt.date | None, format: str = "medium") -> str:
    if value is None:
        return "-"
    here = current()
    if isinstance(value, dt.datetime):
        value = _aware(value).astimezone(here.tz).date()
    return babel_dates.format_date(value, format, locale=here.locale)


def ago(value: dt.datetime | None) -> str:
    if value is None:
        return _gettext("never")
    delta = _aware(value) - dt.datetime.now(dt.UTC)
    if delta.total_seconds() > 0:
        return _gettext("just now")
    return babel_dates.format_timedelta(
        delta, add_direction=True, threshold=1, locale=current().locale
    )


def number(value: float | int | None, digits: int | None = None) -> str:
    if value is None:
        return "-"
    if digits is None:
        return babel_numbers.format_decimal(value, locale=current().locale)
    pattern = "#,##0" + ("." + "0" * digits if digits else "")
    return babel_numbers.format_decimal(value, format=pattern, locale=current().locale)


def kwh(wh: float | None) -> str:
    return "-" if wh is None else f"{number(wh / 1000, 2)} kWh"


def money(amount: float | int | None, currency: str | None = "EUR") -> str:
    if amount is None:
        return "-"
    return babel_numbers.format_currency(amount, currency or "EUR", locale=current().locale)


def label(value: Any) -> str:
    """An OCPP enumeration's value in the user's language (labels.py)."""
    from volta.web.labels import LABELS

    if value is None:
        return "-"
    text = LABELS.get(str(value))
    return _gettext(text) if text else str(value)


def parse_local(text: str, here: I18n) -> dt.datetime | None:
    """A date and time typed in a form (`2030-06-30T12:00`, as <input
    type="datetime-local"> sends it) in the user's time zone, as an aware UTC
    datetime; one with its own offset keeps it. None when empty; ValueError
    when it is not a date."""
    text = text.strip()
    if not text:
        return None
    parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=here.tz)
    return parsed.astimezone(dt.UTC)


def _per_request(fn: Any) -> Any:
    @pass_context
    def filter(_context: Any, *args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs)

    return filter


def install(env: Any) -> None:
    """Give a Jinja environment `_`, gettext, ngettext ({% trans %}) and the
    localised filters, all reading the request being rendered."""
    env.add_extension("jinja2.ext.i18n")
    env.policies["ext.i18n.trimmed"] = True
    env.install_gettext_callables(_gettext, _ngettext, newstyle=True)
    # Each depends on the request's language: made pass_context so that
    # Jinja never folds `"Ended"|label` into a constant when it compiles a
    # template (in whichever language happened to compile it first).
    env.filters.update(
        {
            name: _per_request(fn)
            for name, fn in dict(
                when=when, day=day, ago=ago, number=number, kwh=kwh, money=money, label=label
            ).items()
        }
    )
    env.globals.update(
        languages=LANGUAGES,
        current_i18n=current,
    )


# -- python -m volta.web.i18n missing: for translators -------------------------------


def save_entries(path: Path, entries: dict[Any, Any]) -> None:
    """Add `entries` to a .po file of locale/it: "English": "Italiano", or for
    a plural ("one English", "many English"): ("uno", "molti"). Sorted, without
    locations, so parts editing their own files never conflict."""
    catalog = Catalog(locale="it", project="Volta", fuzzy=False)
    if path.exists():
        with path.open("rb") as f:
            for message in read_po(f, locale="it"):
                if message.id:
                    catalog.add(message.id, message.string)
    for msgid, string in entries.items():
        key = msgid[0] if isinstance(msgid, tuple) else msgid
        if key in catalog:
            del catalog[key]  # add() alone would keep the old string
        catalog.add(msgid, string)
    out = io.BytesIO()
    write_po(out, catalog, sort_output=True, no_location=True, width=100)
    path.write_bytes(out.getvalue())


def _print_missing(language: str) -> int:
    todo = missing(language)
    catalog = Catalog(locale=language)
    for msgid, where in sorted(todo.items()):
        catalog.add(
            msgid, "", locations=[(w.rsplit(":", 1)[0], int(w.rsplit(":", 1)[1])) for w in where]
        )
    out = io.BytesIO()
    write_po(out, catalog, omit_header=True, sort_output=True)
    sys.stdout.write(out.getvalue().decode())
    return 1 if todo else 0


if __name__ == "__main__":  # pragma: no cover
    command = sys.argv[1] if len(sys.argv) > 1 else "missing"
    language = sys.argv[2] if len(sys.argv) > 2 else "it"
    if command != "missing":
        sys.exit("usage: python -m volta.web.i18n missing [it]")
    sys.exit(_print_missing(language))
