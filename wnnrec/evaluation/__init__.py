"""Evaluation protocols: prequential replay (of ratings, or of implicit events) and the paper's per-user split.

Data, algorithms and evaluation stay apart (as in LensKit): any :class:`wnnrec.baselines.Recommender` drops in.
"""

from wnnrec.evaluation.implicit import run_implicit
from wnnrec.evaluation.metrics import PRIOR_BUCKETS, prior_bucket, rating_metrics
from wnnrec.evaluation.models import IMPLICIT_MODELS, PREQUENTIAL_MODELS, SPLIT_MODELS, WNNModel, make_model
from wnnrec.evaluation.per_user_split import run_per_user_split
from wnnrec.evaluation.prequential import run_prequential

__all__ = [
    "IMPLICIT_MODELS",
    "PREQUENTIAL_MODELS",
    "PRIOR_BUCKETS",
    "SPLIT_MODELS",
    "WNNModel",
    "make_model",
    "prior_bucket",
    "rating_metrics",
    "run_implicit",
    "run_per_user_split",
    "run_prequential",
]
