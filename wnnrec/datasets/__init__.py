"""MovieLens loading: a folder of MovieLens files as a :class:`Dataset` of flat, time-ordered numpy arrays of
``(user, item, rating, timestamp)`` with dense integer indices, plus the item metadata (title, year, genres) that the
recommender and the reports need.

* :mod:`~wnnrec.datasets.fetch`: MovieLens-100K downloaded from the ``recbole==1.2.1`` wheel on PyPI.
* :mod:`~wnnrec.datasets.movielens`: the three folder layouts read, detected automatically
  (:mod:`~wnnrec.datasets.parsing`: their lines parsed and checked).
* :mod:`~wnnrec.datasets.dataset`: the :class:`Dataset`, and :class:`DataError` for a folder that cannot be one.
"""

from wnnrec.datasets.dataset import DataError, Dataset
from wnnrec.datasets.fetch import default_data_dir, fetch_movielens_100k
from wnnrec.datasets.movielens import load_dataset
from wnnrec.datasets.parsing import movielens_scale

__all__ = ["DataError", "Dataset", "default_data_dir", "fetch_movielens_100k", "load_dataset", "movielens_scale"]
