"""The file service: firmware images, diagnostics and logs, stored content-addressed
behind a Storage interface, handed to stations through expiring per-request URLs
(docs/device-management.md, "Files")."""
