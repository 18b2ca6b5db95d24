"""OCPP 2.1 periodic event streams: OpenPeriodicEventStream,
NotifyPeriodicEventStream (a SEND), ClosePeriodicEventStream,
GetPeriodicEventStream, AdjustPeriodicEventStream."""
