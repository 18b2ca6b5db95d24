"""The console in two languages: every string of a template or of the web
layer's Python has an Italian translation, and a request gets the language
its user chose, else its browser's, with dates and numbers to match."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.web.conftest import ADMIN, sign_in
from volta.web import i18n


def test_every_console_string_has_an_italian_translation():
    """Fails on a template or Python string with no (or an empty, or a fuzzy)
    Italian entry; `python -m volta.web.i18n missing` prints them as .po
    entries to fill in."""
    todo = i18n.missing("it")
    assert not todo, "no Italian for:\n" + "\n".join(
        f"  {msgid!r} ({', '.join(where[:2])})" for msgid, where in sorted(todo.items())
    )


def test_no_string_is_translated_two_ways():
    """Each part of the console keeps its own .po file; one English string
    means one Italian string everywhere."""
    seen: dict[str, tuple[str, str]] = {}
    clashes = []
    for path in i18n.catalogue_files("it"):
        with path.open("rb") as f:
            for message in i18n.read_po(f, locale="it"):
                if not message.id or not message.string:
                    continue
                key = str(message.id)
                if key in seen and seen[key][0] != message.string:
                    clashes.append(f"{key!r}: {seen[key][1]} vs {path.name}")
                seen.setdefault(key, (message.string, path.name))
    assert not clashes, clashes


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("it-IT,it;q=0.9,en;q=0.8", "it"),
        ("en-GB,en;q=0.9", "en"),
        ("de-DE,it;q=0.5", "it"),
        ("de-DE", None),
        ("it;q=0,en;q=0.1", "en"),
        ("", None),
    ],
)
def test_accept_language_picks_the_best_language(header, expected):
    assert i18n.accept_language(header) == expected


def test_filters_localise_dates_numbers_and_money():
    rome = i18n.I18n("it", i18n.zone("Europe/Rome"))  # type: ignore[arg-type]
    token = i18n.activate(rome)
    try:
        when = dt.datetime(2026, 7, 1, 10, 30, tzinfo=dt.UTC)
        assert i18n.when(when) == "1 lug 2026, 12:30:00 CEST"
        assert i18n.kwh(12345.6) == "12,35 kWh"
        assert i18n.money(1234.5, "EUR") == "1.234,50\xa0€"
    finally:
        i18n.deactivate(token)
    assert i18n.when(dt.datetime(2026, 7, 1, 10, 30, tzinfo=dt.UTC)) == "1 Jul 2026, 10:30:00 UTC"
    assert i18n.money(1234.5, "EUR") == "€1,234.50"


async def test_sign_in_page_follows_the_browser_then_the_switch(volta, web):
    page = await web.get("/login", headers={"Accept-Language": "it-IT,it;q=0.9"})
    assert page.headers["content-language"] == "it"
    assert '<html lang="it">' in page.text and "Nome utente" in page.text
    english = await web.get("/login", headers={"Accept-Language": "en-US"})
    assert "User name" in english.text
    switched = await web.get("/language/it?next=/login")
    assert switched.status_code == 303 and switched.headers["location"] == "/login"
    again = await web.get("/login", headers={"Accept-Language": "en-US"})
    assert "Nome utente" in again.text  # the cookie beats the browser
    assert (await web.get("/language/xx")).status_code == 404
    assert (await web.get("/language/it?next=//evil.example")).headers["location"] == "/"


async def test_a_signed_in_page_speaks_italian(volta, web):
    await sign_in(web, *ADMIN)
    page = await web.get("/sessions", headers={"Accept-Language": "it"})
    assert page.status_code == 200
    assert "Stazioni" in page.text and "Esci" in page.text


def test_a_filter_on_a_constant_is_translated_at_every_render():
    """Jinja folds a filter of a constant (`"Ended"|label`) when it compiles
    a template, in whatever language is active then, unless the filter is
    pass_context: the same template must give each request its own language."""
    from volta.web.views import templates

    template = templates.env.from_string('{{ "Ended"|label }} {{ 1234.5|number(1) }}')
    english = i18n.activate(i18n.I18n("en", i18n.zone("UTC")))  # type: ignore[arg-type]
    try:
        assert template.render() == "Ended 1,234.5"
    finally:
        i18n.deactivate(english)
    italian = i18n.activate(i18n.I18n("it", i18n.zone("UTC")))  # type: ignore[arg-type]
    try:
        assert template.render() == "Terminata 1.234,5"
    finally:
        i18n.deactivate(italian)
