"""Block A, security: security profiles per station, station passwords and
their rotation, the security event log (docs/security.md)."""
