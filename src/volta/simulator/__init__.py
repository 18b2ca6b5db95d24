"""A charge-point simulator built on the same sans-I/O OCPP-J core as the
CSMS, from the station's side (Role.STATION). Used for demos (`make run`),
tests and load."""
