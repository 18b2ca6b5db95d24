"""The dashboard's real headless Chromium (tests/web) for the monitoring pages."""

from tests.web.conftest import browser  # noqa: F401
