"""Monitoring (2.0.1 block N): variable monitors, monitoring base and level,
monitoring reports, NotifyEvent stored and raised as events."""
