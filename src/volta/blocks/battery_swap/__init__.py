"""OCPP 2.1 battery swap: BatterySwap, RequestBatterySwap."""
