"""Firmware updates (1.6, 1.6 signed, 2.0.1 block L) and firmware campaigns: a
canary group, then waves, halted above a failure rate."""
