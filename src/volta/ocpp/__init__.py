"""Sans-I/O OCPP-J: frames, error codes, schema validation and call correlation.

Nothing in this package opens a socket or needs an event loop: text goes in,
events and text come out, so the same core serves the CSMS and the simulator.
"""
