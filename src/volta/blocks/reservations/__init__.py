"""Reservations (1.6 Reservation profile, 2.0.1 block H)."""
