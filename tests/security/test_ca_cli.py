"""`volta ca init|show|export` and `volta certificates list` on a SQLite
database: the CA made once and kept, its key never in clear in the database
file, an operator's own CA imported, the exported certificate the one that
signs."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.security import pki
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
