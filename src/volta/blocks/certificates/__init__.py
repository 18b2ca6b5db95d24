"""Certificates (2.0.1 A02-A03 and block M, the 1.6 security whitepaper): the
certificate authority that signs stations' CSRs, certificates installed in
stations, expiry and renewal (docs/security.md)."""
