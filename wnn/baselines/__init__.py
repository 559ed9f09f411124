"""Peers the WNN is measured against, all behind the same small streaming protocol (:class:`Recommender`).

Items are dense indices ``0..n_items-1`` (as :class:`wnn.data.Dataset` numbers them), so every model can return a
ranking score for all items at once.
"""

from wnn.baselines.base import Recommender
from wnn.baselines.biased_mf import RiverBiasedMF
from wnn.baselines.constant import Constant
from wnn.baselines.mlp import PerUserMLP
from wnn.baselines.popularity import Popularity
from wnn.baselines.svd import BatchSVD, NightlySVD, fit_svd
from wnn.baselines.user_mean import UserMean

__all__ = [
    "BatchSVD",
    "Constant",
    "NightlySVD",
    "PerUserMLP",
    "Popularity",
    "Recommender",
    "RiverBiasedMF",
    "UserMean",
    "fit_svd",
]
