"""Plug & Charge (ISO 15118 through OCPP, 2.0.1 C07/M and the OCA's
"ISO 15118 with OCPP 1.6"): contract certificates checked by OCSP, EV
certificates from a contract certificate provider (docs/security.md)."""
