"""What the HTTP API and the dashboard share of FastAPI: the dependency that
gives a route the services. `volta.app` puts them on the application's state
when it builds the HTTP application; neither adapter imports the other."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from volta.services import Services


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]
