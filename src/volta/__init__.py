"""Volta: an open-source charging station management system (CSMS) speaking OCPP."""

__version__ = "0.1.0"
