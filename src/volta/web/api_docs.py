"""The HTTP API's documentation under the console's Content-Security-Policy:
Swagger UI (`/docs`) and ReDoc (`/redoc`) from local assets (the files the
`fastapi-offline` package ships), started by `static/api-docs.js` rather than
an inline script. FastAPI's own pages load them from a CDN, which the CSP
blocks; they are turned off in `volta.api.app`.

Each page gets a policy of its own, as narrow as the library allows (found
in Chromium, tests/web/test_api_docs.py): Swagger UI runs under the console's
strict policy (it sets styles through the DOM, which a CSP allows); ReDoc
needs inline <style> elements (styled-components) and a worker made from a
blob: URL (its search), allowed on /redoc only. Scripts stay 'self' on both.
"""

from __future__ import annotations

import functools
import importlib.resources
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import FileResponse, HTMLResponse, Response

from volta.web.views import templates

router = APIRouter(include_in_schema=False)

ASSETS = Path(str(importlib.resources.files("fastapi_offline") / "static"))
ASSET_TYPES = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "redoc.standalone.js": "text/javascript",
    "favicon.png": "image/png",
}
_BASE = (
    "default-src 'self'; script-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
SWAGGER_CSP = _BASE + "; style-src 'self'"
REDOC_CSP = _BASE + "; style-src 'self' 'unsafe-inline'; worker-src blob:"
# ReDoc's side menu shows Redocly's logo from their CDN; an empty image
# instead (ReDoc drops the logo when it does not load): nothing leaves the site.
REDOC_LOGO = b"https://cdn.redoc.ly/redoc/logo-mini.svg"
CACHE = {"Cache-Control": "public, max-age=86400"}


@functools.cache
def _redoc_bundle() -> bytes:
    return (ASSETS / "redoc.standalone.js").read_bytes().replace(REDOC_LOGO, b"data:,")


def _page(request: Request, kind: str, csp: str) -> HTMLResponse:
    response = templates.TemplateResponse(
        request,
        "api_docs.html",
        {"kind": kind, "openapi_url": request.app.openapi_url or "/openapi.json"},
    )
    response.headers["Content-Security-Policy"] = csp
    return response


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    return _page(request, "swagger", SWAGGER_CSP)


@router.get("/redoc")
async def redoc(request: Request) -> HTMLResponse:
    return _page(request, "redoc", REDOC_CSP)


@router.get("/docs/assets/{name}")
async def asset(name: str) -> Response:
    if name not in ASSET_TYPES:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such file")
    if name == "redoc.standalone.js":
        return Response(_redoc_bundle(), media_type=ASSET_TYPES[name], headers=CACHE)
    return FileResponse(ASSETS / name, media_type=ASSET_TYPES[name], headers=CACHE)
