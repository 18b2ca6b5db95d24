"""OCPP 2.1 DER control (block R): SetDERControl, GetDERControl,
ClearDERControl, ReportDERControl, NotifyDERAlarm, NotifyDERStartStop."""
