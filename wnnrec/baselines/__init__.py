"""Peers the WNN is measured against, all behind the same small streaming protocol (:class:`Recommender`).

Items are dense indices ``0..n_items-1`` (as :class:`wnnrec.datasets.Dataset` numbers them), so every model can return a
ranking score for all items at once.
"""

from wnnrec.baselines.base import Recommender
from wnnrec.baselines.biased_mf import RiverBiasedMF
from wnnrec.baselines.constant import Constant
from wnnrec.baselines.mlp import PerUserMLP
from wnnrec.baselines.popularity import Popularity
from wnnrec.baselines.sequence import GlobalSequence
from wnnrec.baselines.svd import BatchSVD, NightlySVD, fit_svd
from wnnrec.baselines.user_mean import UserMean

__all__ = [
    "BatchSVD",
    "Constant",
    "GlobalSequence",
    "NightlySVD",
    "PerUserMLP",
    "Popularity",
    "Recommender",
    "RiverBiasedMF",
    "UserMean",
    "fit_svd",
]
