"""Customer information (2.0.1 N09/N10) and a driver's data erased in the
stations and in Volta together: the simulator over a real WebSocket, the
operator through the HTTP API, both databases."""

from __future__ import annotations

from typing import Any

import httpx
import sqlalchemy as sa

from tests.helpers import add_token, wait_until
from tests.test_simulator import CARD, all_available, quiet, running, scenario
from volta.store.models import (
    Cdr,
    Command,
    CustomerInformationRequest,
    Event,
    Frame,
    LocalListEntry,
    Transaction,
)


async def request_info(api: httpx.AsyncClient, station_id: str, **body: Any) -> httpx.Response:
    return await api.post(f"/api/v1/stations/{station_id}/customer-information", json=body)


async def complete(api: httpx.AsyncClient, request_id: int) -> dict[str, Any]:
    async def done() -> dict[str, Any] | None:
        found = (await api.get(f"/api/v1/customer-information-requests/{request_id}")).json()
        return found if found["complete"] else None

    assert await wait_until(done, 15)
    found = await done()
    assert found is not None
    return found


async def test_report_by_token_identifier_and_certificate_N09(volta, api):
    async with running(volta, quiet(volta, "2.0.1")) as [station]:
        r = await request_info(api, station.id, id_token="CARD-7", id_token_type="ISO14443")
        assert r.status_code == 201, r.text
        asked = r.json()
        assert (asked["status"], asked["report"], asked["clear"]) == ("Accepted", True, False)
        assert asked["command"]["payload"]["idToken"] == {"idToken": "CARD-7", "type": "ISO14443"}
        found = await complete(api, asked["id"])
        assert found["parts"] == 2
        assert "idToken CARD-7: authorization cache entry" in found["data"]
        assert found["data"].endswith("kept")

        r = await request_info(
            api, station.id, customer_identifier="OpenChargeAlliance", clear=True
        )
        payload = r.json()["command"]["payload"]
        assert payload["customerIdentifier"] == "OpenChargeAlliance"
        assert "idToken" not in payload and "customerCertificate" not in payload
        assert (await complete(api, r.json()["id"]))["data"].endswith("cleared")

        cert = {
            "hash_algorithm": "SHA256",
            "issuer_name_hash": "a" * 64,
            "issuer_key_hash": "b" * 64,
            "serial_number": "1234",
        }
        r = await request_info(api, station.id, customer_certificate=cert, report=False, clear=True)
        assert r.status_code == 201
        found = r.json()
        # Clear only: nothing is to come, the request is complete at once (N10).
        assert (found["status"], found["complete"], found["data"]) == ("Accepted", True, "")
        assert found["command"]["payload"]["customerCertificate"]["serialNumber"] == "1234"

        # A part for a request that is not this station's is answered and dropped.
        async with volta.db.read() as conn:
            count = (await conn.execute(sa.select(sa.func.count()).select_from(Frame))).scalar_one()
        assert count > 0

    # Bad input: a clear 4xx, nothing stored.
    sid = station.id
    for body in (
        {},
        {"id_token": "A", "customer_identifier": "B"},
        {"id_token": "A", "report": False, "clear": False},
        {"id_token": "x" * 37},
        {"customer_certificate": {"hash_algorithm": "MD5"}},
    ):
        r = await request_info(api, sid, **body)
        assert r.status_code == 422, (body, r.text)
    assert (await request_info(api, "nowhere", id_token="A")).status_code == 404
    assert (await request_info(api, sid, id_token="A")).status_code == 409
    assert (await api.get("/api/v1/customer-information-requests/999")).status_code == 404


async def test_erasing_a_driver_clears_the_station_and_anonymises_volta_N10(volta, api):
    await add_token(volta, CARD, note="Jane Doe, fleet card")
    sc = scenario(volta, protocol="2.0.1")
    async with running(volta, sc) as [station]:
        sid = station.id
        assert await wait_until(lambda: station.stats.sessions == 1, 20)
        assert await wait_until(lambda: all_available(api, sid), 15)

        async def cdrs() -> list[dict[str, Any]]:
            return list((await api.get("/api/v1/cdrs", params={"station_id": sid})).json())

        assert await wait_until(cdrs, 15)
        [cdr] = await cdrs()
        assert cdr["id_token"] == CARD
        # The station's local list holds the card.
        r = await api.put(f"/api/v1/stations/{sid}/local-list", json={"tokens": [CARD]})
        assert r.status_code in (200, 201), r.text

        r = await api.post(f"/api/v1/id-tokens/{CARD}/erase", json={"stations": "used"})
        assert r.status_code == 200, r.text
        erased = r.json()
        pseudonym = erased["pseudonym"]
        assert pseudonym.startswith("anon-") and CARD not in pseudonym
        [asked] = erased["stations"]
        assert (asked["station_id"], asked["status"]) == (sid, "Accepted")
        assert erased["rows"]["id_tokens"] == 1
        assert erased["rows"]["transactions"] >= 1 and erased["rows"]["cdrs"] == 1

        # The station was asked to clear the driver's data (report false).
        frames = await api.get(
            f"/api/v1/stations/{sid}/messages",
            params={"action": "CustomerInformation", "direction": "out"},
        )
        [sent] = frames.json()["items"]
        assert sent["frame"][3]["clear"] is True and sent["frame"][3]["report"] is True
        # The station's receipt is counted, its text (the driver's data) not kept.
        receipt = await complete(api, asked["request_id"])
        assert (receipt["parts"], receipt["data"], receipt["erasure_id"]) == (2, "", erased["id"])

        # ... and the local list loses the card (D01.FR.17: the token alone).
        async def removed() -> bool:
            async with volta.db.read() as conn:
                rows = (await conn.execute(sa.select(LocalListEntry.token))).all()
            return not rows

        assert await wait_until(removed, 15)

        # Volta: the token is gone, billing records kept under the pseudonym.
        assert (await api.get(f"/api/v1/id-tokens/{CARD}")).status_code == 404
        [cdr_after] = await cdrs()
        assert cdr_after["id_token"] == pseudonym
        assert (cdr_after["total_incl_tax"], cdr_after["energy_wh"]) == (
            cdr["total_incl_tax"],
            cdr["energy_wh"],
        )
        await volta.frames.flush()
        async with volta.db.read() as conn:
            txs = (await conn.execute(sa.select(Transaction.id_token))).scalars().all()
            assert txs and set(txs) == {pseudonym}
            assert (await conn.execute(sa.select(Cdr.id_token))).scalars().all() == [pseudonym]
            requests = (
                (await conn.execute(sa.select(CustomerInformationRequest.id_token))).scalars().all()
            )
            assert requests == [pseudonym]
            # Nowhere is the card written any more: frames (also the receipt's
            # free text), commands, events.
            free_text = sa.select(sa.func.count()).where(Frame.raw.contains(CARD))
            assert (await conn.execute(free_text)).scalar_one() == 0
            leftovers = 0
            for column in (
                Frame.raw,
                sa.cast(Command.payload, sa.Text),
                sa.cast(Event.data, sa.Text),
            ):
                leftovers += (
                    await conn.execute(
                        sa.select(sa.func.count()).where(column.contains(f'"{CARD}"'))
                    )
                ).scalar_one()
            assert leftovers == 0
            kinds = (
                (await conn.execute(sa.select(Event.data).where(Event.type == "id_token.erased")))
                .scalars()
                .all()
            )
            assert [k["pseudonym"] for k in kinds] == [pseudonym]

        # Erasing again (a token no longer known) asks nothing of unknown use.
        r = await api.post(f"/api/v1/id-tokens/{CARD}/erase")
        assert r.status_code == 200 and r.json()["stations"] == []
    assert (await api.post("/api/v1/id-tokens/" + "x" * 65 + "/erase")).status_code == 422
    assert (
        await api.post(f"/api/v1/id-tokens/{CARD}/erase", json={"stations": "some"})
    ).status_code == 422
