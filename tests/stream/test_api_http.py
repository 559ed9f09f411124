"""The HTTP API over real HTTP, on workers fed through a real broker: tokens, errors, a forget through DELETE, and
requests routed to the worker that owns the user."""

from __future__ import annotations

import dataclasses
import json
import re
import time
import urllib.error
import urllib.request

import jsonschema
import pytest
from kafka.partitioner.default import murmur2

from stream.api_contract import ROUTES, openapi_document
from tests.stream.test_integration import Deployment, covered
from wnnrec.deployment import start_worker, stop_worker
from wnnrec.replay import replay

pytestmark = [pytest.mark.broker, pytest.mark.data]

N_REPLAY = 600


DOCUMENT = openapi_document("test")


def conform(path: str, method: str, status: int, body: dict, media: str) -> None:
    """Check an answer against the response schema the OpenAPI document gives its path, method and status."""
    route = path.split("?")[0]
    operations = DOCUMENT["paths"].get(route) or next(
        (
            ops
            for template, ops in DOCUMENT["paths"].items()
            if re.fullmatch(re.sub(r"\{[^/]+\}", "[^/]+", template), route)
        ),
        None,
    )
    assert operations is not None, f"{path} is not in the OpenAPI document"
    answer = operations[method.lower()]["responses"][str(status)]
    schema = {"$ref": answer["content"][media]["schema"]["$ref"], "components": DOCUMENT["components"]}
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(body))
    assert not errors, f"{method} {path} -> {status}: {errors[0].message} in {str(body)[:300]}"


def call(port: int, path: str, token: str | None, method: str = "GET") -> tuple[int, dict | str]:
    """One request; every JSON answer but the document itself must match the OpenAPI document (:func:`conform`)."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            status, body, kind = response.status, response.read(), response.headers.get_content_type()
    except urllib.error.HTTPError as error:
        status, body, kind = error.code, error.read(), error.headers.get_content_type()
    if kind not in ("application/json", "application/problem+json") or method == "HEAD":
        return status, body.decode()
    doc = json.loads(body)
    if path.split("?")[0] not in ("/readyz", "/health"):  # the probes' 503 carries their own body
        assert (kind == "application/problem+json") == (status >= 400), (path, status, kind)  # errors: RFC 9457
    if path != "/openapi.json":
        conform(path, method, status, doc, kind)
    return status, doc


@pytest.fixture(scope="module")
def served(kafka_bootstrap, movielens, tmp_path_factory):
    """One worker that has learned the first 600 MovieLens ratings."""
    deployment = Deployment(kafka_bootstrap, tmp_path_factory.mktemp("api"), "api", web_port=6171, catalogue=movielens)
    try:
        deployment.start()
        replay(deployment.settings, movielens, limit=N_REPLAY, progress=False)
        deployment.wait_for(
            lambda docs: {e for e, _ in covered(docs)} >= set(range(N_REPLAY)), what="lists covering 600 ratings"
        )
        yield deployment
    finally:
        deployment.close()


def busiest_user(movielens) -> str:
    users = movielens.users[:N_REPLAY]
    return movielens.user_ids[int(max(set(users.tolist()), key=users.tolist().count))]


def test_every_route_but_the_public_ones_needs_the_token_and_faust_views_are_not_served(served, movielens):
    port, user = served.settings.web_port, busiest_user(movielens)
    token = served.settings.resolved_api_token()
    values = {"user": user, "event_id": "1", "item": "1"}
    for route in ROUTES:
        path = route.path.format(**values) + ("?item=1" if route.path.endswith("/explain") else "")
        if route.public:
            assert call(port, path, None, route.method)[0] == 200, path
            continue
        status, body = call(port, path, None, route.method)
        assert status == 401 and "token" in body["detail"] and body["status"] == 401, path
        assert call(port, path, "a-wrong-token-of-some-length", route.method)[0] == 401, path
        other = served.settings.api_erase_token if route.scope == "read" else token
        assert call(port, path, other, route.method)[0] == 403, path  # a token of the other scope
        # HEAD runs the view's GET, guarded the same way (405 where the route has no GET)
        assert call(port, path, None, "HEAD")[0] == (401 if route.method == "GET" else 405), path
    # faust's own views (a table's keys, the cluster's layout, statistics) are not there, token or not.
    for path in ("/", "/table/", "/table/user-wnn/", f"/table/user-wnn/{user}/", "/router/", "/stats/", "/graph/"):
        assert call(port, path, None)[0] == 404, path
        assert call(port, path, token)[0] == 404, path
    status, text = call(port, "/metrics", None)
    assert (
        status == 200
        and "wnnrec_ratings_total" in text
        and 'wnnrec_stage_seconds_bucket{le="0.001",stage="learn"}' in text
    )
    # What only /health showed, the process, the build and the online error are metrics too.
    for name in (
        "wnnrec_ready 1.0",
        "wnnrec_delivery_failures_total 0.0",
        "wnnrec_stalls_read_again_total",
        "wnnrec_offset_holes_read_again_total",
        "wnnrec_absolute_error_total",
        "wnnrec_online_mae",
        "wnnrec_build_info{version=",
        "process_resident_memory_bytes",
    ):
        assert name in text, name
    assert call(port, "/openapi.json", None)[1]["openapi"].startswith("3.")


def test_every_metric_the_dashboard_queries_exists(served):
    """deploy/grafana/wnnrec.json against a live worker's /metrics: a queried ``_total``/``_bucket`` name counts
    as its family's, and a labelled family with no samples yet (no dead letters so far) still declares itself."""
    import re
    from pathlib import Path

    dashboard = json.loads((Path(__file__).parents[2] / "deploy" / "grafana" / "wnnrec.json").read_text())
    queried = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"\bwnnrec_[a-z_]+", target["expr"])
    }
    status, text = call(served.settings.web_port, "/metrics", None)
    assert status == 200
    declared = set(re.findall(r"^# TYPE (wnnrec_[a-z_]+) ", text, flags=re.M))
    sampled = set(re.findall(r"^(wnnrec_[a-z_]+)[{ ]", text, flags=re.M))

    def exists(name: str) -> bool:
        family = re.sub(r"_(total|bucket|sum|count)$", "", name)
        return name in sampled or family in declared or name in declared

    assert len(queried) >= 10
    assert {name for name in queried if not exists(name)} == set()
    assert "wnnrec_input_age_seconds_bucket" in sampled  # the send-to-list latency, observed by the 600 ratings


def test_recommendations_ratings_and_errors(served, movielens):
    port, token, user = served.settings.web_port, served.settings.api_token, busiest_user(movielens)
    status, body = call(port, f"/users/{user}/recommendations", token)
    assert status == 200 and len(body["items"]) == 10 and all(item["title"] for item in body["items"])
    longer = call(port, f"/users/{user}/recommendations?k=25", token)[1]["items"]
    assert len(longer) == 25 and [i["item"] for i in longer[:10]] == [i["item"] for i in body["items"]]
    assert [call(port, f"/users/{user}/recommendations?k={k}", token)[0] for k in (0, 101, "x")] == [400] * 3
    everything = call(port, f"/users/{user}/ratings?limit=1000", token)[1]
    assert everything["next_after"] is None and len(everything["ratings"]) > 3
    pages, after = [], None
    while True:
        page = call(port, f"/users/{user}/ratings?limit=2" + (f"&after={after}" if after else ""), token)[1]
        pages += page["ratings"]
        after = page["next_after"]
        if after is None:
            break
    assert pages == everything["ratings"]
    assert call(port, f"/users/{user}/ratings?limit=1001", token)[0] == 400
    rated = {p["item"] for p in call(port, f"/users/{user}/ratings", token)[1]["ratings"]}
    assert rated and not rated & {item["item"] for item in body["items"]}
    assert call(port, "/users/nobody-here/recommendations", token)[0] == 404
    assert call(port, "/users/" + "x" * 300 + "/ratings", token)[0] == 400
    erase = served.settings.api_erase_token
    assert call(port, f"/users/{user}/ratings/not-a-number", erase, method="DELETE")[0] == 400
    assert call(port, f"/users/{user}/ratings/999999999", erase, method="DELETE")[0] == 404
    assert call(port, f"/users/{user}/explain", token)[0] == 400
    assert call(port, f"/users/{user}/explain?item=no-such-item", token)[0] == 404
    health = call(port, "/health", None)[1]
    assert health["ready"] and health["live"] and health["events_total"] >= N_REPLAY
    assert call(port, "/livez", None) == (200, {"live": True})
    assert call(port, "/readyz", None) == (200, {"ready": True, "rebalancing": False, "recovering": False})


def test_every_answer_matches_the_generated_openapi_document(served, movielens):
    """/openapi.json is generated from the response Structs (stream/api_contract.py) and is a valid OpenAPI 3.1
    document; every answer of this module's tests is checked against it (call), the catalogue's here."""
    from openapi_spec_validator import validate

    port, token, user = served.settings.web_port, served.settings.api_token, busiest_user(movielens)
    status, served_document = call(port, "/openapi.json", None)
    assert status == 200 and served_document == json.loads(json.dumps(DOCUMENT | {"info": served_document["info"]}))
    validate(served_document)
    assert call(port, "/items/242", token)[1]["description"]["genres"] == ["Comedy"]
    assert call(port, "/items/no-such-item", token)[0] == 404
    assert call(port, "/item-stats", token)[1]["items"]
    item = call(port, f"/users/{user}/recommendations", token)[1]["items"][0]["item"]
    assert call(port, f"/users/{user}/explain?item={item}", token)[1]["genres"]


def test_a_forget_through_delete_removes_the_rating_from_the_explanation(served, movielens):
    port, token, user = served.settings.web_port, served.settings.api_token, busiest_user(movielens)
    ratings = call(port, f"/users/{user}/ratings", token)[1]["ratings"]
    # An item the user did not rate, explained by the stored ratings: pick the rating it cites first.
    candidates = call(port, f"/users/{user}/recommendations", token)[1]["items"]
    assert all(
        set(c["why"])
        >= {"popularity", "sequence", "followed", "affinity", "rating", "like", "predicted_rating", "like_probability"}
        for c in candidates
    )
    explained = call(port, f"/users/{user}/explain?item={candidates[0]['item']}", token)[1]
    assert explained["because"] and explained["ratings"], explained
    assert explained["in_list"] and explained["position"] == 0 and explained["why_listed"][0].startswith("It is 1st")
    victim = explained["ratings"][0]["event_id"]
    assert victim in {p["event_id"] for p in ratings}
    erase = served.settings.api_erase_token
    assert call(port, f"/users/{user}/ratings/{victim}", token, method="DELETE")[0] == 403  # the read token
    status, accepted = call(port, f"/users/{user}/ratings/{victim}", erase, method="DELETE")
    assert status == 202 and accepted["event_ids"] == [victim]
    assert accepted["topic"] == served.settings.ratings_topic and accepted["offset"] >= 0
    deadline = time.monotonic() + 60
    while victim in {p["event_id"] for p in call(port, f"/users/{user}/ratings", token)[1]["ratings"]}:
        assert time.monotonic() < deadline, "the forget never reached the model"
        time.sleep(0.5)
    after = call(port, f"/users/{user}/explain?item={candidates[0]['item']}", token)[1]
    assert victim not in {r["event_id"] for r in after["ratings"]}
    assert not any(f"(event {victim})" in line for line in after["because"])


def test_a_user_erased_through_delete_reads_as_unknown_and_a_replay_does_not_bring_them_back(served, movielens):
    port, token, erase = served.settings.web_port, served.settings.api_token, served.settings.api_erase_token
    users = movielens.users[:N_REPLAY].tolist()
    user = movielens.user_ids[sorted(set(users), key=users.count)[-2]]  # the busiest one is the other tests'
    stored = {r["event_id"] for r in call(port, f"/users/{user}/ratings?limit=1000", token)[1]["ratings"]}
    assert len(stored) > 5
    assert call(port, f"/users/{user}", token, method="DELETE")[0] == 403  # the read token does not erase
    status, accepted = call(port, f"/users/{user}", erase, method="DELETE")
    assert status == 202 and set(accepted["event_ids"]) == stored
    deadline = time.monotonic() + 60
    while call(port, f"/users/{user}/ratings", token)[0] != 404:
        assert time.monotonic() < deadline, "the erasure never reached the model"
        time.sleep(0.5)
    assert call(port, f"/users/{user}/recommendations", token)[0] == 404
    assert call(port, f"/users/{user}", erase, method="DELETE")[0] == 404
    erased = [d for d in served.lists() if d["user"] == user and d["n_ratings"] == 0]
    assert {e for e, _ in covered(erased, "forget")} == stored
    replay(served.settings, movielens, limit=N_REPLAY, progress=False)  # the same ratings, the same event ids
    served.wait_for(
        lambda docs: (
            {e["event_id"] for d in docs if d["user"] == user for e in d["events"] if e.get("duplicate")} >= stored
        ),
        what="the replayed ratings of the erased user, as duplicates",
    )
    assert call(port, f"/users/{user}/ratings", token)[0] == 404


def test_a_request_to_either_worker_is_answered_by_the_owner_of_the_user(kafka_bootstrap, movielens, tmp_path):
    first = Deployment(kafka_bootstrap, tmp_path, "route", web_port=6173, catalogue=movielens)
    second = None
    try:
        first.start()
        second_settings = dataclasses.replace(
            first.settings, web_port=6174, state_dir=first.settings.state_dir.with_name("second")
        )
        second = start_worker(second_settings, str(tmp_path / "second.log"))
        replay(first.settings, movielens, limit=N_REPLAY, progress=False)
        first.wait_for(
            lambda docs: {e for e, _ in covered(docs)} >= set(range(N_REPLAY)),
            timeout=180,
            what="lists covering 600 ratings",
        )
        token = first.settings.api_token
        deadline = time.monotonic() + 60
        while True:  # both workers own partitions once the group has settled
            try:
                health = [call(port, "/health", None)[1] for port in (6173, 6174)]
            except urllib.error.URLError:  # the second worker's server is not up yet
                health = [{}, {}]
            owned = [h.get("owned_partitions") for h in health]
            if all(owned) and not set(owned[0]) & set(owned[1]) and all(h.get("ready") for h in health):
                break
            assert time.monotonic() < deadline, f"the two workers never split the partitions: {owned}"
            time.sleep(1)
        users = sorted({movielens.user_ids[u] for u in movielens.users[:N_REPLAY].tolist()})[:20]
        assert {(murmur2(user.encode()) & 0x7FFFFFFF) % 2 for user in users} == {0, 1}  # both workers are asked
        for user in users:
            here, there = call(6173, f"/users/{user}/ratings", token), call(6174, f"/users/{user}/ratings", token)
            assert here[0] == there[0] == 200 and here[1] == there[1]
    finally:
        if second is not None:
            stop_worker(second)
        first.close()
