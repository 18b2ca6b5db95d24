"""OCPP 2.1 priority charging: UsePriorityCharging, NotifyPriorityCharging."""
