"""`volta sites ...` on a real database (in-process: tests.test_cli.volta)."""

from __future__ import annotations

from tests.test_cli import database_url, ok, volta  # noqa: F401  (the fixture)


def test_sites_add_list_limit_place_remove(database_url):  # noqa: F811
    assert "added site 1 (grid)" in ok(database_url, "sites", "add", "grid", "--max-current", "63")
    out = ok(
        database_url, "sites", "add", "panel", "--max-power", "7360", "--phases", "1",
        "--parent", "1", "--strategy", "first_come",
    )  # fmt: skip
    assert "added site 2 (panel)" in out
    ok(database_url, "stations", "add", "CP1")
    assert "on site 2" in ok(database_url, "sites", "place", "CP1", "2")
    listing = ok(database_url, "sites", "list").splitlines()
    assert listing[0].split()[:4] == ["ID", "PARENT", "LIMIT", "A/PHASE"]
    assert listing[1].split()[:4] == ["1", "-", "63/63/63", "equal"]
    assert listing[2].split()[:4] == ["2", "1", "32", "first_come"]
    assert listing[2].endswith("panel (CP1)")
    assert "limit changed" in ok(database_url, "sites", "limit", "1", "--max-current", "40")
    assert ok(database_url, "sites", "list").splitlines()[1].split()[2] == "40/40/40"
    # Refusals: a clear message, exit status 1.
    for args, words in (
        (("sites", "remove", "1"), "circuit 2"),
        (("sites", "remove", "2"), "station CP1"),
        (("sites", "add", "x"), "--max-current"),
        (("sites", "add", "x", "--max-current", "10", "--parent", "9"), "parent site 9"),
        (("sites", "limit", "1"), "give --max-current"),
        (("sites", "add", "x", "--max-current", "-3"), "--max-current: Input should be greater"),
        (("sites", "place", "CP1", "x"), "site id or none"),
        (("sites", "place", "NOPE", "1"), "station NOPE not found"),
    ):
        result = volta(database_url, *args)
        assert result.returncode == 1, (args, result.stderr)
        assert words in result.stderr, (args, result.stderr)
    assert "on no site" in ok(database_url, "sites", "place", "CP1", "none")
    assert "removed site 2" in ok(database_url, "sites", "remove", "2")
    assert "removed site 1" in ok(database_url, "sites", "remove", "1")
