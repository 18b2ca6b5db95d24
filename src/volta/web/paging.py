"""Server-side search and pagination for every list of the console.

A list page takes `q` (search text), `page` (1-based) and its own filters
from the query string; it asks its service for `paging.limit` rows (one more
than it shows, so it knows whether there is a next page without counting a
million rows) at `paging.offset`, in a stable order (a unique key last, so
rows never swap places between two polls), and draws `pager(paging, rows)`
from _macros.html under the table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlencode

from fastapi import HTTPException
from starlette.requests import Request

from volta.http import control_character

PER_PAGE = 50
MAX_PAGE = 10_000
MAX_SEARCH = 100
T = TypeVar("T")


@dataclass
class Paging:
    path: str
    page: int = 1
    per: int = PER_PAGE
    q: str = ""
    params: dict[str, str] = field(default_factory=dict)
    has_next: bool = False

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per

    @property
    def limit(self) -> int:
        """Rows to ask for: one more than a page shows."""
        return self.per + 1

    def window(self, rows: list[T]) -> list[T]:
        """The page's rows; remembers whether there was one more."""
        self.has_next = len(rows) > self.per
        return rows[: self.per]

    def url(self, **changes: Any) -> str:
        """This list's URL with the same search and filters, `changes` applied
        (page=N, or a filter; a filter change starts again at page 1)."""
        params = {**self.params, "q": self.q, "page": str(self.page)}
        if "page" not in changes:
            params["page"] = "1"
        for key, value in changes.items():
            params[key] = "" if value is None else str(value)
        kept = {
            k: v
            for k, v in params.items()
            if v not in ("", None) and not (k == "page" and v == "1")
        }
        return self.path + ("?" + urlencode(kept) if kept else "")

    @property
    def first_row(self) -> int:
        return self.offset + 1


def text_param(value: str | None, name: str = "q", limit: int = MAX_SEARCH) -> str:
    """A search or filter text from the query string: trimmed; 422 when too
    long or holding a control character."""
    value = (value or "").strip()
    if len(value) > limit:
        raise HTTPException(422, f"{name}: at most {limit} characters")
    if control_character(value):
        raise HTTPException(422, f"{name}: control characters are not allowed")
    return value


def paging(request: Request, *filters: str) -> Paging:
    """The list's paging from the request's query string; `filters` are the
    names of the page's own filters, kept in every page link."""
    query = request.query_params
    raw_page = query.get("page", "1")
    page = int(raw_page) if raw_page.isdigit() else 1
    return Paging(
        path=request.url.path,
        page=min(max(page, 1), MAX_PAGE),
        q=text_param(query.get("q")),
        params={name: text_param(query.get(name), name) for name in filters if query.get(name)},
    )
