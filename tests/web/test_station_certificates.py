"""The station page's certificates section: what Volta issued (with the
station's answer), what the station reported installed, recent CSRs."""

from __future__ import annotations

from typing import Any

from tests.helpers import wait_until
from tests.security import pki
from tests.security.conftest import booted
from tests.web.conftest import ADMIN, sign_in
from volta.blocks.certificates.hashdata import hash_data


async def test_station_page_shows_certificates(volta: Any, web: Any, api: Any) -> None:
    root, _ = pki.root("Shown root")
    answers = {
        "CertificateSigned": {"status": "Accepted"},
        "GetInstalledCertificateIds": {
            "status": "Accepted",
            "certificateHashDataChain": [
                {
                    "certificateType": "CSMSRootCertificate",
                    "certificateHashData": hash_data(root).payload(),
                }
            ],
        },
    }
    async with booted(volta, "CS1", "ocpp2.0.1", answers) as st:  # type: ignore[arg-type]
        await st.call("SignCertificate", {"csr": pki.csr("CS1")})
        await st.call("SignCertificate", {"csr": pki.csr("WRONG")})
        sent = await st.expect("CertificateSigned")
        assert (await api.post("/api/v1/stations/CS1/certificates/refresh")).status_code == 200

        async def accepted() -> bool:
            rows = (await api.get("/api/v1/certificates")).json()
            return bool(rows) and rows[0]["status"] == "Accepted"

        assert await wait_until(accepted)
    serial = format(pki.load_chain(sent["certificateChain"])[0].serial_number, "x")
    await sign_in(web, *ADMIN)
    page = (await web.get("/stations/CS1?tab=security")).text
    section = page[page.index('id="certificates"') :]
    assert serial in section and "ChargingStationCertificate" in section
    assert format(root.serial_number, "x") in section and "CSMSRootCertificate" in section
    assert "CN must be the station id" in section
    assert "PRIVATE KEY" not in page
