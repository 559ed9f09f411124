"""The fault suite (``make test-faults``): crashes, takeovers, a broker outage, poison messages and a forget followed
by a replay, each on a real broker with real worker processes, each ending with the uninterrupted-run check of
:func:`check_against_uninterrupted`: 0 lost, 0 learned twice, 0 resurrected, 0 item-statistics differences.
"""

from __future__ import annotations

import dataclasses
import random
import shutil
import signal
import subprocess
import threading
import time

import pytest

from stream import crash_points
from stream.messages import forget_message, forget_user_message, rating_message
from stream.processor import StreamProcessor
from stream.user_state import UserState
from tests.faults.conftest import DEPLOY, REPORT, broker_is_ours, check_against_uninterrupted, ratings_of, slice_events

pytestmark = [pytest.mark.broker, pytest.mark.data, pytest.mark.faults]

#: Cases whose fault is a consumer-group rebalance (a crash, a takeover): `pytest -m "faults and rebalance"` runs
#: them alone (docs/operating.md, "The fault suite").
rebalance = pytest.mark.rebalance

N = 8000
#: Offered rate while a fault strikes: slow enough that the fault lands mid-stream.
RATE = 1500.0
#: What a restarted or surviving worker must resume within.
RESUME_TARGET_S = 15.0


def uncommitted_at(deployment, committed: dict[int, int]) -> int:
    """Ratings the lists had covered, at the moment ``committed`` was read (right after the kill), whose offsets were
    not committed: what a restart or a takeover redelivers of the dead worker's work (measured, not estimated)."""
    highest: dict[int, int] = {}
    for partition, offset in list(deployment.collector.input_positions.values()):
        highest[partition] = max(highest.get(partition, -1), offset)
    return sum(max(0, highest[p] + 1 - committed.get(p, 0)) for p in highest)


def redelivery_bound(settings, uncommitted: int) -> float:
    """What a crash or a takeover may redeliver: what was covered but not committed when the worker died
    (``uncommitted``, measured), every batch the next generation processed but had not committed when the group
    rebalanced again (the one being processed and up to ``delivery_pipeline_depth`` whose outputs were in flight,
    each at most ``batch_max`` records), what it marked within the last commit interval, and what it processed
    while the group rebalanced, until a heartbeat told it (the broker refuses commits in that window). The exact
    check is :func:`redelivered_below_committed`."""
    in_flight = (settings.delivery_pipeline_depth + 1) * settings.batch_max
    return uncommitted + in_flight + (settings.commit_interval_s + settings.heartbeat_s) * RATE


def redelivered_below_committed(deployment, committed: dict[int, int]) -> int:
    """Ratings covered a second time although their offset was committed when the worker died (``committed``, read
    after the kill): at-least-once redelivers only what was not committed, so this must be 0."""
    positions = deployment.collector.input_positions
    return sum(
        1
        for event_id, lists in deployment.collector.coverage.items()
        if lists > 1 and positions[event_id][1] < committed[positions[event_id][0]]
    )


@dataclasses.dataclass(frozen=True)
class AtDeath:
    """The group's committed offsets when a worker died (read right after it), and what the lists had covered
    above them: what the redelivery checks of a crash or takeover case compare against."""

    committed: dict[int, int]
    uncommitted: int

    @classmethod
    def read(cls, deployment) -> AtDeath:
        committed = deployment.committed_offsets()
        return cls(committed, uncommitted_at(deployment, committed))

    def redelivery(self, deployment) -> dict:
        """The case's redelivery counts, for its report."""
        return {
            "duplicate_list_entries": duplicates(deployment),
            "redelivered_below_committed": redelivered_below_committed(deployment, self.committed),
        }

    def assert_redelivery_held(self, result: dict, settings) -> None:
        """Nothing committed came again, and the duplicates stayed within :func:`redelivery_bound`."""
        assert result["redelivered_below_committed"] == 0, result
        assert result["duplicate_list_entries"] <= redelivery_bound(settings, self.uncommitted), result


def replay_in_background(deployment, events) -> threading.Thread:
    thread = threading.Thread(
        target=deployment.produce, args=(ratings_of(events),), kwargs={"max_rate": RATE}, daemon=True
    )
    thread.start()
    return thread


def wait_until(deployment, covered: int, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while len(deployment.collector.arrivals) < covered and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(deployment.collector.arrivals) >= covered, "the worker made no progress before the fault"


def duplicates(deployment) -> int:
    """Lists that covered a rating a second time (a crash redelivers what was not committed)."""
    return sum(n - 1 for n in deployment.collector.coverage.values())


#: What a restarted worker's /health counts of the safety nets a healthy restart never needs (stream.offsets).
RESTART_COUNTERS = ("stalls_read_again", "offset_holes_read_again", "stale_messages_skipped")


def restart_and_check(deployment, events, producer, catalogue, state_lost: bool) -> tuple[dict, float]:
    """Start the stopped worker again (without its state folder if ``state_lost``), let the replay finish, wait until
    every rating is covered and run the uninterrupted-run check; returns its counts (with the restarted worker's
    :data:`RESTART_COUNTERS`) and the seconds from now until processing resumed."""
    stopped_at, covered = time.monotonic(), len(deployment.collector.arrivals)
    if state_lost:
        shutil.rmtree(deployment.settings.state_dir)
    deployment.start()
    resume = deployment.resume_time(stopped_at, covered)
    producer.join()
    deployment.wait_covered([e for *_, e in events])
    result = check_against_uninterrupted(deployment, events, catalogue=catalogue)
    health = deployment.health("w1")  # what the restarted worker read again and skipped to get there
    assert isinstance(health, dict), health
    result.update({key: health[key] for key in RESTART_COUNTERS})
    return result, resume


@rebalance
@pytest.mark.parametrize("keep_state", [True, False], ids=["same-state-folder", "state-folder-lost"])
def test_kill_9_mid_replay_and_restart(deployment_factory, movielens, keep_state):
    deployment = deployment_factory("k9", web_port=6301 + keep_state)
    events = slice_events(movielens, N)
    deployment.start()
    producer = replay_in_background(deployment, events)
    wait_until(deployment, N // 3)
    deployment.kill("w1")
    death = AtDeath.read(deployment)
    result, resume = restart_and_check(deployment, events, producer, movielens, state_lost=not keep_state)
    result.update(
        resume_after_kill_s=round(resume, 2), uncommitted_at_kill=death.uncommitted, **death.redelivery(deployment)
    )
    REPORT[f"kill_9_{'same_state' if keep_state else 'state_lost'}"] = result
    assert deployment.alive("w1")
    assert resume <= RESUME_TARGET_S, result
    death.assert_redelivery_held(result, deployment.settings)


@rebalance
def test_crash_between_a_segment_write_and_its_manifest_write(deployment_factory, movielens):
    """The worker kills itself (stream.crash_points) once a batch's first user's segment is delivered to the
    changelog and its manifest is not; it restarts with its state folder deleted, so the changelog is the truth."""
    deployment = deployment_factory("seg", web_port=6305)
    events = slice_events(movielens, N)
    deployment.start(env={"WNNREC_CRASH_AT": f"{crash_points.BETWEEN_SEGMENT_AND_MANIFEST}:{N // 3}"})
    producer = replay_in_background(deployment, events)
    try:
        died = deployment.workers["w1"].wait(120)
    except subprocess.TimeoutExpired:
        raise AssertionError("the worker did not reach its crash point within 120 s") from None
    covered = len(deployment.collector.arrivals)
    assert died == -signal.SIGKILL, f"the worker ended with {died}, not at its crash point"
    death = AtDeath.read(deployment)
    ahead = deployment.writes_ahead_of_their_manifest()
    assert ahead, "the crash left no segment ahead of its manifest in the changelog"
    result, resume = restart_and_check(deployment, events, producer, movielens, state_lost=True)
    result.update(
        resume_after_crash_s=round(resume, 2),
        segments_ahead_of_manifest_at_crash=len(ahead),
        covered_at_crash=covered,
        uncommitted_at_crash=death.uncommitted,
        **death.redelivery(deployment),
    )
    REPORT["crash_between_segment_and_manifest"] = result
    assert deployment.alive("w1")
    assert resume <= RESUME_TARGET_S, result
    death.assert_redelivery_held(result, deployment.settings)


@rebalance
def test_two_workers_one_killed_mid_stream(deployment_factory, movielens, tmp_path):
    deployment = deployment_factory("two", web_port=6303)
    events = slice_events(movielens, N)
    deployment.start("w1", web_port=6303, state_dir=tmp_path / "w1")
    deployment.start("w2", web_port=6304, state_dir=tmp_path / "w2")
    settled_at = time.monotonic()
    deployment.wait_balanced([6303, 6304])  # a kill in a settled group, not in the rebalance of w2's joining
    settled_s = time.monotonic() - settled_at
    producer = replay_in_background(deployment, events)
    wait_until(deployment, N // 3)
    killed_owned = deployment.item_stats(6304)["owned_partitions"]
    deployment.kill("w2")
    killed_at, covered = time.monotonic(), len(deployment.collector.arrivals)
    death = AtDeath.read(deployment)  # before the takeover (a session timeout away): as w2 left them
    takeover = deployment.resume_time(killed_at, covered)
    producer.join()
    deployment.wait_covered([e for *_, e in events])
    deadline = time.monotonic() + 30
    while len(deployment.item_stats(6303)["owned_partitions"]) < 4 and time.monotonic() < deadline:
        time.sleep(0.5)
    result = check_against_uninterrupted(deployment, events, web_port=6303, catalogue=movielens)
    result.update(
        takeover_s=round(takeover, 2),
        killed_owned=killed_owned,
        settled_s=round(settled_s, 2),
        duplicates_by_partition=dict(sorted(deployment.collector.repeats_by_partition.items())),
        uncommitted_at_kill=death.uncommitted,
        **death.redelivery(deployment),
    )
    REPORT["two_workers_one_killed"] = result
    assert deployment.alive("w1")
    assert takeover <= RESUME_TARGET_S, result
    death.assert_redelivery_held(result, deployment.settings)


def test_poison_messages_interleaved_with_good_ones(deployment_factory, movielens):
    deployment = deployment_factory("poison", web_port=6305)
    events = slice_events(movielens, 3000)
    good = ratings_of(events)
    rng = random.Random(7)
    big = b'{"user": "1", "item": "1", "rating": 4, "ts": 5, "pad": "' + b"x" * (1 << 20) + b'"}'
    poison = [
        (b"1", b"{not json"),
        (b"1", b'{"user": "1", "item": "1", "rating": NaN, "ts": 5}'),
        (b"1", b'{"user": "1", "item": "1", "rating": 1e999, "ts": 5}'),
        (b"1", b'{"user": "1", "item": "1", "rating": 4, "ts": -1e20}'),
        (b"1", b'{"user": "1", "item": "1", "rating": 9, "ts": 5}'),
        (b"1", b'{"user": "1", "item": "1", "rating": 4, "ts": 5, "event_id": 1e30}'),
        (b"1", b'{"user": "1", "item": ' + b"9" * 400 + b', "rating": 4, "ts": 5}'),
        (b"1", b'{"user": "1", "type": "teleport"}'),
        (b"1", forget_message("1", event_id=10**15)),  # a forget of a rating that does not exist
        (b"ghost-user", forget_message("ghost-user", item="50")),  # a forget for a user nobody has seen
        (None, rating_message("1", "1", 4.0, 5)),  # no key
        (b"2", rating_message("1", "1", 4.0, 5)),  # key differs from the user
        (b"1", big),
        (b"1", big + b"x" * (1 << 19)),  # 1 and 1.5 MB
    ]
    bad = [poison[k % len(poison)] for k in range(1100)]
    stream = good + bad
    rng.shuffle(stream)
    deployment.start()
    deployment.produce(stream, max_request_size=8 << 20)
    deployment.wait_covered([e for *_, e in events])
    deadline = time.monotonic() + 60
    dead = deployment.dead_letters()
    while len(dead) < len(bad) and time.monotonic() < deadline:
        time.sleep(1)
        dead = deployment.dead_letters()
    result = check_against_uninterrupted(deployment, events, catalogue=movielens)
    reasons = [d["reason"] for d in dead]
    result.update(
        poison_messages=len(bad),
        dead_letters=len(dead),
        without_reason=sum(not r for r in reasons),
        truncated=sum(bool(d.get("truncated")) for d in dead),
    )
    REPORT["poison_messages"] = result
    assert deployment.alive("w1")
    assert len(dead) == len(bad) and all(reasons), result
    assert not any(r.startswith("internal error") for r in reasons), [r for r in reasons if "internal" in r][:3]


def test_forget_then_replay_of_the_same_ratings(deployment_factory, movielens):
    deployment = deployment_factory("forget", web_port=6306)
    events = slice_events(movielens, 3000)
    deployment.start()
    deployment.produce(ratings_of(events))
    deployment.wait_covered([e for *_, e in events])
    rng = random.Random(11)
    victims = rng.sample(events, 25)
    forgotten = {e for *_, e in victims}
    erased = sorted({user for user, *_ in rng.sample(events, 3)})  # and three users erased, every rating of theirs
    forgotten |= {e for user, *_, e in events if user in erased}
    deployment.produce([(user.encode(), forget_message(user, event_id=e)) for user, _, _, _, e in victims])
    deployment.produce([(user.encode(), forget_user_message(user)) for user in erased])
    deployment.produce(ratings_of(events))  # the same ratings, again: none of the forgotten may come back
    deployment.produce([(b"__probe__", rating_message("__probe__", "1", 4.0, 1, event_id=-7))])
    deployment.wait_covered([-7])
    result = check_against_uninterrupted(
        deployment, events + [("__probe__", "1", 4.0, 1, -7)], forgotten, catalogue=movielens
    )
    stored = deployment.stored_users()
    space = StreamProcessor(catalogue=movielens).space
    left = [UserState.load(stored.get, user.encode(), space, 10**6) for user in erased]
    result["erased_users"] = len(erased)
    result["erased_users_holding_ratings"] = sum(state is None or state.wnn.n_pairs > 0 for state in left)
    REPORT["forget_then_replay"] = result
    assert result["erased_users_holding_ratings"] == 0 and all(state.erasure is not None for state in left)
    assert not deployment.dead_letters()


def test_broker_stop_and_start_mid_stream(deployment_factory, movielens):
    if not broker_is_ours():
        pytest.fail("this case stops and restarts the broker, so it needs the one deploy/kafka/start runs")
    deployment = deployment_factory("outage", web_port=6307)
    events = slice_events(movielens, N)
    deployment.start()
    half = N // 2
    deployment.produce(ratings_of(events[:half]), max_rate=RATE)
    wait_until(deployment, half // 2)
    subprocess.run([str(DEPLOY / "stop")], check=True, capture_output=True)
    time.sleep(10)
    subprocess.run([str(DEPLOY / "start")], check=True, capture_output=True)
    deployment.produce(ratings_of(events[half:]))
    deployment.wait_covered([e for *_, e in events], timeout=240)
    result = check_against_uninterrupted(deployment, events, catalogue=movielens)
    log = open(deployment.logs["w1"]).read()
    result.update(worker_log_lines=log.count("\n"), duplicate_list_entries=duplicates(deployment))
    REPORT["broker_outage"] = result
    assert deployment.alive("w1")
    assert result["worker_log_lines"] < 200, log[-3000:]  # a state change per line, not a line per retry
