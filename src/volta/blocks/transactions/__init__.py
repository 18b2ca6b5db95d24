"""Transactions (1.6 Core Start/Stop/MeterValues, 2.0.1 block E and J)."""
