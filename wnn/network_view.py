"""What the ranking and the explanations read of a user's network: :class:`NetworkView`, which
:class:`wnn.network.UserWNN` is, so that they need not import the network module that calls them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    from wnn.derivation import Derivation
    from wnn.item_space import ItemSpace
    from wnn.memory import CountingMemory
    from wnn.pairs import PairLog
    from wnn.prediction import Prediction


class NetworkView(Protocol):
    """A user's network as :mod:`wnn.ranking` and :mod:`wnn.explanation` read it."""

    @property
    def space(self) -> ItemSpace: ...

    @property
    def n_pairs(self) -> int: ...

    @property
    def pair_log(self) -> PairLog: ...

    @property
    def derived_state(self) -> Derivation: ...

    @property
    def memory(self) -> CountingMemory: ...

    @property
    def state(self) -> int: ...

    @property
    def window_start(self) -> int: ...

    def list_time(self, ts: float | None) -> float: ...

    def pooled_predictions(
        self, items: np.ndarray | None
    ) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray], float]: ...

    def predict_index(self, idx: int) -> Prediction: ...

    def q_before(self) -> np.ndarray: ...

    def residuals(self) -> np.ndarray: ...
