"""The worker's HTTP API: a user's list, the reasons behind a score, their ratings, and forgetting one.

The small functions here (token check, id parsing, the bodies of the answers, the explanation in words) hold the
API's logic and are tested on their own; :mod:`stream.worker.views` serves them as faust web views. Every path but
the probes (``/livez``, ``/readyz``, ``/health``), ``/metrics`` and ``/openapi.json`` needs ``Authorization: Bearer
<token>`` (the worker refuses to start without a token unless told ``--insecure-no-auth``).
"""

from __future__ import annotations

import dataclasses
import hmac
import http
import logging
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any

import msgspec
import numpy as np

from stream import api_contract as schema
from stream.api_contract import ERASE, READ
from stream.contracts import ItemRecord, ScoreTerms
from stream.messages import score_parts
from wnn.item_space import ItemSpace
from wnn.network import Explanation
from wnn.validation import InvalidEvent, check_event_id, check_id

log = logging.getLogger(__name__)


class ApiError(Exception):
    """A request the API refuses: the HTTP status and a message for the caller."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclasses.dataclass(frozen=True)
class ApiTokens:
    """The API's bearer tokens by scope: ``read`` for the routes that read, ``erase`` for the DELETE routes (None:
    no request may erase). A read token does not erase and an erase token does not read, so a client that shows
    lists cannot delete anyone's ratings. Without a read token (``--insecure-no-auth``) every route is open.

    >>> tokens = ApiTokens(read="read-token-0123456", erase="erase-token-0123456")
    >>> tokens.refusal("Bearer read-token-0123456", READ), tokens.refusal("Bearer read-token-0123456", ERASE)[0]
    (None, 403)
    >>> tokens.refusal(None, READ)[0], tokens
    (401, ApiTokens(read=..., erase=...))
    """

    read: str | None = dataclasses.field(repr=False)
    erase: str | None = dataclasses.field(default=None, repr=False)

    def __repr__(self) -> str:
        return "ApiTokens(read=..., erase=...)"

    def refusal(self, header: str | None, scope: str) -> tuple[int, str] | None:
        """Why a request with this ``Authorization`` header may not use a route of ``scope``: ``(401, reason)``
        without a valid token, ``(403, reason)`` with a token of the other scope; None if it may."""
        if self.read is None:
            return None
        wanted = self.read if scope == READ else self.erase
        if wanted is not None and bearer_matches(header, wanted):
            return None
        other = self.erase if scope == READ else self.read
        if other is not None and bearer_matches(header, other):
            if scope == ERASE and self.erase is None:
                return 403, "forgetting needs the erase token, and this worker has none (WNNREC_API_ERASE_TOKEN)"
            return 403, f"this token's scope does not include {scope} (the {scope} routes need the {scope} token)"
        return 401, "missing or wrong bearer token"


def bearer_matches(header: str | None, token: str | None) -> bool:
    """Whether an ``Authorization`` header carries ``token`` (always True when the API runs without one).

    >>> bearer_matches("Bearer s3cret-token-0123", "s3cret-token-0123"), bearer_matches(None, "s3cret-token-0123")
    (True, False)
    """
    if token is None:
        return True
    if not header:
        return False
    scheme, _, presented = header.partition(" ")
    # compare_digest: the time taken must not tell how much of a guess was right.
    return scheme.lower() == "bearer" and hmac.compare_digest(presented.strip().encode(), token.encode())


def parse_user(text: str, field: str = "user") -> str:
    """A user (or item) id from a path, as the topics key it; :class:`ApiError` 400 if it could never be one.

    >>> parse_user("196")
    '196'
    """
    if not text or any(ord(ch) < 32 for ch in text):
        raise ApiError(400, f"malformed {field} id: empty or with control characters")
    try:
        check_id(text, field)
    except InvalidEvent as exc:
        raise ApiError(400, f"malformed {field} id: {exc}") from None
    return text


def parse_item_id(text: str) -> str:
    """An item id from a path; :class:`ApiError` 400 if it could never be one."""
    return parse_user(text, "item")


def parse_count(text: str | None, name: str, default: int, high: int) -> int:
    """A count from a query parameter (``?k=``, ``?limit=``), ``default`` when absent; :class:`ApiError` 400 unless
    an integer in 1 .. ``high``.

    >>> parse_count(None, "k", 10, 100), parse_count("25", "k", 10, 100)
    (10, 25)
    """
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= high:
        raise ApiError(400, f"?{name}= must be an integer from 1 to {high}, got {text[:40]!r}")
    return value


def parse_event_id(text: str) -> int:
    """An event id from a path; :class:`ApiError` 400 if it is not a 64-bit integer.

    >>> parse_event_id("42")
    42
    """
    try:
        return check_event_id(int(text))
    except (ValueError, InvalidEvent):
        raise ApiError(400, f"malformed event id {text[:40]!r}: expected a 64-bit integer") from None


def ratings_page(user: str, pairs: Sequence[Mapping[str, Any]], limit: int, after: int | None = None) -> schema.Ratings:
    """A page of a user's stored ratings, oldest first as :meth:`wnn.network.UserWNN.pairs` lists them: at most
    ``limit`` of those after the one with event id ``after`` (if that one was forgotten since, from the first with a
    higher id), and the ``next_after`` of the page that follows (None on the last).

    >>> pairs = [{"event_id": e, "item": "i", "rating": 4.0, "ts": 0} for e in (3, 5, 9)]
    >>> page = ratings_page("u", pairs, 2)
    >>> [r.event_id for r in page.ratings], page.next_after, ratings_page("u", pairs, 2, 5).next_after
    ([3, 5], 5, None)
    """
    ids = [pair["event_id"] for pair in pairs]
    if after is None:
        start = 0
    elif after in ids:
        start = ids.index(after) + 1
    else:
        start = next((k for k, event_id in enumerate(ids) if event_id > after), len(ids))
    rest = pairs[start:]
    page = [{**pair, "item": str(pair["item"])} for pair in rest[:limit]]
    next_after = page[-1]["event_id"] if len(rest) > limit else None
    return schema.Ratings(user, msgspec.convert(page, list[schema.StoredRating]), next_after)


def recommendation_body(
    user: str,
    items: list[Hashable],
    scores: list[float],
    titles: Mapping[str, str],
    n_ratings: int,
    explained: list[dict[str, Any]] | None = None,
) -> schema.Recommendations:
    """The answer of ``GET /users/{user}/recommendations``; with ``explained`` (one entry per item), each item's score
    split into its terms under ``why``."""
    whys: list[ScoreTerms | None] = [score_terms(entry, titles) for entry in explained or []]
    whys += [None] * (len(items) - len(whys))
    return schema.Recommendations(
        user=user,
        n_ratings=n_ratings,
        items=[
            schema.RecommendedItem(str(item), round(float(score), 4), titles.get(str(item)), why)
            for item, score, why in zip(items, scores, whys)
        ],
    )


def score_terms(entry: Mapping[str, Any], titles: Mapping[str, str]) -> ScoreTerms:
    """A listed item's score terms, with the titles of the items it followed (:func:`stream.messages.score_parts`)."""
    return score_parts(entry, titles)


def ordinal(n: int) -> str:
    """``n`` as an English ordinal.

    >>> [ordinal(n) for n in (1, 2, 3, 4, 11, 22)]
    ['1st', '2nd', '3rd', '4th', '11th', '22nd']
    """
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def list_reasons(
    entry: Mapping[str, Any], position: int | None, list_length: int, title_of: Callable[[Hashable], str]
) -> list[str]:
    """Why an item is in the user's list, or is not, in sentences, from its score terms (:func:`score_parts`).

    >>> entry = {"popularity": 2.1, "sequence": 0.8, "affinity": 0.3, "rating": 2.05, "like": 1.4,
    ...          "predicted_rating": 4.1, "like_probability": 0.7, "followed": [{"item": "50"}]}
    >>> list_reasons(entry, 0, 10, lambda i: f"film {i}")[:2]
    ['It is 1st in your list of 10.', 'Many people rated it lately (2.10 of its score).']
    """
    name_of = title_of
    sentences = [
        f"It is {ordinal(position + 1)} in your list of {list_length}."
        if position is not None
        else f"It is not in your list of {list_length}: other items score higher."
    ]
    sentences.append(
        f"{'Many' if entry['popularity'] >= 1.5 else 'Few'} people rated it lately "
        f"({entry['popularity']:.2f} of its score)."
    )
    if entry["followed"]:
        names = ", ".join(name_of(f["item"]) for f in entry["followed"])
        sentences.append(f"People who rated {names} often rated it next ({entry['sequence']:.2f}).")
    if entry["affinity"] > 0:
        sentences.append(f"It shares neurons with the films you rated ({entry['affinity']:.2f}).")
    sentences.append(
        f"We expect you to give it {entry['predicted_rating']:.1f} stars ({entry['rating']:.2f}) and "
        f"to like it with probability {entry['like_probability']:.0%} ({entry['like']:.2f})."
    )
    return sentences


def explanation_body(
    user: str,
    explanation: Explanation,
    title_of: Callable[[Hashable], str],
    listed: tuple[dict[str, Any], int | None, int] | None = None,
    description: ItemRecord | None = None,
) -> schema.Explanation:
    """``GET /users/{user}/explain?item=``: why the item is (or is not) in the user's list, and the numbers behind its
    predicted rating, both in words.

    ``listed`` is the item's score terms (:func:`wnn.ranking.explain_items`), its position in the user's list (None
    if not in it) and the list's length: ``why_listed`` says in sentences what put it there, ``score`` gives the
    terms. The predicted rating is the item's global baseline, plus the user's own bias, plus the pull of the stored
    ratings whose neurons the item shares; ``because`` says which of those ratings pulled most, and how.
    ``genres``, ``year`` and ``attributes`` are the item's description from the catalogue (empty or None without
    one): the content bits the network reads.
    """
    prediction = explanation.prediction
    name = title_of(explanation.item)
    because = [
        f"Everyone's ratings put {name} at {explanation.baseline:.2f} stars.",
        (
            f"You rate {abs(explanation.user_bias):.2f} stars {'above' if explanation.user_bias >= 0 else 'below'} "
            "what others give the films you rated."
            if explanation.pairs or explanation.user_bias
            else "You have no ratings yet, so nothing of yours moves it."
        ),
    ]
    for pair in explanation.pairs:
        direction = "up" if pair["pull"] >= 0 else "down"
        because.append(
            f"Your {pair['rating']:g}-star rating of {title_of(pair['item'])} (event {pair['event_id']}) "
            f"pulls it {direction} by {abs(pair['pull']):.2f}: it shares {pair['shared_neurons']} "
            "neurons with this item."
        )
    ranked: dict[str, Any] = {}
    if listed is not None:
        entry, position, list_length = listed
        ranked = {
            "in_list": position is not None,
            "position": position,
            "why_listed": list_reasons(entry, position, list_length, title_of),
            "score": schema.ListedScore(
                **msgspec.structs.asdict(score_parts(entry, {})), total=round(entry["score"], 4)
            ),
        }
    return schema.Explanation(
        user=user,
        item=str(explanation.item),
        title=name,
        predicted_rating=round(prediction.rating, 3),
        like_probability=round(prediction.like_probability, 3),
        summary=(
            f"Predicted {prediction.rating:.1f} stars for {name}, "
            f"{'a likely like' if prediction.like_probability >= 0.5 else 'probably not a like'} "
            f"({prediction.like_probability:.0%})."
        ),
        because=because,
        baseline=round(explanation.baseline, 4),
        user_bias=round(explanation.user_bias, 4),
        genres=list(description.genres) if description else [],
        year=description.year if description else None,
        attributes=dict(description.attributes) if description else {},
        ratings=msgspec.convert(
            [{**pair, "item": str(pair["item"]), "pull": round(pair["pull"], 4)} for pair in explanation.pairs],
            list[schema.PullingRating],
        ),
        neurons=msgspec.convert(explanation.neurons, list[schema.NeuronCell]),
        **ranked,
    )


def item_body(item: str, space: ItemSpace, descriptions: Mapping[str, ItemRecord]) -> schema.Item | None:
    """``GET /items/{item}``: the item's description from the catalogue and what the worker knows of it, or None for
    an item neither described nor rated.

    ``description`` is the latest ``items`` message (None if the item was never described or was withdrawn);
    ``listable`` whether lists may show it (described or rated, and not withdrawn); ``ratings`` and
    ``mean_rating`` its live statistics; ``baseline`` the global prediction every user's starts from;
    ``category_slots`` the category bits its genres and attributes set (an unseen string is hashed onto one).
    """
    index = space.find(item)
    record = descriptions.get(item)
    if index is None and record is None:
        return None
    if index is None:
        return schema.Item(item, record, False, False, 0, None, None, [])
    count = int(space.counts[index])
    return schema.Item(
        item=item,
        description=record,
        withdrawn=bool(space.withdrawn[index]),
        listable=bool(space.listable(np.array([index]))[0]),
        ratings=count,
        mean_rating=round(float(space.sums[index]) / count, 4) if count else None,
        baseline=round(space.baseline(index), 4),
        category_slots=np.flatnonzero(space.item_bits(index)["genres"]).tolist(),
    )


def answer(web: Any, body: msgspec.Struct, status: int = 200, headers: Mapping[str, str] | None = None) -> Any:
    """A view's response: ``body`` encoded by msgspec (faust's ``json`` does not know Structs)."""
    media = schema.PROBLEM_JSON if isinstance(body, schema.Problem) else "application/json"
    return web.bytes(msgspec.json.encode(body), content_type=media, status=status, headers=dict(headers or {}))


def problem(status: int, detail: str) -> schema.Problem:
    """The RFC 9457 problem detail of an error answer.

    >>> problem(404, "unknown user 'x'")
    Problem(title='Not Found', status=404, detail="unknown user 'x'", type='about:blank')
    """
    return schema.Problem(title=http.HTTPStatus(status).phrase, status=status, detail=detail)
