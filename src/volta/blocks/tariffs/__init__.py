"""Tariffs, session costs and charge detail records (CDRs)."""
