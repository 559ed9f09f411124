"""The API's own logic, without a server: tokens, ids, the explanation in words, the OpenAPI document."""

import pytest

from stream.api import ApiError, bearer_matches, explanation_body, openapi_document, parse_event_id, parse_user
from tests.conftest import make_space
from wnn.network import UserWNN, learn_many

TOKEN = "a-token-of-24-characters"


@pytest.mark.parametrize("header, ok", [
    (f"Bearer {TOKEN}", True), (f"bearer  {TOKEN} ", True), (None, False), ("", False), (TOKEN, False),
    (f"Basic {TOKEN}", False), (f"Bearer {TOKEN[:-1]}", False), (f"Bearer {TOKEN}x", False),
])
def test_only_the_exact_bearer_token_passes(header, ok):
    assert bearer_matches(header, TOKEN) is ok


def test_without_a_token_every_request_passes():
    assert bearer_matches(None, None)


@pytest.mark.parametrize("text", ["", "a\nb", "x" * 300])
def test_malformed_user_ids_are_400(text):
    with pytest.raises(ApiError) as error:
        parse_user(text)
    assert error.value.status == 400 and "malformed user id" in error.value.message


@pytest.mark.parametrize("text", ["abc", "1.5", str(2 ** 70)])
def test_malformed_event_ids_are_400(text):
    with pytest.raises(ApiError) as error:
        parse_event_id(text)
    assert error.value.status == 400


def test_the_explanation_names_the_ratings_that_pull_in_words():
    user = learn_many(UserWNN(make_space()), [(0, 1.0, t, 100 + t) for t in range(4)])
    titles = {0: "Toy Story", 6: "Heat"}
    body = explanation_body("u1", user.explain(6), lambda item: titles.get(item, f"item {item}"))
    assert body["item"] == "6" and body["title"] == "Heat" and body["predicted_rating"] < 3.5
    assert body["summary"].startswith("Predicted") and "Heat" in body["summary"]
    cited = [line for line in body["because"] if "Toy Story" in line]
    assert cited and "pulls it down" in cited[0] and "neurons" in cited[0]
    assert {r["event_id"] for r in body["ratings"]} == {100, 101, 102, 103}


def test_the_openapi_document_lists_every_path_and_the_bearer_scheme():
    document = openapi_document("1.2.3")
    assert document["openapi"].startswith("3.") and document["info"]["version"] == "1.2.3"
    assert {"/users/{id}/recommendations", "/users/{id}/explain", "/users/{id}/ratings",
            "/users/{id}/ratings/{event_id}", "/users/{id}/items/{item}", "/health", "/metrics"} <= set(
        document["paths"])
    assert document["paths"]["/users/{id}/ratings/{event_id}"]["delete"]["security"] == [{"bearer": []}]
