"""Persistence: database models, the engine, migrations and the frame log."""
