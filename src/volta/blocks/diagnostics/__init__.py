"""Diagnostics and logs: 1.6 GetDiagnostics, GetLog (2.0.1 N01 and the 1.6 security
extension) with the upload URL filled in by Volta, their status notifications
tracked, the uploaded file attached to the request."""
