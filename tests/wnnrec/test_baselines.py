import numpy as np
import pytest

from wnnrec.baselines import BatchSVD, Constant, GlobalSequence, NightlySVD, Popularity, RiverBiasedMF, UserMean
from wnnrec.baselines.mlp import PerUserMLP


def test_biasedmf_ranking_mirror_matches_river():
    model = RiverBiasedMF(n_items=6)
    rng = np.random.default_rng(0)
    for e in range(300):
        model.learn_one(f"u{e % 7}", int(rng.integers(0, 6)), float(rng.integers(1, 6)), e, e)
    scores = model.rank_scores("u3", 0)
    river = [model.predict_one("u3", i) for i in range(6)]
    assert scores == pytest.approx(river)


def test_popularity_and_user_mean():
    pop, mean = Popularity(3), UserMean(3)
    for e, (u, i, r) in enumerate([("a", 0, 5.0), ("b", 0, 3.0), ("a", 2, 1.0)]):
        pop.learn_one(u, i, r, e, e)
        mean.learn_one(u, i, r, e, e)
    assert pop.rank_scores("c", 0).argmax() == 0
    assert pop.predict_one("c", 0) == 4.0
    assert pop.predict_one("c", 1) == pytest.approx(3.0)  # unseen item: global mean
    assert mean.predict_one("a", 1) == 3.0 and mean.predict_one("new", 1) == 3.0
    assert Constant(4.0).predict_one("x", 0) == 4.0


def test_global_sequence_ranks_what_followed_the_users_last_item_in_everyones_streams():
    seq = GlobalSequence(n_items=5)
    # Item 1 followed item 0 in two users' streams, item 2 in one; item 3 is the most popular, and never followed 0.
    for e, (user, item) in enumerate([("a", 0), ("a", 1), ("b", 0), ("b", 1), ("c", 0), ("c", 2)] + [("d", 3)] * 4):
        seq.learn_one(user, item, 5.0, e, e)
    seq.learn_one("z", 3, 5.0, 10, 10)
    seq.learn_one("z", 0, 5.0, 11, 11)  # z's last item is 0: what followed 0, then by popularity
    scores = seq.rank_scores("z", 12)
    assert np.argsort(-scores, kind="stable").tolist() == [1, 2, 3, 0, 4]
    assert seq.following[3] == {3: 3, 0: 1}  # each user's own stream: d's repeats, then z's 3 -> 0
    assert np.argsort(-seq.rank_scores("new", 12), kind="stable").tolist()[:2] == [3, 0]
    assert seq.predict_one("z", 1) == 5.0 and seq.predict_one("z", 4) == 5.0
    scores[:] = 0  # the scores are the caller's to change
    assert seq.rank_scores("z", 12)[1] > 2


def test_nightly_svd_retrains_at_day_boundaries():
    model = NightlySVD(n_items=4)
    day = 86400
    for e in range(40):
        model.learn_one(f"u{e % 5}", e % 4, float(1 + e % 5), ts=(e // 20) * day + e, event_id=e)
    assert model.n_refits == 1
    assert 1.0 <= model.predict_one("u1", 2) <= 5.0
    assert model.rank_scores("u1", 0).shape == (4,)


def test_batch_svd_before_fit_predicts_the_mean():
    model = BatchSVD(n_items=2)
    model.learn_one("u", 0, 4.0, 0, 0)
    assert model.predict_one("u", 1) == 4.0


def test_per_user_mlp_learns_a_simple_rule():
    bits = np.array([[1, 0], [0, 1], [1, 0], [0, 1], [1, 1]], dtype=float)
    residual = np.array([1.0, -1.0, 1.0, -1.0, 0.0])
    predicted = PerUserMLP().fit_predict(bits, residual, np.array([[1, 0], [0, 1]], dtype=float))
    assert predicted[0] > 0.5 > -0.5 > predicted[1]
