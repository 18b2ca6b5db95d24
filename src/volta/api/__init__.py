"""The HTTP API: a thin layer that translates HTTP to block services."""
