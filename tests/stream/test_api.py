"""The API's own logic, without a server: tokens, ids, the explanation in words, the OpenAPI document."""

import re

import msgspec
import pytest

from stream.api import (
    ApiError,
    ApiTokens,
    bearer_matches,
    explanation_body,
    parse_count,
    parse_event_id,
    parse_user,
    ratings_page,
    recommendation_body,
)
from stream.api_contract import ERASE, READ, ROUTES, openapi_document
from tests.conftest import learn_many, make_space
from wnn.network import UserWNN

TOKEN = "a-token-of-24-characters"


def wire(body: msgspec.Struct) -> dict:
    """An answer as the client reads it."""
    return msgspec.json.decode(msgspec.json.encode(body))


@pytest.mark.parametrize(
    "header, ok",
    [
        (f"Bearer {TOKEN}", True),
        (f"bearer  {TOKEN} ", True),
        (None, False),
        ("", False),
        (TOKEN, False),
        (f"Basic {TOKEN}", False),
        (f"Bearer {TOKEN[:-1]}", False),
        (f"Bearer {TOKEN}x", False),
    ],
)
def test_only_the_exact_bearer_token_passes(header, ok):
    assert bearer_matches(header, TOKEN) is ok


def test_without_a_token_every_request_passes():
    assert bearer_matches(None, None)


ERASE_TOKEN = "an-erase-token-of-24-chars"


@pytest.mark.parametrize(
    "header, scope, refused",
    [
        (f"Bearer {TOKEN}", READ, None),
        (f"Bearer {ERASE_TOKEN}", ERASE, None),
        (f"Bearer {TOKEN}", ERASE, 403),  # reading lists does not grant deleting data
        (f"Bearer {ERASE_TOKEN}", READ, 403),  # nor the other way round
        (None, READ, 401),
        (None, ERASE, 401),
        (f"Bearer {TOKEN}x", ERASE, 401),
        (f"Basic {ERASE_TOKEN}", ERASE, 401),
    ],
)
def test_each_scope_takes_its_own_token_only(header, scope, refused):
    refusal = ApiTokens(TOKEN, ERASE_TOKEN).refusal(header, scope)
    assert (refusal and refusal[0]) == refused


def test_without_an_erase_token_nothing_erases_and_the_answer_says_what_to_set():
    tokens = ApiTokens(TOKEN, None)
    assert tokens.refusal(f"Bearer {TOKEN}", READ) is None
    status, reason = tokens.refusal(f"Bearer {TOKEN}", ERASE)
    assert status == 403 and "WNNREC_API_ERASE_TOKEN" in reason
    assert tokens.refusal(None, ERASE)[0] == 401


def test_without_authentication_every_scope_is_open():
    assert ApiTokens(None, None).refusal(None, ERASE) is None and ApiTokens(None, None).refusal(None, READ) is None


def test_the_tokens_never_show_in_repr():
    text = repr(ApiTokens(TOKEN, ERASE_TOKEN)) + str(ApiTokens(TOKEN, ERASE_TOKEN))
    assert TOKEN not in text and ERASE_TOKEN not in text


@pytest.mark.parametrize("text", ["", "a\nb", "x" * 300])
def test_malformed_user_ids_are_400(text):
    with pytest.raises(ApiError) as error:
        parse_user(text)
    assert error.value.status == 400 and "malformed user id" in error.value.message


@pytest.mark.parametrize("text", ["abc", "1.5", str(2**70)])
def test_malformed_event_ids_are_400(text):
    with pytest.raises(ApiError) as error:
        parse_event_id(text)
    assert error.value.status == 400


def test_the_explanation_names_the_ratings_that_pull_in_words():
    user = learn_many(UserWNN(make_space()), [(0, 1.0, t, 100 + t) for t in range(4)])
    titles = {0: "Toy Story", 6: "Heat"}
    body = wire(explanation_body("u1", user.explain(6), lambda item: titles.get(item, f"item {item}")))
    assert body["item"] == "6" and body["title"] == "Heat" and body["predicted_rating"] < 3.5
    assert body["summary"].startswith("Predicted") and "Heat" in body["summary"]
    cited = [line for line in body["because"] if "Toy Story" in line]
    assert cited and "pulls it down" in cited[0] and "neurons" in cited[0]
    assert {r["event_id"] for r in body["ratings"]} == {100, 101, 102, 103}
    assert not {"in_list", "position", "why_listed", "score"} & body.keys()  # not ranked: left out


def test_a_list_explains_each_item_with_terms_that_sum_to_its_score():
    space = make_space()
    user = learn_many(UserWNN(space), [(0, 5.0, 0, 1), (1, 4.0, 60, 2)])
    space.next_items.add(1, 6)
    items, scores = user.score(k=4, use_candidates=False)
    body = wire(
        recommendation_body("u1", items, scores.tolist(), {"6": "Heat"}, user.n_pairs, user.explain_list(items))
    )
    for listed in body["items"]:
        why = listed["why"]
        total = sum(why[term] for term in ("popularity", "sequence", "affinity", "rating", "like"))
        assert total == pytest.approx(listed["score"], abs=1e-3)
        assert 1 <= why["predicted_rating"] <= 5 and 0 <= why["like_probability"] <= 1
    heat = next(listed for listed in body["items"] if listed["item"] == "6")
    assert heat["why"]["followed"] == [{"item": "1"}] and heat["title"] == "Heat"


def test_explain_says_why_an_item_is_in_the_list_or_not():
    space = make_space()
    user = learn_many(UserWNN(space), [(0, 5.0, 0, 1), (1, 4.0, 60, 2)])
    space.next_items.add(1, 6)
    titles = {1: "Heat", 6: "Ronin"}
    name = lambda item: titles.get(item, f"item {item}")  # noqa: E731
    items, _ = user.score(k=3, use_candidates=False)
    listed = wire(explanation_body("u1", user.explain(items[0]), name, (user.explain_list([items[0]])[0], 0, 3)))
    assert listed["in_list"] and listed["position"] == 0 and listed["why_listed"][0] == "It is 1st in your list of 3."
    assert any(line.startswith("We expect you to give it") for line in listed["why_listed"])
    outside = next(i for i in range(12) if i not in items and i not in (0, 1))
    body = wire(explanation_body("u1", user.explain(outside), name, (user.explain_list([outside])[0], None, 3)))
    assert not body["in_list"] and body["why_listed"][0].startswith("It is not in your list")
    assert "position" in body and body["position"] is None  # null: ranked, not in the list
    ronin = wire(explanation_body("u1", user.explain(6), name, (user.explain_list([6])[0], None, 3)))
    assert any("People who rated Heat often rated it next" in line for line in ronin["why_listed"])


def test_the_openapi_document_lists_every_path_and_the_bearer_scheme():
    document = openapi_document("1.2.3")
    assert document["openapi"].startswith("3.") and document["info"]["version"] == "1.2.3"
    assert {
        "/users/{user}/recommendations",
        "/users/{user}/explain",
        "/users/{user}/ratings",
        "/users/{user}/ratings/{event_id}",
        "/users/{user}/items/{item}",
        "/health",
        "/metrics",
    } <= set(document["paths"])
    assert document["paths"]["/users/{user}/ratings/{event_id}"]["delete"]["security"] == [{"erase": []}]
    assert document["paths"]["/users/{user}/ratings"]["get"]["security"] == [{"read": []}]
    assert "security" not in document["paths"]["/livez"]["get"]
    assert set(document["components"]["securitySchemes"]) == {"read", "erase"}
    for path, ops in document["paths"].items():
        for operation in ops.values():
            for status, response in operation["responses"].items():
                if int(status) >= 400 and path not in ("/readyz", "/health"):
                    assert list(response["content"]) == ["application/problem+json"], (path, status)
    ids = [op["operationId"] for ops in document["paths"].values() for op in ops.values()]
    assert all(ids) and len(set(ids)) == len(ids)  # every operation named, once
    tags = {tag["name"] for tag in document["tags"]}
    assert all(op["tags"][0] in tags for ops in document["paths"].values() for op in ops.values())
    # The paths are the server's routes, parameters named as the routes name them.
    operations = {(method.upper(), path) for path, ops in document["paths"].items() for method in ops}
    assert operations == {(route.method, route.path) for route in ROUTES}
    for path, ops in document["paths"].items():
        for operation in ops.values():
            named = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert named == set(re.findall(r"\{([^}]+)\}", path)), path


def test_a_ratings_page_continues_where_the_last_ended_even_after_a_forget():
    pairs = [{"event_id": e, "item": i, "rating": 4.0, "ts": 0} for i, e in enumerate((3, 9, 5, 12, 14))]
    first = ratings_page("u", pairs, 2)
    assert [r.event_id for r in first.ratings] == [3, 9] and first.next_after == 9
    second = ratings_page("u", pairs, 2, first.next_after)  # log order, not id order: 5 came after 9
    assert [r.event_id for r in second.ratings] == [5, 12] and second.next_after == 12
    without_12 = [p for p in pairs if p["event_id"] != 12]  # forgotten between two pages
    assert [r.event_id for r in ratings_page("u", without_12, 2, 12).ratings] == [14]
    assert ratings_page("u", pairs, 5).next_after is None and ratings_page("u", [], 5).ratings == []


@pytest.mark.parametrize("text", ["0", "101", "-3", "ten", "2.5"])
def test_a_list_size_outside_1_to_100_is_400(text):
    with pytest.raises(ApiError) as error:
        parse_count(text, "k", 10, 100)
    assert error.value.status == 400 and "?k=" in error.value.message
