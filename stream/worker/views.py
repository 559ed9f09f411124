"""The worker's web views: the HTTP API of :mod:`stream.api`, served on faust's web server.

Each route of :data:`stream.api_contract.ROUTES` is answered by the handler of the same method and path in
:data:`HANDLERS`, so the routes served, the OpenAPI document and the handlers cannot drift apart (a missing handler
stops the worker from starting). A route that is not public refuses a request without the bearer token before
anything else; a request about a user goes to the worker that owns the user's partition, the way faust routes table
requests (``app.table_route``), so any worker answers for every user.

A forget (``DELETE``) is not applied by the view: it is produced onto the ratings topic with the user as key, so it
is ordered with the user's ratings and takes the same path as every other input (the answer, 202, gives the
partition and offset it was written at).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import faust
import msgspec

from stream import api_contract as schema
from stream.api import (
    ApiError,
    ApiTokens,
    answer,
    explanation_body,
    item_body,
    parse_count,
    parse_event_id,
    parse_item_id,
    parse_user,
    problem,
    ratings_page,
    recommendation_body,
)
from stream.api_contract import ROUTES, openapi_document
from stream.messages import forget_message, forget_user_message
from stream.user_state import UserState
from stream.version import package_version
from stream.worker.context import Worker

log = logging.getLogger(__name__)

#: The header of every 503: when to ask again.
RETRY_LATER = {"Retry-After": str(schema.RETRY_AFTER_S)}
#: A view's work: ``(worker, web, request, **path parameters)`` to the response.
Handler = Callable[..., Awaitable[Any]]


def register(worker: Worker) -> None:
    """Serve every route of :data:`stream.api_contract.ROUTES` on ``worker.app``."""
    app = worker.app
    to_owner = app.table_route(table=worker.tables.users, match_info="user")
    methods: dict[str, dict[str, Handler]] = {}
    for route in ROUTES:
        view_method = bound(worker, HANDLERS[route.method, route.path])
        if "{user}" in route.path:
            view_method = to_owner(view_method)
        view_method = (
            answering_errors(view_method) if route.scope is None else guarded(worker.tokens, route.scope, view_method)
        )
        methods.setdefault(route.path, {})[route.method.lower()] = view_method
    for path, by_method in methods.items():
        app.page(path)(type(f"View{path}", (faust.web.View,), by_method))


def bound(worker: Worker, handler: Handler) -> Handler:
    """``handler`` as a method of a faust view (called with the view, the request and the path's parameters)."""

    async def view_method(web: Any, request: Any, **match: Any) -> Any:
        return await handler(worker, web, request, **match)

    return view_method


def answering_errors(view_method: Handler) -> Handler:
    """Answer an :class:`stream.api.ApiError` with its status and message."""

    async def checked(web: Any, request: Any, **match: Any) -> Any:
        try:
            return await view_method(web, request, **match)
        except ApiError as exc:
            retry = RETRY_LATER if exc.status == 503 else None
            return answer(web, problem(exc.status, exc.message), status=exc.status, headers=retry)

    return checked


def guarded(tokens: ApiTokens, scope: str, view_method: Handler) -> Handler:
    """Refuse a request without ``scope``'s token (401; 403 with the other scope's), before routing or reading
    anything; answer errors as above."""
    checked = answering_errors(view_method)

    async def with_token(web: Any, request: Any, **match: Any) -> Any:
        refusal = tokens.refusal(request.headers.get("Authorization"), scope)
        if refusal is not None:
            status, reason = refusal
            challenge = 'Bearer realm="wnnrec"' + (', error="insufficient_scope"' if status == 403 else "")
            return answer(web, problem(status, reason), status=status, headers={"WWW-Authenticate": challenge})
        return await checked(web, request, **match)

    return with_token


def user_state(worker: Worker, user_text: str) -> tuple[str, UserState]:
    """The user of a path and their state; 404 if unknown, 503 while the worker's tables recover."""
    user = parse_user(user_text)
    state = worker.processor.user(user, worker.tables.users.get)
    if state is None:
        if not worker.ready():  # the user's partition may still be recovering: not known *yet*
            raise ApiError(503, "this worker's tables are recovering after a rebalance; retry in a few seconds")
        raise ApiError(404, f"unknown user {user!r}")
    return user, state


async def recommendations(worker: Worker, web: Any, request: Any, user: str) -> Any:
    k = parse_count(request.query.get("k"), "k", worker.settings.top_n, schema.MAX_K)
    user, state = user_state(worker, user)
    items, scores = state.wnn.score(k=k)
    titles = worker.processor.titles
    explained = state.wnn.explain_list(items)
    return answer(web, recommendation_body(user, items, scores.tolist(), titles, state.wnn.n_pairs, explained))


async def explain(worker: Worker, web: Any, request: Any, user: str) -> Any:
    user, state = user_state(worker, user)
    item = request.query.get("item")
    if not item:
        raise ApiError(400, "missing query parameter: ?item=<item id>")
    space = worker.processor.space
    index = space.find(item)
    if index is None:
        raise ApiError(404, f"unknown item {item!r}")
    explanation = state.wnn.explain(item, top=10)
    items, _ = state.wnn.score(k=worker.settings.top_n)
    key = space.key(index)
    listed = (state.wnn.explain_list([key])[0], items.index(key) if key in items else None, len(items))
    description = worker.processor.descriptions.get(str(key))
    titles = worker.processor.titles
    body = explanation_body(user, explanation, lambda i: titles.get(str(i), f"item {i}"), listed, description)
    return answer(web, body)


async def ratings(worker: Worker, web: Any, request: Any, user: str) -> Any:
    limit = parse_count(request.query.get("limit"), "limit", schema.DEFAULT_PAGE, schema.MAX_PAGE)
    after = request.query.get("after")
    start = None if after is None else parse_event_id(after)
    user, state = user_state(worker, user)
    return answer(web, ratings_page(user, state.wnn.pairs(), limit, start))


async def forget_user(worker: Worker, web: Any, request: Any, user: str) -> Any:
    user, state = user_state(worker, user)
    event_ids = state.wnn.pair_log.event_ids.tolist()
    return answer(web, await produce_forget(worker, user, event_ids, forget_user_message(user), "every rating"), 202)


async def forget_rating(worker: Worker, web: Any, request: Any, user: str, event_id: str) -> Any:
    user, state = user_state(worker, user)
    event = parse_event_id(event_id)
    if not state.wnn.knows(event):
        raise ApiError(404, f"user {user!r} has no stored rating with event id {event}")
    message = forget_message(user, event_id=event)
    return answer(web, await produce_forget(worker, user, [event], message, f"event id {event}"), status=202)


async def forget_item(worker: Worker, web: Any, request: Any, user: str, item: str) -> Any:
    user, state = user_state(worker, user)
    event_ids = [pair["event_id"] for pair in state.wnn.pairs() if str(pair["item"]) == item]
    if not event_ids:
        raise ApiError(404, f"user {user!r} has no stored rating of item {item!r}")
    message = forget_message(user, item=item)
    return answer(web, await produce_forget(worker, user, event_ids, message, f"item {item!r}"), status=202)


async def produce_forget(
    worker: Worker, user: str, event_ids: list[int], message: bytes, what: str
) -> schema.ForgetAccepted:
    """Write a forget request (``message``, of ``what``) onto the ratings topic, keyed by the user; where it was
    written."""
    sent = await worker.topics.ratings.send(key=user.encode(), value=message)
    metadata = await sent
    log.info(
        "API forget of user %r (%s) written to %s[%d] at offset %d",
        user,
        what,
        metadata.topic,
        metadata.partition,
        metadata.offset,
    )
    return schema.ForgetAccepted(
        user=user,
        event_ids=event_ids,
        topic=metadata.topic,
        partition=metadata.partition,
        offset=metadata.offset,
        status="accepted: applied when the worker reaches that offset",
    )


async def item_stats(worker: Worker, web: Any, request: Any) -> Any:
    return answer(web, msgspec.convert(item_stats_body(worker), schema.ItemStats))


def item_stats_body(worker: Worker) -> dict[str, Any]:
    """The worker's live global item statistics (all partitions' shares added up): an audit view."""
    space = worker.processor.space
    stats = (space.statistics(i) for i in range(space.n_items))
    return {
        "owned_partitions": sorted(worker.processor.owned),
        "items": {
            str(space.key(i)): {
                "count": s.count,
                "sum": s.total,
                "projection": list(s.projection),
                "vector": list(s.vector),
                "centred": s.centred,
            }
            for i, s in enumerate(stats)
            if s.count
        },
    }


async def item(worker: Worker, web: Any, request: Any, item: str) -> Any:
    body = item_body(parse_item_id(item), worker.processor.space, worker.processor.descriptions)
    if body is None:
        raise ApiError(404, f"unknown item {item!r}: neither in the catalogue nor rated")
    return answer(web, body)


async def livez(worker: Worker, web: Any, request: Any) -> Any:
    return answer(web, schema.Liveness(live=True))


async def readyz(worker: Worker, web: Any, request: Any) -> Any:
    body = schema.Readiness(ready=worker.ready(), rebalancing=worker.rebalancing, recovering=worker.recovering)
    return ready_answer(web, body, body.ready)


async def health(worker: Worker, web: Any, request: Any) -> Any:
    body = msgspec.convert({"live": True, "ready": worker.ready(), **health_fields(worker)}, schema.Health)
    return ready_answer(web, body, body.ready)


def ready_answer(web: Any, body: msgspec.Struct, ready: bool) -> Any:
    """200 when ready; else 503 with ``Retry-After``."""
    if ready:
        return answer(web, body)
    return answer(web, body, status=503, headers=RETRY_LATER)


def health_fields(worker: Worker) -> dict[str, Any]:
    """What ``/health`` reports beside liveness and readiness."""
    processor, continuity, delivery = worker.processor, worker.continuity, worker.delivery
    return {
        "rebalancing": worker.rebalancing,
        "recovering": worker.recovering,
        "owned_partitions": sorted(processor.owned),
        "users_cached": len(processor.cache),
        "items": processor.space.n_items,
        "events_total": processor.window.events_total,
        "offset_holes_read_again": continuity.holes,
        "stalls_read_again": continuity.stalls,
        "stale_messages_skipped": continuity.stale_skipped,
        "batches_delivering": delivery.in_flight,
        "delivery_failures": delivery.failures,
        "messages_dropped_in_rebalance": continuity.dropped_in_rebalance,
        "dead_letters": dict(processor.dead_letter_reasons),
    }


async def metrics(worker: Worker, web: Any, request: Any) -> Any:
    body, content_type = worker.metrics.exposition()
    # aiohttp refuses a content_type argument with parameters (Prometheus' has a version and a charset).
    return web.bytes(body, headers={"Content-Type": content_type})


async def openapi(worker: Worker, web: Any, request: Any) -> Any:
    return web.json(the_openapi_document())


@functools.cache
def the_openapi_document() -> dict[str, Any]:
    """The OpenAPI document, built once per process (it depends on the routes and the version only)."""
    return openapi_document(package_version())


#: The handler of each route, by method and path.
HANDLERS: dict[tuple[str, str], Handler] = {
    ("GET", "/users/{user}/recommendations"): recommendations,
    ("GET", "/users/{user}/explain"): explain,
    ("GET", "/users/{user}/ratings"): ratings,
    ("DELETE", "/users/{user}"): forget_user,
    ("DELETE", "/users/{user}/ratings/{event_id}"): forget_rating,
    ("DELETE", "/users/{user}/items/{item}"): forget_item,
    ("GET", "/item-stats"): item_stats,
    ("GET", "/items/{item}"): item,
    ("GET", "/livez"): livez,
    ("GET", "/readyz"): readyz,
    ("GET", "/health"): health,
    ("GET", "/metrics"): metrics,
    ("GET", "/openapi.json"): openapi,
}
