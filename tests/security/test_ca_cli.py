"""`volta ca init|show|export` and `volta certificates list` on a SQLite
database: the CA made once and kept, its key never in clear in the database
file, an operator's own CA imported, the exported certificate the one that
signs."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.conftest import API_TOKEN
from tests.security import pki
from tests.security.conftest import booted
from volta.blocks.certificates.hashdata import hash_data
from volta.cli import main


def test_ca_init_show_export_and_import(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    db = ["--database-url", f"sqlite:///{tmp_path}/volta.db"]
    assert main(["ca", "show", *db]) == 0
    assert "not made yet" in capsys.readouterr().out

    assert main(["ca", "init", *db]) == 0
    made = capsys.readouterr().out
    for name in ("csms", "v2g_root", "cpo_sub1", "cpo_sub2"):
        assert f"{name} " in made and "generated" in made
    # The key that seals the CA keys is a 0600 file beside the database.
    assert (tmp_path / "volta-secret.key").stat().st_mode & 0o777 == 0o600
    assert b"PRIVATE KEY" not in (tmp_path / "volta.db").read_bytes()

    assert main(["ca", "init", *db]) == 0  # again: the same CAs, not new ones
    assert capsys.readouterr().out == made

    out = tmp_path / "csms-ca.pem"
    assert main(["ca", "export", *db, "--out", str(out)]) == 0
    exported = x509.load_pem_x509_certificate(out.read_bytes())
    serial = format(exported.serial_number, "x")
    assert f"serial {serial}" in made.splitlines()[0]

    own, own_key = pki.root("Operator Issuing CA")
    (tmp_path / "own.pem").write_text(pki.pem(own))
    (tmp_path / "own-key.pem").write_bytes(
        own_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    capsys.readouterr()
    args = ["ca", "init", *db, "--certificate", str(tmp_path / "own.pem")]
    assert main([*args, "--key", str(tmp_path / "own-key.pem")]) == 0
    shown = capsys.readouterr().out
    assert "imported CN=Operator Issuing CA as the CSMS CA" in shown
    assert "csms      imported" in shown
    assert b"PRIVATE KEY" not in (tmp_path / "volta.db").read_bytes()

    assert main(["ca", "export", *db]) == 0
    assert capsys.readouterr().out == pki.pem(own)

    # A key that is not the certificate's is refused.
    (tmp_path / "other-key.pem").write_bytes(
        pki.ec_key().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    assert main([*args, "--key", str(tmp_path / "other-key.pem")]) == 1
    assert "does not belong" in capsys.readouterr().err

    assert main(["certificates", "list", *db]) == 0
    assert capsys.readouterr().out.startswith("   ID STATION")


async def test_certificates_cli_through_the_api(
    volta: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """`volta certificates renew|install|installed|delete` ask the running
    server through its API; the station gets the messages, the exit status
    follows its answer, and an API refusal (the last root) is exit 1 with
    the detail."""
    root, _ = pki.root("CLI root")
    answers = {
        "TriggerMessage": {"status": "Accepted"},
        "InstallCertificate": {"status": "Accepted"},
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
    api = ["--api-url", f"http://127.0.0.1:{volta.api_port}", "--token", API_TOKEN]
    pem_file = tmp_path / "root.pem"
    await asyncio.to_thread(pem_file.write_text, pki.pem(root))
    async with booted(volta, "CS1", "ocpp2.0.1", answers) as st:  # type: ignore[arg-type]

        def run(*argv: str) -> int:
            return main([*argv, *api])

        assert await asyncio.to_thread(run, "certificates", "renew", "CS1") == 0
        assert await st.expect("TriggerMessage") == {
            "requestedMessage": "SignChargingStationCertificate"
        }
        args = ["certificates", "install", "CS1", "--type", "CSMSRootCertificate", str(pem_file)]
        assert await asyncio.to_thread(run, *args) == 0
        assert (await st.expect("InstallCertificate"))["certificate"] == pki.pem(root)
        assert await asyncio.to_thread(run, "certificates", "installed", "CS1") == 0
        await st.expect("GetInstalledCertificateIds")
        h = hash_data(root)
        assert f"serial {h.serial_number}" in capsys.readouterr().out
        delete = [
            "certificates", "delete", "CS1", "--serial", h.serial_number,
            "--issuer-name-hash", h.issuer_name_hash, "--issuer-key-hash", h.issuer_key_hash,
        ]  # fmt: skip
        assert await asyncio.to_thread(run, *delete) == 1
        assert "409: that is the last CSMSRootCertificate" in capsys.readouterr().err
