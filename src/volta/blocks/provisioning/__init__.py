"""Provisioning (1.6 Core boot/heartbeat/status, 2.0.1 block B)."""
