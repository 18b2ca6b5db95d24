"""The console's free-text search, one way for every block: `q` anywhere in
any of the columns, in any case, its % and _ taken literally."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa


def text_in(q: str, *columns: Any) -> sa.ColumnElement[bool]:
    needle = q.lower()
    return sa.or_(*(sa.func.lower(c).contains(needle, autoescape=True) for c in columns))
