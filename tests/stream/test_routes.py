"""The worker's web server answers our routes and nothing else: faust's own views (a table's keys, the cluster's
layout, statistics) are not mounted, and the settings never show a secret."""

from __future__ import annotations

import asyncio
import dataclasses
from types import SimpleNamespace

import msgspec
import pytest

from stream.api_contract import PUBLIC_PATHS, ROUTES
from stream.settings import Settings
from stream.worker import create_worker, views

TOKEN = "route-inventory-token-0123"


def served_routes(settings: Settings) -> set[tuple[str, str]]:
    """(method, path) of every route the app's web server would answer, read from aiohttp's router."""
    app = create_worker(settings, store="memory://").app
    app.web.init_server()
    return {(route.method, route.resource.canonical) for route in app.web.web_app.router.routes()}


def test_the_web_server_answers_exactly_our_routes():
    served = served_routes(Settings(api_token=TOKEN))
    declared = {(route.method, route.path) for route in ROUTES}
    # faust answers HEAD on every view, through the view's GET (refused on a view without one); nothing else differs.
    assert {r for r in served if r[0] != "HEAD"} == declared
    assert {path for method, path in served if method == "HEAD"} == {path for _, path in declared}
    assert not any(path.startswith(("/table", "/router", "/graph", "/stats", "/performance")) for _, path in served)
    assert ("GET", "/") not in served


def test_only_the_probes_metrics_and_the_document_are_public():
    assert set(PUBLIC_PATHS) == {"/livez", "/readyz", "/health", "/metrics", "/openapi.json"}
    assert all(route.method == "GET" for route in ROUTES if route.public)


def test_only_the_routes_that_forget_take_the_erase_token():
    assert {(r.method, r.path) for r in ROUTES if r.scope == "erase"} == {
        (r.method, r.path) for r in ROUTES if r.method == "DELETE"
    }
    assert all(r.scope == "read" for r in ROUTES if r.method == "GET" and not r.public)


def test_a_secret_never_shows_in_repr():
    erase = "erase-token-in-settings-0"
    settings = Settings(api_token=TOKEN, api_erase_token=erase, sasl_password="sasl-password-value", sasl_username="u")
    text = repr(settings) + str(settings)
    assert TOKEN not in text and erase not in text and "sasl-password-value" not in text
    assert "sasl_username='u'" in text  # the rest is still there to read
    assert settings.resolved_api_token() == TOKEN and dataclasses.replace(settings).api_token == TOKEN
    secret = {name for name, field in Settings.__dataclass_fields__.items() if not field.repr}
    assert secret == {"api_token", "api_erase_token", "sasl_password"}


class CapturingWeb:
    """What a faust view's ``web`` does with an answer, kept: status, headers and the decoded body."""

    def bytes(self, body, content_type, status, headers):
        return status, headers, msgspec.json.decode(body)


@pytest.mark.parametrize("rebalancing, recovering", [(False, False), (True, False), (False, True), (True, True)])
def test_liveness_never_fails_and_readiness_fails_with_retry_after_while_rebalancing_or_recovering(
    rebalancing, recovering
):
    worker = SimpleNamespace(rebalancing=rebalancing, recovering=recovering)
    worker.ready = lambda: not worker.rebalancing and not worker.recovering
    ready = not rebalancing and not recovering
    assert asyncio.run(views.livez(worker, CapturingWeb(), None)) == (200, {}, {"live": True})
    status, headers, body = asyncio.run(views.readyz(worker, CapturingWeb(), None))
    assert body == {"ready": ready, "rebalancing": rebalancing, "recovering": recovering}
    assert (status, headers) == ((200, {}) if ready else (503, {"Retry-After": "5"}))
