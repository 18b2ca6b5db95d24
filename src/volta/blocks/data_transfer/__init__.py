"""DataTransfer (1.6 Core, 2.0.1 block P)."""
