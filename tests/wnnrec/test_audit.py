import pytest

from tests.conftest import synthetic_dataset
from wnnrec.audit import audit_unlearning


@pytest.mark.parametrize("forget", ["rating", "user"])
@pytest.mark.parametrize("protocol", ["prefix", "full-stream"])
def test_the_audit_finds_every_forget_exact_across_the_whole_system(protocol, forget):
    dataset = synthetic_dataset(n_users=12, n_items=20, n_ratings=600)
    doc = audit_unlearning(
        dataset,
        trials=4,
        protocol=protocol,
        prefix=400,
        checkpoint_every=150,
        replays_timed=1,
        progress=False,
        forget=forget,
    )
    assert doc["protocol"] == protocol and doc["forget"] == forget and doc["trials"] == 4
    for key in (
        "identical_bytes_share",
        "identical_derived_state_share",
        "identical_top10_share",
        "identical_predictions_share",
    ):
        assert doc[key] == 1.0, key
    assert doc["max_abs_diff"] == 0.0 and doc["p99_abs_diff"] == 0.0
    assert doc["forget_p99_ms"] > 0
    if protocol == "full-stream":
        assert doc["replay_without_ms"] > 0 and doc["replays_timed"] == 1


@pytest.mark.parametrize("forget", ["rating", "user"])
def test_the_audit_sees_a_difference_when_there_is_one(monkeypatch, forget):
    """A forget that leaves the item statistics alone (the old, per-user-only forget) is caught."""
    import wnn.recommender as recommender

    def user_only(space, user, model, event_ids):
        model.forget_many(list(event_ids))

    monkeypatch.setattr(recommender, "forget_events", user_only)
    doc = audit_unlearning(
        synthetic_dataset(n_users=12, n_items=20, n_ratings=600), trials=3, prefix=400, progress=False, forget=forget
    )
    assert doc["identical_bytes_share"] == 1.0  # the users' pairs are right...
    assert doc["identical_derived_state_share"] == 0.0 and doc["max_abs_diff"] > 0  # ...the rest is not


def test_an_unknown_protocol_is_refused():
    with pytest.raises(ValueError, match="unknown protocol"):
        audit_unlearning(synthetic_dataset(), trials=1, protocol="sideways")
