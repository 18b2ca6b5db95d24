"""Charger profiles: per vendor, model and firmware range, what Volta does for that
kind of charger (validation relaxed for named fields, configuration applied
after boot, known quirks worked around), applied on BootNotification."""
