"""The device model: 2.0.1 NotifyReport stored as components, variables,
attributes and characteristics; GetReport, GetVariables and SetVariables split by
ItemsPerMessage / BytesPerMessage (TC_B_08); the 1.6 configuration keys."""
