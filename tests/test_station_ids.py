"""One station-id rule for the gateway, the API and the CLI (issue 12):
auto-registration took ids with spaces, quotes, HTML and CR/LF that the API
refused. The rule (volta.ocpp.identity): OCPP 2.0.1's identifierString
(SecurityCtrlr.Identity, at most 48) without the colon, not only dots; the id
in the URL is percent-decoded once and the decoded id must keep the rule."""

from __future__ import annotations

import pytest

from tests.conftest import TRANSPORTS
from tests.gateway_client import upgrade
from tests.test_cli import ok, rows
from tests.test_cli import volta as run_cli
from volta.blocks.provisioning import service as provisioning
from volta.ocpp.identity import identity_from_path, identity_problem

GOOD = ["CP-1", "a.b", "x*y|z@w+=_", "ABC123", "x" * 48, "..a"]
BAD = [
    "",
    "x" * 49,
    "with space",
    'quo"te',
    "it's",
    "<b>html</b>",
    "cr\rlf\n",
    "nul\x00",
    "tab\t",
    "a?b",
    "a#b",
    "a%b",
    "a/b",
    "a\\b",
    "colon:id",
    ".",
    "..",
    "...",
    "é",
]


@pytest.mark.parametrize("station_id", GOOD, ids=repr)
def test_rule_accepts(station_id):
    assert identity_problem(station_id) is None


@pytest.mark.parametrize("station_id", BAD, ids=repr)
def test_rule_refuses(station_id):
    assert identity_problem(station_id) is not None


@pytest.mark.parametrize(
    ("path", "decoded", "valid"),
    [
        ("/ocpp/CP%2D1", "CP-1", True),  # RFC 3986 §6.2.2.2: the same id
        ("/ocpp/CP-1?x=1", "CP-1", True),
        ("/ocpp/CP%2F1", "CP/1", False),
        ("/ocpp/CP%252D1", "CP%2D1", False),  # decoded once: a double encoding keeps a %
        ("/ocpp/CP%00", "CP\x00", False),
        ("/ocpp/%2E%2E", "..", False),
        ("/ocpp/%C3%A9", "é", False),
        ("/ocpp/%FF", "\ufffd", False),
    ],
)
def test_path_is_decoded_once(path, decoded, valid):
    assert identity_from_path(path) == (decoded, valid)


# -- the gateway ------------------------------------------------------------------


@pytest.fixture(params=TRANSPORTS)
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def volta_settings():
    return {"auto_register": True, "auto_register_status": "Pending"}


BAD_PATHS = [
    "/ocpp/with%20space",
    "/ocpp/quo%22te",
    "/ocpp/%3Cscript%3E",
    "/ocpp/cr%0D%0Alf",
    "/ocpp/nul%00",
    "/ocpp/a%3Fb",
    "/ocpp/a%23b",
    "/ocpp/a%25b",
    "/ocpp/a%2Fb",
    "/ocpp/.",
    "/ocpp/..",
    "/ocpp/%2E%2E",
    "/ocpp/" + "x" * 49,
    "/ocpp/colon:id",
    "/ocpp/<b>",
    '/ocpp/"q"',
]


async def test_gateway_refuses_bad_ids_even_with_auto_registration(volta):
    """Each is refused before the upgrade with the answer an unknown station
    gets when auto-registration is off (401), and none is registered."""
    for path in BAD_PATHS:
        answer = await upgrade(volta.ocpp_port, path)
        assert answer.status == 401, path
        assert answer.body == b"authentication required\n", path
    assert await provisioning.list_stations(volta.db) == []
    # A good id, percent-encoded or not, is registered as it decodes.
    assert (await upgrade(volta.ocpp_port, "/ocpp/NEW%2D1")).status == 101
    assert (await upgrade(volta.ocpp_port, "/ocpp/NEW.2")).status == 101
    ids = sorted(s["id"] for s in await provisioning.list_stations(volta.db))
    assert ids == ["NEW-1", "NEW.2"]


async def test_a_bad_id_is_logged_escaped_with_the_address(volta, caplog):
    caplog.set_level("INFO", logger="volta.gateway.handshake")
    await upgrade(volta.ocpp_port, "/ocpp/evil%0D%0AFAKE%20LINE", source="127.0.0.9")
    line = next(r.getMessage() for r in caplog.records if "refused station" in r.getMessage())
    assert "from 127.0.0.9" in line
    assert "\r" not in line and "\n" not in line
    assert "'evil\\r\\nFAKE LINE'" in line


# -- the API and the CLI ---------------------------------------------------------


class TestApiAndCli:
    @pytest.fixture
    def transport(self) -> str:
        return TRANSPORTS[1]  # the API does not depend on the gateway's stack

    async def test_api_refuses_bad_ids_with_422(self, api):
        for station_id in BAD:
            resp = await api.post("/api/v1/stations", json={"id": station_id})
            assert resp.status_code == 422, station_id
            detail = resp.json()["detail"]
            assert isinstance(detail, str) and "id" in detail, station_id
        assert (await api.get("/api/v1/stations")).json() == []

    async def test_api_accepts_good_ids(self, api):
        for station_id in GOOD:
            resp = await api.post("/api/v1/stations", json={"id": station_id})
            assert resp.status_code == 201, station_id


def test_cli_refuses_bad_ids(tmp_path):
    url = f"sqlite:///{tmp_path}/volta.db"
    for station_id in ["with space", "<b>", "a?b", "a#b", "a%b", "..", "cr\rlf"]:
        result = run_cli(url, "stations", "add", station_id)
        assert result.returncode == 1, station_id
        assert "invalid station: id" in result.stderr and "station id" in result.stderr
        assert "Traceback" not in result.stderr
    assert rows(ok(url, "stations", "list")) == {}
    assert "added station x*y|z@w+=_" in ok(url, "stations", "add", "x*y|z@w+=_")
