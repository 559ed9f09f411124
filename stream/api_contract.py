"""The HTTP API's responses as msgspec Structs, and the OpenAPI 3.1 document generated from them (``/openapi.json``).

The views of :mod:`stream.api` answer with these Structs, encoded by msgspec; the document's response schemas are
generated from them, and ``tests/stream/test_api_http.py`` validates every view's real answer against the document
(and the document itself with openapi-spec-validator). A field left at its default (an optional one that does not
apply) is left out of the answer.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import msgspec

from stream.contracts import ItemRecord, ScoreTerms


class Problem(msgspec.Struct):
    """Any 4xx or 5xx answer: an RFC 9457 problem detail (``application/problem+json``). ``type`` is always
    ``about:blank`` (the status says what kind of problem it is), ``title`` the status's phrase, ``detail`` what went
    wrong with this request."""

    title: str
    status: int
    detail: str
    type: str = "about:blank"


#: The media type of a :class:`Problem`.
PROBLEM_JSON = "application/problem+json"


class RecommendedItem(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    item: str
    score: float
    title: str | None = None
    why: ScoreTerms | None = None


class Recommendations(msgspec.Struct, forbid_unknown_fields=True):
    """``GET /users/{user}/recommendations``."""

    user: str
    n_ratings: int
    items: list[RecommendedItem]


class PullingRating(msgspec.Struct, forbid_unknown_fields=True):
    """A stored rating that shares cells with the explained item, and its additive share of the prediction."""

    event_id: int
    item: str
    rating: float
    ts: int
    shared_neurons: int
    pull: float


class NeuronCell(msgspec.Struct, forbid_unknown_fields=True):
    neuron: int
    count: float
    mean_residual: float


class ListedScore(ScoreTerms, forbid_unknown_fields=True):
    total: float


class Explanation(msgspec.Struct, forbid_unknown_fields=True):
    """``GET /users/{user}/explain?item=``."""

    user: str
    item: str
    title: str
    predicted_rating: float
    like_probability: float
    summary: str
    because: list[str]
    baseline: float
    user_bias: float
    genres: list[str]
    year: int | None
    attributes: dict[str, str]
    ratings: list[PullingRating]
    neurons: list[NeuronCell]
    # Present when the item was ranked for the user's list (position null: not in it); left out otherwise.
    in_list: bool | msgspec.UnsetType = msgspec.UNSET
    position: int | msgspec.UnsetType | None = msgspec.UNSET
    why_listed: list[str] | msgspec.UnsetType = msgspec.UNSET
    score: ListedScore | msgspec.UnsetType = msgspec.UNSET


class StoredRating(msgspec.Struct, forbid_unknown_fields=True):
    event_id: int
    item: str
    rating: float
    ts: int


class Ratings(msgspec.Struct, forbid_unknown_fields=True):
    """``GET /users/{user}/ratings``: a page of the stored ratings, oldest first; ``next_after`` is the ``?after=``
    of the next page (null on the last)."""

    user: str
    ratings: list[StoredRating]
    next_after: int | None


class ForgetAccepted(msgspec.Struct, forbid_unknown_fields=True):
    """``DELETE /users/{user}``, ``/users/{user}/ratings/{event_id}`` and ``/users/{user}/items/{item}``: the forget
    on the input topic, and the event ids of the ratings it forgets."""

    user: str
    event_ids: list[int]
    topic: str
    partition: int
    offset: int
    status: str


class Item(msgspec.Struct, forbid_unknown_fields=True):
    """``GET /items/{item}``."""

    item: str
    description: ItemRecord | None
    withdrawn: bool
    listable: bool
    ratings: int
    mean_rating: float | None
    baseline: float | None
    category_slots: list[int]


class ItemStatistics(msgspec.Struct, forbid_unknown_fields=True):
    count: int
    sum: float
    projection: list[int]
    vector: list[int]
    centred: int


class ItemStats(msgspec.Struct, forbid_unknown_fields=True):
    """``GET /item-stats``: the worker's global item statistics, an audit view."""

    owned_partitions: list[int]
    items: dict[str, ItemStatistics]


class Liveness(msgspec.Struct, forbid_unknown_fields=True):
    """``GET /livez``: the process serves requests (always 200, during a rebalance or a recovery too)."""

    live: bool


class Readiness(msgspec.Struct, forbid_unknown_fields=True):
    """``GET /readyz`` (200 when ready; 503, with ``Retry-After``, while the group rebalances or tables recover)."""

    ready: bool
    rebalancing: bool
    recovering: bool


class Health(msgspec.Struct, forbid_unknown_fields=True):
    """``GET /health`` (200 when ready, 503 while the group rebalances or tables recover)."""

    live: bool
    ready: bool
    rebalancing: bool
    recovering: bool
    owned_partitions: list[int]
    users_cached: int
    items: int
    events_total: int
    offset_holes_read_again: int
    stalls_read_again: int
    stale_messages_skipped: int
    batches_delivering: int
    delivery_failures: int
    messages_dropped_in_rebalance: int
    dead_letters: dict[str, int]


RESPONSE_TYPES = (
    Problem,
    Liveness,
    Readiness,
    Recommendations,
    Explanation,
    Ratings,
    ForgetAccepted,
    Item,
    ItemStats,
    Health,
)
_REF = "#/components/schemas/{name}"


def _answer(description: str, struct: type | None = None) -> dict[str, Any]:
    if struct is None:
        return {"description": description}
    schema = {"$ref": _REF.format(name=struct.__name__)}
    media = PROBLEM_JSON if struct is Problem else "application/json"
    return {"description": description, "content": {media: {"schema": schema}}}


#: The most items ``?k=`` may ask of a list, and the most ratings a page of ``/users/{user}/ratings`` holds.
MAX_K, MAX_PAGE = 100, 1000
#: A page of ratings when ``?limit=`` is not given.
DEFAULT_PAGE = 100


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


#: Seconds a client is told to wait (``Retry-After``) before asking a worker that is not ready again.
RETRY_AFTER_S = 5


def _not_ready(struct: type, description: str = "not ready (the group rebalances or tables recover)") -> dict[str, Any]:
    """A 503 answer of ``struct``, with its ``Retry-After`` header."""
    header = {"description": "seconds to wait before asking again", "schema": {"type": "integer"}}
    return {**_answer(description, struct), "headers": {"Retry-After": header}}


def _path_parameter(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": schema}


_ID = {"type": "string", "maxLength": 256}
_ERRORS = {
    "400": _answer("malformed id", Problem),
    "401": _answer("no or wrong token", Problem),
    "403": _answer("a token of the other scope (reading and forgetting have a token each)", Problem),
    "404": _answer("unknown user, rating or item", Problem),
    "503": _not_ready(Problem, "the user's partition is recovering; retry"),
}


def _user_operation(
    summary: str, answer: dict[str, Any], code: str = "200", extra: list[Any] | None = None
) -> dict[str, Any]:
    return {
        "summary": summary,
        "parameters": [_path_parameter("user", _ID), *(extra or [])],
        "responses": {code: answer, **_ERRORS},
    }


_FORGET = _answer("accepted: applied when the worker reaches that offset of the input topic", ForgetAccepted)


#: The scope of the routes that read (lists, explanations, ratings, items) and of those that forget ratings or erase
#: users: each has its own bearer token (:class:`stream.api.ApiTokens`).
READ, ERASE = "read", "erase"


class Route(NamedTuple):
    """One route of the worker's web server and its OpenAPI operation: a route of a ``scope`` refuses a request
    without that scope's bearer token; one without (``scope=None``) answers anyone who reaches the port."""

    method: str
    path: str
    operation: dict[str, Any]
    scope: str | None = READ
    #: the OpenAPI operationId (unique) and the tag the document groups it under
    name: str = ""
    tag: str = ""

    @property
    def public(self) -> bool:
        return self.scope is None


#: Every route the worker's web server answers (aiohttp answers ``HEAD`` wherever it answers ``GET``), with its
#: description: the OpenAPI document's paths are these (:func:`openapi_document`). Nothing else is served: faust's own
#: views are not mounted (:class:`stream.faust_compat.WebServer`), and a test enumerates the running server's routes
#: against this list.
ROUTES = (
    Route(
        "GET",
        "/users/{user}/recommendations",
        _user_operation(
            "The user's current top-k, best first, with titles from the catalogue, and why each item is there: its "
            "score split into terms that sum to it",
            _answer("the list", Recommendations),
            extra=[_query("k", {"type": "integer", "minimum": 1, "maximum": MAX_K, "default": 10}, "items listed")],
        ),
        name="getRecommendations",
        tag="users",
    ),
    Route(
        "GET",
        "/users/{user}/explain",
        _user_operation(
            "Why the item is (or is not) in the user's list, and why it gets its predicted rating (baseline, the "
            "user's bias, the stored ratings that pull it), in sentences and numbers",
            _answer("the explanation", Explanation),
            extra=[{"name": "item", "in": "query", "required": True, "schema": {"type": "string"}}],
        ),
        name="explainItem",
        tag="users",
    ),
    Route(
        "GET",
        "/users/{user}/ratings",
        _user_operation(
            "The user's stored ratings, oldest first, a page at a time",
            _answer("a page of the ratings", Ratings),
            extra=[
                _query(
                    "limit",
                    {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": DEFAULT_PAGE},
                    "ratings on the page",
                ),
                _query("after", {"type": "integer"}, "the previous page's next_after: ratings after that event id"),
            ],
        ),
        name="listRatings",
        tag="users",
    ),
    Route(
        "DELETE",
        "/users/{user}",
        _user_operation(
            "Erase the user: every rating of theirs is forgotten exactly, and a replay of them is ignored (a "
            "forget-user produced onto the input topic with the user as key); the user then reads as unknown",
            _FORGET,
            code="202",
        ),
        scope=ERASE,
        name="forgetUser",
        tag="users",
    ),
    Route(
        "DELETE",
        "/users/{user}/ratings/{event_id}",
        _user_operation(
            "Forget one rating (produced onto the input topic with the user as key)",
            _FORGET,
            code="202",
            extra=[_path_parameter("event_id", {"type": "integer"})],
        ),
        scope=ERASE,
        name="forgetRating",
        tag="users",
    ),
    Route(
        "DELETE",
        "/users/{user}/items/{item}",
        _user_operation(
            "Forget every rating of the item by the user", _FORGET, code="202", extra=[_path_parameter("item", _ID)]
        ),
        scope=ERASE,
        name="forgetItem",
        tag="users",
    ),
    Route(
        "GET",
        "/item-stats",
        {
            "summary": "This worker's global item statistics (an audit view)",
            "responses": {"200": _answer("the statistics", ItemStats), "401": _ERRORS["401"], "403": _ERRORS["403"]},
        },
        name="getItemStatistics",
        tag="items",
    ),
    Route(
        "GET",
        "/items/{item}",
        {
            "summary": "The item's description from the catalogue (the items topic) and its live statistics",
            "parameters": [_path_parameter("item", _ID)],
            "responses": {
                "200": _answer("the item", Item),
                "400": _ERRORS["400"],
                "401": _ERRORS["401"],
                "403": _ERRORS["403"],
                "404": _answer("neither in the catalogue nor rated", Problem),
            },
        },
        name="getItem",
        tag="items",
    ),
    Route(
        "GET",
        "/livez",
        {
            "summary": "Liveness, for a liveness probe: answers while the process serves requests, also while the "
            "worker rebalances or restores its tables (which a restart would only begin again)",
            "responses": {"200": _answer("alive", Liveness)},
        },
        scope=None,
        name="livez",
        tag="operations",
    ),
    Route(
        "GET",
        "/readyz",
        {
            "summary": "Readiness, for a readiness probe: whether the worker answers for its users now",
            "responses": {"200": _answer("ready", Readiness), "503": _not_ready(Readiness)},
        },
        scope=None,
        name="readyz",
        tag="operations",
    ),
    Route(
        "GET",
        "/health",
        {
            "summary": "Liveness, readiness and the worker's counters, for people",
            "responses": {"200": _answer("ready", Health), "503": _not_ready(Health)},
        },
        scope=None,
        name="health",
        tag="operations",
    ),
    Route(
        "GET",
        "/metrics",
        {"summary": "Prometheus text format", "responses": {"200": {"description": "metrics"}}},
        scope=None,
        name="metrics",
        tag="operations",
    ),
    Route(
        "GET",
        "/openapi.json",
        {"summary": "This document", "responses": {"200": {"description": "the OpenAPI document"}}},
        scope=None,
        name="openapi",
        tag="operations",
    ),
)

#: Paths anyone who reaches the port may read: liveness, metrics and the API's description.
PUBLIC_PATHS = tuple(route.path for route in ROUTES if route.public)


#: The document's groups of operations.
TAGS = {
    "users": "a user's list, explanations and stored ratings, and forgetting them",
    "items": "the catalogue and the item statistics",
    "operations": "probes, metrics and this document",
}
#: A bearer token per scope (OpenAPI gives scopes to OAuth only, so each scope is its own scheme).
SECURITY_SCHEMES = {
    READ: {"type": "http", "scheme": "bearer", "description": "the read token (WNNREC_API_TOKEN)"},
    ERASE: {"type": "http", "scheme": "bearer", "description": "the erase token (WNNREC_API_ERASE_TOKEN)"},
}


def openapi_document(version: str) -> dict[str, Any]:
    """The OpenAPI 3.1 description of the API: its paths are :data:`ROUTES`, its response schemas generated from
    :data:`RESPONSE_TYPES`."""
    _, components = msgspec.json.schema_components(RESPONSE_TYPES, ref_template=_REF)
    paths: dict[str, dict[str, Any]] = {}
    for route in ROUTES:
        security: dict[str, Any] = {} if route.scope is None else {"security": [{route.scope: []}]}
        described = {"operationId": route.name, "tags": [route.tag], **route.operation, **security}
        paths.setdefault(route.path, {})[route.method.lower()] = described
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "wnnrec worker API",
            "version": version,
            "description": "Per-user weightless-network recommendations. Every path but "
            + ", ".join(PUBLIC_PATHS)
            + " needs `Authorization: Bearer <token>`: the read token to read, the erase token to forget ratings or "
            "erase users; any worker answers for every user.",
        },
        "tags": [{"name": tag, "description": text} for tag, text in TAGS.items()],
        "components": {"securitySchemes": SECURITY_SCHEMES, "schemas": components},
        "paths": paths,
    }
