"""The WebSocket side: the OCPP server, station connections and the router that
carries API commands to whichever connection holds a station."""
