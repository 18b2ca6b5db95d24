"""Remote control and configuration: the CSMS-initiated messages (1.6 Core and
Remote Trigger; 2.0.1 blocks B, F and G, and every other CSMS-to-station
action the specification defines), sent through the API with durable results."""
