"""Display messages and customer information in a simulated station."""

from __future__ import annotations

from volta.simulator.dialect import AnswerTable

# Answers of a 1.6 and of a 2.0.1 station (v16.py / v201.py include them).
v16 = AnswerTable()
v201 = AnswerTable()
